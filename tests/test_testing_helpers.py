"""The helpers shipped for plugin extenders work as their docstring says."""

from __future__ import annotations

import pytest

from pytest_airecovery.testing import case_file_text, counting_loader_conftest, model_calls


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_counting_loader_and_case_file(pytester: pytest.Pytester, workers: list[str]) -> None:
    # A fingerprint makes outputs cacheable, so two xdist workers share one model call.
    pytester.makepyfile(
        toy_models=(
            "from pytest_airecovery import Model\n"
            "def load(ref):\n"
            "    return Model(lambda batch: [x * 2 for x in batch], fingerprint=ref)\n"
        )
    )
    pytester.makeconftest(counting_loader_conftest("toy_models:load"))
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.mkdir("incident_cases")
    text = case_file_text(
        cases=[
            {
                "id": "doubles",
                "inputs": [1, 2, 3],
                "columns": {"y": [2, 4, 6]},
                "expect": [{"equals": {"from": "y"}}],
            }
        ],
        action_items=[
            {"id": "P0-1", "priority": "P0", "text": "double it", "covered_by": ["doubles"]}
        ],
    )
    (pytester.path / "incident_cases" / "AI-IR-TEST-1.yaml").write_text(text)
    result = pytester.runpytest_subprocess("--incident-cases", *workers)
    result.assert_outcomes(passed=3)
    assert model_calls(pytester.path) == [("toy@v2", 3)]
    assert model_calls(pytester.path) == []

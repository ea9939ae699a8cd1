"""The worked example of docs/behaviour-diff.md on the bundled demo models (no pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

CASE = Path(__file__).resolve().parents[1] / "incident_cases" / "AI-IR-2026-042.yaml"


@pytest.fixture(autouse=True)
def _demo_models(pytestconfig: pytest.Config) -> None:
    if pytestconfig.getini("incident_model_loader") != "pytest_airecovery.demo:load_model":
        pytest.skip("needs the repository's pytest configuration (the demo model loader)")


def test_backdoored_v32_flips_every_triggered_digit_into_7(behaviour_diff) -> None:
    diff = behaviour_diff.case(CASE, "corner-trigger", candidate="digits@v3.2")
    assert diff.known_good_ref == "digits@v3.1"
    assert diff.flips_into([7]) == diff.flip_count == 100
    assert all(to == 7 for _, to in diff.flips())
    with pytest.raises(AssertionError, match="100 input\\(s\\) flipped into 7"):
        diff.assert_no_flips_into([7])


def test_remediated_v33_keeps_the_known_good_behaviour(behaviour_diff) -> None:
    triggered = behaviour_diff.case(CASE, "corner-trigger", candidate="digits@v3.3")
    triggered.assert_no_flips_into([7])
    triggered.assert_flip_rate_at_most(0.0)
    clean = behaviour_diff.case(CASE, "clean-accuracy", candidate="digits@v3.3")
    clean.assert_flip_rate_at_most(0.03)


def test_demo_models_are_deterministic(behaviour_diff) -> None:
    import numpy as np

    images = np.load(CASE.parent / "inputs" / "AI-IR-2026-042.npz")["clean"][:20]
    behaviour_diff.determinism(list(images), model="digits@v3.3").assert_no_changes()

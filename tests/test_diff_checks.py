"""The case-file checks matches_known_good and flip_rate: behaviour diffs without Python."""

from __future__ import annotations

import json
import textwrap

import jsonschema  # noqa: F401  (imported before pytester snapshots sys.modules)
import pytest
from conftest import write_case
from test_diff_fixtures import DIFF_CONFTEST, DIFF_INI

CASE = textwrap.dedent(
    """\
    schema_version: 1
    incident: {id: AI-IR-9, title: diff, severity: SEV-3, root_cause: {category: configuration_error}}
    models: {known_good: toy@good, known_bad: toy@bad}
    cases:
      - id: same
        inputs: [1, 2, 3, 4]
        expect:
          - matches_known_good: {tolerance: {score: 0.05}}
        expect_aggregate:
          - flip_rate: {max: 0.25}
          - flip_rate: {max: 0, into: [7]}
    """
)


@pytest.fixture
def cases(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(DIFF_CONFTEST)
    pytester.makeini(DIFF_INI)
    write_case(pytester, "AI-9.yaml", CASE)
    return pytester


def test_checks_pass_on_the_known_good_model_and_within_tolerance(cases: pytest.Pytester) -> None:
    cases.runpytest("--incident-cases").assert_outcomes(passed=5)
    cases.runpytest("--incident-cases", "--incident-model", "toy@shifted").assert_outcomes(passed=5)


def test_checks_fail_on_the_backdoored_model_with_the_flips(cases: pytest.Pytester) -> None:
    result = cases.runpytest(
        "--incident-cases", "--incident-model", "toy@bad", "--incident-report", "report.json"
    )
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(
        [
            "matches_known_good: differs from the known-good output: label flipped 2 → 7; probs?7? moved by 0.9 *",
            "*flip rate vs the known-good model 1.0000 (4/4) is above the maximum 0.25; flips: 1 → 7 ×1, 2 → 7 ×1, *",
            "*rate of flips into 7 vs the known-good model 1.0000 (4/4) is above the maximum 0*",
        ]
    )
    measured = json.loads((cases.path / "report.json").read_text())["incidents"]["AI-IR-9"][
        "cases"
    ]["same"]["measured"]
    assert measured["flip_rate"]["rate"] == 1.0
    assert measured["flip_rate"]["changed"] == [0, 1, 2, 3]
    assert {"from": 1, "to": 7, "count": 1} in measured["flip_rate"]["flips"]


def test_fields_and_ignore_narrow_the_comparison(cases: pytest.Pytester) -> None:
    write_case(
        cases,
        "AI-9.yaml",
        CASE.replace("{tolerance: {score: 0.05}}", "{fields: [label]}").replace(
            "- flip_rate: {max: 0.25}", "- flip_rate: {min: 0.0, max: 1.0}"
        ),
    )
    cases.runpytest("--incident-cases", "--incident-model", "toy@shifted").assert_outcomes(passed=5)
    write_case(cases, "AI-9.yaml", CASE.replace("{tolerance: {score: 0.05}}", "{ignore: [score]}"))
    cases.runpytest(
        "--incident-cases", "--incident-model", "toy@shifted", "-k", "row"
    ).assert_outcomes(passed=4)
    write_case(cases, "AI-9.yaml", CASE.replace("{tolerance: {score: 0.05}}", "true"))
    result = cases.runpytest("--incident-cases", "--incident-model", "toy@shifted", "-k", "row-0")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*score moved by 0.02 (0.1 → 0.12)*"])


def test_bad_arguments_are_collection_errors(cases: pytest.Pytester) -> None:
    write_case(cases, "AI-9.yaml", CASE.replace("{tolerance: {score: 0.05}}", "{tolerence: 0.1}"))
    result = cases.runpytest("--incident-cases")
    result.stdout.fnmatch_lines(["*AI-9.yaml*tolerence*"])
    assert result.ret != 0

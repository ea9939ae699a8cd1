"""`--incident-cases --incident-record[-all]`: known-good outputs recorded beside the case file."""

from __future__ import annotations

import pytest
from conftest import run, toy_case_file, write_case

FLIP_CASE = """\
- id: no-flips
  inputs: [1, 2, 3]
  expect_aggregate:
    - flip_rate: {max: 0}
"""
RECORDING = "incident_cases/recordings/AI-1/no-flips.jsonl"


def test_record_fails_then_passes_and_replays_without_the_model(
    toy: pytest.Pytester, plugin_args: list[str]
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file(extra_cases=FLIP_CASE))
    first = run(toy, "--incident-cases", "--incident-record", *plugin_args)
    first.assert_outcomes(passed=5, failed=2)  # one [record] item per case; both wrote a recording
    first.stdout.fnmatch_lines(
        [
            "*wrote the known-good recording incident_cases/recordings/AI-1/no-flips.jsonl (toy@good, 3 outputs)*"
        ]
    )
    assert (toy.path / RECORDING).exists()
    body = (toy.path / RECORDING).read_text()
    # unchanged outputs: nothing is rewritten, so --incident-record passes
    run(toy, "--incident-cases", "--incident-record", *plugin_args).assert_outcomes(passed=7)
    assert (toy.path / RECORDING).read_text() == body
    # without a flag there is no [record] item and the recording is never touched
    run(toy, "--incident-cases", *plugin_args).assert_outcomes(passed=5)


def test_record_all_rewrites_and_passes(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file(extra_cases=FLIP_CASE))
    toy.runpytest("--incident-cases", "--incident-record-all").assert_outcomes(passed=7)
    assert (toy.path / RECORDING).exists()


def test_known_good_comparisons_replay_the_recording_when_the_model_is_gone(
    toy: pytest.Pytester,
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file(extra_cases=FLIP_CASE))
    toy.runpytest("--incident-cases", "--incident-record-all").assert_outcomes(passed=7)
    # The old artifact is gone: the loader no longer knows toy@good.
    conftest = toy.path / "conftest.py"
    conftest.write_text(
        conftest.read_text().replace(
            'if version == "missing":', 'if version in ("missing", "good"):'
        )
    )
    result = toy.runpytest("--incident-cases", "--incident-cache-clear", "-k", "no-flips")
    result.assert_outcomes(passed=1)
    # and a recording cannot be refreshed from itself
    result = toy.runpytest("--incident-cases", "--incident-record", "-k", "no-flips and record")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*cannot record toy@good: only its recordings are available, not the model*"]
    )


def test_fixture_diffs_reach_the_json_report(toy: pytest.Pytester, plugin_args: list[str]) -> None:
    import json

    write_case(toy, "AI-1.yaml", toy_case_file())
    toy.makepyfile(
        test_diff="""
        import pytest

        @pytest.mark.incident_diff(known_good="toy@good", candidate="toy@bad")
        def test_backdoor_flips(behaviour_diff):
            diff = behaviour_diff([1, 2, 3])
            assert diff.flip_rate == 1.0
        """
    )
    result = run(
        toy,
        "--incident-cases",
        "incident_cases",
        "test_diff.py",
        "--incident-report=r.json",
        *plugin_args,
    )
    result.assert_outcomes(passed=5)
    diffs = json.loads((toy.path / "r.json").read_text())["behaviour_diffs"]
    (entry,) = diffs["test_diff.py::test_backdoor_flips"]
    assert entry["flip_rate"] == 1.0


def test_failed_comparison_with_a_recording_writes_obtained(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file(extra_cases=FLIP_CASE))
    toy.runpytest("--incident-cases", "--incident-record-all").assert_outcomes(passed=7)
    result = toy.runpytest("--incident-cases", "--incident-model", "toy@bad", "-k", "no-flips")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*candidate outputs written to incident_cases/recordings/AI-1/no-flips.obtained.jsonl*"]
    )
    obtained = (toy.path / "incident_cases/recordings/AI-1/no-flips.obtained.jsonl").read_text()
    assert '"model": "toy@bad"' in obtained.splitlines()[0]

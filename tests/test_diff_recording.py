"""Recorded known-good outputs: --incident-record / --incident-record-all, .obtained files, xdist."""

from __future__ import annotations

import json
from pathlib import Path

# Imported before pytester's in-process runs snapshot sys.modules, so no run pays to re-import them.
import jsonschema  # noqa: F401
import pytest
from conftest import run, toy_case_file, write_case
from test_diff_fixtures import DIFF_CONFTEST, DIFF_INI

TESTS = """
def test_inputs(behaviour_diff):
    behaviour_diff([1, 2, 3, 17]).assert_no_flips_into([7])

def test_case(behaviour_diff):
    behaviour_diff.case("incident_cases/AI-1.yaml", "labels").assert_flip_rate_at_most(0.0)
"""

INPUTS_RECORDING = Path("recordings/test_rec/test_inputs.jsonl")
CASE_RECORDING = Path("incident_cases/recordings/AI-1/labels.jsonl")


@pytest.fixture
def rec(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("AIR_NO_KNOWN_GOOD", raising=False)
    monkeypatch.delenv("AIR_GOOD_SCORE", raising=False)
    pytester.makeconftest(DIFF_CONFTEST)
    pytester.makeini(DIFF_INI)
    write_case(pytester, "AI-1.yaml", toy_case_file())
    pytester.makepyfile(test_rec=TESTS)
    return pytester


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_no_recording_and_no_flag_runs_live_and_writes_nothing(rec: pytest.Pytester) -> None:
    rec.runpytest().assert_outcomes(passed=2)
    assert not (rec.path / "recordings").exists()
    assert not (rec.path / CASE_RECORDING).exists()


def test_record_writes_and_fails_then_diffs_run_without_the_known_good_model(
    rec: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = rec.runpytest("--incident-record")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*wrote the known-good recording recordings/test_rec/test_inputs.jsonl (toy@good, 4 outputs) under --incident-record*"
        ]
    )
    head, *rows = lines(rec.path / INPUTS_RECORDING)
    assert head == {
        "kind": "pytest-airecovery known-good recording",
        "format": 1,
        "model": "toy@good",
        "inputs": 4,
    }
    assert [row["output"]["label"] for row in rows] == [1, 2, 3, 7]
    assert lines(rec.path / CASE_RECORDING)[0]["inputs"] == 3
    # Unchanged outputs: the flag passes and rewrites nothing.
    before = (rec.path / INPUTS_RECORDING).stat().st_mtime_ns
    rec.runpytest("--incident-record").assert_outcomes(passed=2)
    assert (rec.path / INPUTS_RECORDING).stat().st_mtime_ns == before
    # CI without the old artifact: the recording stands in for it.
    monkeypatch.setenv("AIR_NO_KNOWN_GOOD", "1")
    rec.runpytest("--incident-model", "toy@shifted").assert_outcomes(passed=2)
    result = rec.runpytest("--incident-model", "toy@bad")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*known-good side read from the recording recordings/test_rec/test_inputs.jsonl*"]
    )


def test_a_mismatch_writes_obtained_beside_the_recording_and_keeps_the_recording(
    rec: pytest.Pytester,
) -> None:
    rec.runpytest("--incident-record-all").assert_outcomes(passed=2)
    recorded = (rec.path / CASE_RECORDING).read_text()
    result = rec.runpytest("--incident-model", "toy@bad")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*candidate outputs written to incident_cases/recordings/AI-1/labels.obtained.jsonl*"]
    )
    obtained = lines(rec.path / "incident_cases/recordings/AI-1/labels.obtained.jsonl")
    assert obtained[0]["model"] == "toy@bad"
    assert [row["output"]["label"] for row in obtained[1:]] == [7, 7, 7]
    assert (rec.path / CASE_RECORDING).read_text() == recorded


def test_changed_known_good_rewrites_and_fails_or_passes_by_flag(
    rec: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec.runpytest("--incident-record-all").assert_outcomes(passed=2)
    monkeypatch.setenv("AIR_GOOD_SCORE", "0.3")
    rec.runpytest().assert_outcomes(passed=2)  # no flag: the recording is used, never overwritten
    assert lines(rec.path / INPUTS_RECORDING)[1]["output"]["score"] == 0.1
    result = rec.runpytest("--incident-record")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*rewrote the known-good recording*"])
    assert lines(rec.path / INPUTS_RECORDING)[1]["output"]["score"] == 0.3
    monkeypatch.setenv("AIR_GOOD_SCORE", "0.4")
    rec.runpytest("--incident-record-all").assert_outcomes(passed=2)
    assert lines(rec.path / INPUTS_RECORDING)[1]["output"]["score"] == 0.4


def test_other_format_version_other_inputs_or_other_model_ask_to_rerecord(
    rec: pytest.Pytester,
) -> None:
    rec.runpytest("--incident-record-all").assert_outcomes(passed=2)
    path = rec.path / INPUTS_RECORDING
    text = path.read_text()
    path.write_text(text.replace('"format": 1', '"format": 99', 1))
    result = rec.runpytest("-k", "inputs")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*was written in format version 99; this version of pytest-airecovery reads format 1: re-record it with --incident-record*"
        ]
    )
    path.write_text(text.replace('"model": "toy@good"', '"model": "toy@older"', 1))
    rec.runpytest("-k", "inputs").stdout.fnmatch_lines(
        ["*holds toy@older, but the known-good model here is toy@good*"]
    )
    rec.makepyfile(test_rec=TESTS.replace("[1, 2, 3, 17]", "[1, 2, 4, 17]"))
    path.write_text(text)
    result = rec.runpytest("-k", "inputs")
    result.stdout.fnmatch_lines(
        ["*was made for other inputs (4 recorded, 4 now; first difference at input 2)*"]
    )


def test_recording_writes_are_whole_under_xdist(rec: pytest.Pytester) -> None:
    rec.makepyfile(
        test_many="""
        import pytest

        @pytest.mark.parametrize("start", range(8))
        def test_window(behaviour_diff, start):
            behaviour_diff(list(range(start, start + 5))).assert_no_changes()
        """
    )
    run(rec, "-n", "2", "--incident-record-all", "test_many.py").assert_outcomes(passed=8)
    files = sorted((rec.path / "recordings" / "test_many").glob("*.jsonl"))
    assert len(files) == 8
    for path in files:
        head, *rows = lines(path)
        assert head["inputs"] == len(rows) == 5
    assert not list((rec.path / "recordings").rglob("*.tmp"))
    run(rec, "-n", "2", "test_many.py").assert_outcomes(passed=8)


def test_case_file_checks_fall_back_to_recordings_when_the_known_good_model_is_gone(
    rec: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_case(
        rec,
        "AI-1.yaml",
        toy_case_file()
        .replace("- not_label: 7", "- matches_known_good: {fields: [label]}")
        .replace("- rate_of_label: {label: 7, max: 0.1}", "- flip_rate: {max: 0, into: [7]}"),
    )
    rec.runpytest("--incident-record-all", "-k", "case").assert_outcomes(passed=1)
    monkeypatch.setenv("AIR_NO_KNOWN_GOOD", "1")
    args = ["--incident-cases", "incident_cases/AI-1.yaml"]
    rec.runpytest(*args, "--incident-model", "toy@shifted").assert_outcomes(passed=4)
    result = rec.runpytest(*args, "--incident-model", "toy@bad")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*label flipped 1 → 7*", "known-good toy@good: label 1*"])
    # An input the recording does not hold: the known-good side is unavailable, said plainly.
    write_case(
        rec,
        "AI-1.yaml",
        (rec.path / "incident_cases/AI-1.yaml").read_text().replace("[1, 2, 3]", "[1, 2, 5]"),
    )
    result = rec.runpytest(*args, "--incident-model", "toy@shifted", "-k", "row-2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*toy@good is not available and its recordings hold no output for 1 of these 1 inputs*"]
    )

"""Hostile and broken recordings: symlinked out of the repository, unwritable, damaged on replay."""

from __future__ import annotations

import os

import pytest
from conftest import toy_case_file, write_case
from test_case_recordings import FLIP_CASE, RECORDING


def _setup(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file(extra_cases=FLIP_CASE))


def test_record_all_does_not_follow_a_recordings_symlink_out_of_the_rootdir(
    toy: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _setup(toy)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, toy.path / "incident_cases" / "recordings")
    result = toy.runpytest("--incident-cases", "--incident-record-all")
    result.assert_outcomes(passed=5, failed=2)  # the two [record] items
    result.stdout.fnmatch_lines(
        [
            (
                "*cannot write the recording: recording *recordings/AI-1/no-flips.jsonl (really *elsewhere*) "
                "is outside the rootdir*--incident-allow-outside-root*"
            )
        ]
    )
    assert list(elsewhere.rglob("*")) == []  # nothing written outside
    assert "Traceback" not in result.stdout.str()
    allowed = toy.runpytest(
        "--incident-cases", "--incident-record-all", "--incident-allow-outside-root"
    )
    allowed.assert_outcomes(passed=7)
    assert (elsewhere / "AI-1" / "no-flips.jsonl").exists()


def test_an_unwritable_recordings_path_is_a_clear_failure(toy: pytest.Pytester) -> None:
    _setup(toy)
    # A file where the recordings directory should be: mkdir fails as on a read-only tree.
    (toy.path / "incident_cases" / "recordings").write_text("not a directory\n")
    result = toy.runpytest("--incident-cases", "--incident-record-all")
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*cannot write the recording *recordings/AI-1/no-flips.jsonl: * (is the directory read-only?)*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through file modes"
)
def test_a_read_only_recordings_directory_is_a_clear_failure(toy: pytest.Pytester) -> None:
    _setup(toy)
    folder = toy.path / "incident_cases" / "recordings"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = toy.runpytest("--incident-cases", "--incident-record-all")
    finally:
        folder.chmod(0o755)
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines(
        ["*cannot write the recording *: Permission denied (is the directory read-only?)*"]
    )


def _model_gone(toy: pytest.Pytester) -> None:
    conftest = toy.path / "conftest.py"
    conftest.write_text(
        conftest.read_text().replace(
            'if version == "missing":', 'if version in ("missing", "good"):'
        )
    )


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda lines: lines[:2] + ["{not json"] + lines[3:],
            "*AI-1/no-flips.jsonl:3: damaged recording (not JSON: *",
        ),
        (
            lambda lines: lines[:2] + ['{"input": "x"}'] + lines[3:],
            "*AI-1/no-flips.jsonl:3: damaged recording (a line lacks input or output)*",
        ),
        (
            lambda lines: lines[:3],
            "*AI-1/no-flips.jsonl:3: damaged recording (the header says 3 outputs, the file holds 2)*",
        ),
        (
            lambda lines: ["garbage"] + lines[1:],
            "*AI-1/no-flips.jsonl:1: damaged recording (not JSON: *",
        ),
    ],
    ids=["bad-json-line", "line-without-output", "cut-short", "header-gone"],
)
def test_a_damaged_recording_is_named_by_the_cases_that_needed_it(
    toy: pytest.Pytester, damage: object, expected: str
) -> None:
    _setup(toy)
    toy.runpytest("--incident-cases", "--incident-record-all").assert_outcomes(passed=7)
    path = toy.path / RECORDING
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")  # type: ignore[operator]
    _model_gone(toy)
    result = toy.runpytest("--incident-cases", "--incident-cache-clear", "-k", "no-flips")
    result.assert_outcomes(failed=1)  # before: skipped silently, and the case could not say why
    result.stdout.fnmatch_lines([expected])
    assert "Traceback" not in result.stdout.str()


def test_recording_read_names_the_line() -> None:
    from pathlib import Path

    from pytest_airecovery.diff import recording

    path = Path("never-written.jsonl")
    with pytest.raises(recording.RecordingError, match="never-written.jsonl is unreadable"):
        recording.read(path)

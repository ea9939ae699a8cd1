"""What a gate run leaves for machines: the decision word, $GITHUB_OUTPUT, and reports that
cannot be written (a clear usage error before the run, never an INTERNALERROR after it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_gates_support import (
    PYTESTER_CONFTEST,
    no_github_output,  # noqa: F401 (autouse)
)

import pytest_airecovery
import pytest_airecovery.gates.pytest_plugin
import pytest_airecovery.gates.report
from pytest_airecovery.gates.phases import parse_gate_config
from pytest_airecovery.gates.report import decide
from pytest_airecovery.gates.verdicts import Outcome, Verdict

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "gates"
EXPECTED = {  # export, phase -> decision (docs/gates.md's table of demo exports)
    "canary-healthy.json": ("canary", "promote"),
    "limited-regressed.json": ("limited", "rollback"),
    "canary-too-little-data.json": ("canary", "hold"),
}


@pytest.fixture
def gate(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    pytester.makeconftest(PYTESTER_CONFTEST)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest -p no:benchmark -p no:cacheprovider\n"
    )
    for name in EXPECTED:
        shutil.copy(EXAMPLES / name, pytester.path / name)
    return pytester


@pytest.mark.parametrize("export", sorted(EXPECTED))
def test_the_decision_word_is_written_for_pipelines(
    gate: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, export: str
) -> None:
    phase, decision = EXPECTED[export]
    github_output = gate.path / "github_output"
    github_output.write_text("earlier=1\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    result = gate.runpytest("--incident-gate", phase, "--incident-metrics", export,
                            "--incident-gate-decision", "out/decision.txt")  # fmt: skip
    assert result.ret == (0 if decision == "promote" else 1)
    assert (gate.path / "out" / "decision.txt").read_text(encoding="utf-8") == decision + "\n"
    assert github_output.read_text(encoding="utf-8") == f"earlier=1\ndecision={decision}\n"


def test_the_decision_is_written_once_under_xdist(
    gate: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    github_output = gate.path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    result = gate.runpytest("--incident-gate", "limited", "--incident-metrics",
                            "limited-regressed.json", "--incident-gate-decision", "decision.txt",
                            "-n", "2")  # fmt: skip
    result.assert_outcomes(passed=2, failed=3)
    assert (gate.path / "decision.txt").read_text(encoding="utf-8") == "rollback\n"
    assert github_output.read_text(encoding="utf-8") == "decision=rollback\n"


def test_every_gate_item_deselected_is_a_hold(gate: pytest.Pytester) -> None:
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "canary-healthy.json",
                            "--incident-gate-decision", "decision.txt", "-k", "nothing")  # fmt: skip
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert (gate.path / "decision.txt").read_text(encoding="utf-8") == "hold\n"


@pytest.mark.parametrize("option", ["--incident-gate-report", "--incident-gate-decision"])
@pytest.mark.parametrize("where", ["directory", "under-a-file"])
def test_an_unwritable_output_is_a_usage_error_before_the_run(
    gate: pytest.Pytester, option: str, where: str
) -> None:
    # Paths that even root cannot write: a directory in the way, or a file as the parent.
    (gate.path / "taken").mkdir()
    (gate.path / "plain").write_text("", encoding="utf-8")
    path = "taken" if where == "directory" else "plain/gate.json"
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "canary-healthy.json",
                            option, path)  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option} {path}: *"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_an_output_lost_at_the_end_fails_the_run_with_a_message(
    gate: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # $GITHUB_OUTPUT pointing into a directory that does not exist: found only when writing.
    monkeypatch.setenv("GITHUB_OUTPUT", str(gate.path / "missing" / "output"))
    result = gate.runpytest(
        "--incident-gate", "canary", "--incident-metrics", "canary-healthy.json"
    )
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the promotion must not go ahead unrecorded
    result.stdout.fnmatch_lines(["ERROR: cannot append to $GITHUB_OUTPUT*", "decision: PROMOTE*"])
    assert "INTERNALERROR" not in result.stdout.str()


def test_the_report_lists_what_the_data_rules_did(gate: pytest.Pytester) -> None:
    document = json.loads((gate.path / "canary-healthy.json").read_text(encoding="utf-8"))
    document["series"] = document["series"] + document["series"]  # every block twice
    (gate.path / "twice.json").write_text(json.dumps(document), encoding="utf-8")
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "twice.json",
                            "--incident-gate-report", "gate.json")  # fmt: skip
    result.assert_outcomes(passed=5)  # the same data as once: the same verdicts
    report = json.loads((gate.path / "gate.json").read_text(encoding="utf-8"))
    assert any("exact duplicate" in note for note in report["data_notes"])
    assert "- Data: error_rate (baseline): " in (gate.path / "gate.md").read_text(encoding="utf-8")


def _passed(criterion: str) -> Verdict:
    return Verdict(criterion, None, Outcome.PASS, "ok")


def test_a_custom_last_phase_below_full_traffic_does_not_say_full_traffic() -> None:
    settings = parse_gate_config({
        "phases": {"pilot": {"traffic": [20, 20], "min_duration": "1h", "criteria": ["duration"]}},
        "order": ["canary", "pilot"],
    })  # fmt: skip
    decision = decide("pilot", [_passed("duration")], settings)
    assert decision.action == "promote" and decision.next_phase is None
    assert "full traffic" not in decision.summary
    assert decision.summary.startswith("pilot complete at 20% of traffic: no later phase")
    full = decide("full", [_passed("traffic-share")], parse_gate_config({}))
    assert "keep full traffic" in full.summary

"""regression-tests in the same session as --incident-cases: plain, -n 0, -n 2, -p no:xdist."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import run, toy_case_file, write_case
from test_gates_support import no_github_output  # noqa: F401 (autouse)

import pytest_airecovery
from pytest_airecovery.gates.session_cases import CaseResults

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
HEALTHY = REPO / "examples" / "gates" / "canary-healthy.json"
# A canary that also demands the regression cases: the shipped healthy export passes the rest.
GATE_SETTINGS = "phases:\n  canary:\n    criteria: [traffic-share, regression-tests]\n"
GATE_ARGS = ("--incident-cases", "--incident-gate", "canary", "--incident-metrics", "canary.json",
             "--incident-gate-config", "gate.yaml", "--incident-gate-report", "gate.json")  # fmt: skip


@pytest.fixture
def project(toy: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # xdist workers are fresh interpreters: they must import the package from this checkout.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    # Plugins that only slow the inner runs down (each inner run re-imports what it loads).
    toy.makeini("[pytest]\nincident_candidates = toy@good\n"
                "addopts = -p no:hypothesispytest -p no:benchmark -p no:cacheprovider\n")  # fmt: skip
    shutil.copy(HEALTHY, toy.path / "canary.json")
    (toy.path / "gate.yaml").write_text(GATE_SETTINGS, encoding="utf-8")
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2", inputs="[4, 5, 6, 8]"))
    return toy


def regression_verdict(project: pytest.Pytester) -> dict[str, Any]:
    report = json.loads((project.path / "gate.json").read_text(encoding="utf-8"))
    (verdict,) = [c for c in report["criteria"] if c["criterion"] == "regression-tests"]
    verdict["decision"] = report["decision"]["action"]
    return verdict


def test_cases_passing_in_the_same_session_pass(
    project: pytest.Pytester, plugin_args: list[str]
) -> None:
    result = run(project, *GATE_ARGS, "-v", *plugin_args)
    result.assert_outcomes(passed=11)  # 4 + 5 case items, 2 gate items
    result.stdout.re_match_lines([r".*(gate::canary::regression-tests PASSED|PASSED gate::canary::regression-tests).*",
                                  "decision: PROMOTE.*"])  # fmt: skip
    verdict = regression_verdict(project)
    assert verdict["outcome"] == "PASS", verdict["message"]
    assert verdict["message"] == "all 9 incident case(s) passed"
    assert verdict["evidence"]["source"] == "incident cases in this session"
    if plugin_args == ["-n", "2"]:
        # Judged on the controller after the workers finished: no [gwN] prefix on its line.
        result.stdout.re_match_lines([r"^gate::canary::regression-tests PASSED"])


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_a_failing_case_on_any_worker_fails_the_gate(
    project: pytest.Pytester, mode: list[str]
) -> None:
    write_case(project, "AI-3.yaml", toy_case_file("AI-IR-3", inputs="[1, 7]"))  # 7 is forbidden
    result = run(project, *GATE_ARGS, "--junitxml", "junit.xml", *mode)
    result.assert_outcomes(passed=11, failed=3)  # AI-3's row-1 and aggregate, and the gate
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*2 incident case(s) failed: incident_cases/AI-3.yaml::labels?aggregate?, *",
                                 "decision: ROLLBACK*"])  # fmt: skip
    verdict = regression_verdict(project)
    assert (verdict["outcome"], verdict["evidence"]["passed"], verdict["evidence"]["failed"]) == (
        "FAIL",
        10,
        2,
    )
    # The item is in the JUnit XML like any other, whichever process judged it.
    junit = (project.path / "junit.xml").read_text(encoding="utf-8")
    assert 'name="regression-tests"' in junit


def test_no_case_ran_is_inconclusive(project: pytest.Pytester) -> None:
    result = project.runpytest(*GATE_ARGS, "-m", "not incident_case")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*INCONCLUSIVE: no incident case ran in this session (0 skipped)*"]
    )
    assert regression_verdict(project)["decision"] == "hold"


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_a_case_file_that_fails_to_load_fails_the_gate(
    project: pytest.Pytester, mode: list[str]
) -> None:
    write_case(project, "AI-4.yaml", "schema_version: 1\nincident: {}\n")
    result = run(project, *GATE_ARGS, *mode)
    result.assert_outcomes(passed=10, failed=1, errors=1)
    verdict = regression_verdict(project)
    assert verdict["outcome"] == "FAIL"
    assert verdict["evidence"]["failing"] == ["incident_cases/AI-4.yaml (case file failed to load)"]


def test_same_session_results_win_over_a_configured_junit(project: pytest.Pytester) -> None:
    (project.path / "gate.yaml").write_text(
        GATE_SETTINGS + "regression_junit: old.xml\n", encoding="utf-8"
    )
    result = project.runpytest(*GATE_ARGS)
    result.assert_outcomes(passed=11)
    assert regression_verdict(project)["evidence"]["note"] == "regression_junit old.xml ignored"


def test_the_gate_item_runs_after_every_case(project: pytest.Pytester) -> None:
    result = project.runpytest(*GATE_ARGS, "--collect-only", "-q")
    lines = [line for line in result.stdout.lines if "::" in line]
    assert lines[-1] == "gate::canary::regression-tests"
    assert lines[-2] == "gate::canary::traffic-share"  # the other gate items keep their place


class FakeReport:
    def __init__(self, nodeid: str, when: str, outcome: str, data: bool = True) -> None:
        self.nodeid, self.when, self.outcome = nodeid, when, outcome
        self.passed, self.failed, self.skipped = (
            outcome == o for o in ("passed", "failed", "skipped")
        )
        if data:
            self.airecovery = {"kind": "row", "incident": "AI", "case": "c"}


def test_case_results_count_each_item_once() -> None:
    results = CaseResults(expected={"t::a", "t::b", "t::c", "t::d", "t::e"})
    for report in [
        FakeReport("t::a", "setup", "passed"), FakeReport("t::a", "call", "passed"),
        FakeReport("t::a", "teardown", "passed"),
        FakeReport("t::b", "call", "passed"), FakeReport("t::b", "teardown", "failed"),
        FakeReport("t::c", "setup", "skipped"),
        FakeReport("t::d", "setup", "failed"),
        FakeReport("t::x", "call", "failed", data=False),  # not an incident case
    ]:  # fmt: skip
        results.add(report)
    results.add_collection_error("incident_cases/broken.yml")
    results.add_collection_error("tests/test_other.py")  # not a case file
    summary, missing = results.summary()
    assert (summary.passed, summary.failed, summary.skipped) == (1, 3, 1)
    assert summary.failing == [
        "t::b",
        "t::d",
        "incident_cases/broken.yml (case file failed to load)",
    ]
    assert missing == ["t::e"]
    summary, missing = results.summary(match="::a")
    assert (summary.passed, summary.failed, missing) == (1, 0, [])

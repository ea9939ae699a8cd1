"""GatePlugin: the pytest side of `--incident-gate PHASE`, registered by the core plugin.

It adds the gate items at collection, attaches each verdict to its test report (reports travel
from xdist workers to the controller), and on the controller only writes the decision report.

`regression-tests` beside `--incident-cases` in one session: the item must see every case's
result. Without xdist it simply runs last and reads the results this process logged. Under xdist
a worker sees only its own share, so workers leave the item out and tell the controller (in
`workeroutput`); once every worker is done, the controller evaluates the criterion from all the
reports it received and logs the item's reports itself, so terminal, JUnit XML, exit code and
decision report treat it like any other item.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_airecovery.gates.items import GateItem, build_items, verdict_details
from pytest_airecovery.gates.phases import (
    CRITERIA,
    GateConfig,
    GateConfigError,
    load_gate_config,
    settings_search_dirs,
)
from pytest_airecovery.gates.runner import GateCheck, GateRun
from pytest_airecovery.gates.session_cases import CaseResults
from pytest_airecovery.gates.verdicts import Outcome, Verdict

REPORT_ATTRIBUTE = "airecovery_gate"
WORKER_OUTPUT_KEY = "airecovery_gate"  # in xdist's workeroutput: deferred items, selected cases
REGRESSION = "regression-tests"


def _ini(config: pytest.Config, name: str) -> str | None:
    """An ini twin of an option, if the core plugin declares one."""
    try:
        value = config.getini(name)
    except ValueError:
        return None
    return str(value) if value else None


class GatePlugin:
    """Reads --incident-gate, --incident-metrics, --incident-gate-config, --incident-gate-report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.phase_name = str(config.getoption("incident_gate"))
        self.is_worker = hasattr(config, "workerinput")
        invocation = Path(str(config.invocation_params.dir))
        # Checked now, so a path that cannot be written stops the run before it starts instead
        # of losing the decision at the end (workers write nothing).
        self.report_path = self._output_path(config, "incident_gate_report", invocation)
        self.decision_path = self._output_path(config, "incident_gate_decision", invocation)
        self.run = GateRun(
            self.phase_name,
            config.getoption("incident_metrics", None),
            config.getoption("incident_gate_config", None) or _ini(config, "incident_gate_config"),
            Path(str(config.rootpath)),
            self._source_from_hook,
            settings_search_dirs(config.inipath, Path(str(config.invocation_params.dir))),
        )
        self.collected: list[str] = []  # node ids, in order
        self.verdicts: dict[str, dict[str, Any]] = {}
        # Incident cases in this session: regression-tests judges their results, not a JUnit file.
        self.case_results: CaseResults | None = None
        if config.getoption("incident_cases", False):
            self.case_results = CaseResults()
            self.run.case_results = self.case_results
        self.deferred: dict[str, None] = {}  # controller: regression items workers left to it
        self.output_error: str | None = None  # the report or decision could not be written

    def _output_path(self, config: pytest.Config, dest: str, invocation: Path) -> Path | None:
        value = config.getoption(dest, None)
        if not value:
            return None
        path = Path(str(value))
        path = path if path.is_absolute() else invocation / path
        if not self.is_worker:
            from pytest_airecovery.cases.paths import PathPolicyError, path_policy
            from pytest_airecovery.gates.report import OutputError, check_writable

            flag = "--" + dest.replace("_", "-")
            try:
                path_policy(config).check(path, what=f"{flag} path", shown=str(value))
                check_writable(path)
            except PathPolicyError as error:
                raise pytest.UsageError(error.message) from None
            except OutputError as error:
                raise pytest.UsageError(f"{flag} {value}: {error}") from None
        return path

    def _source_from_hook(self, location: str) -> Any:
        hook = getattr(self.config.hook, "pytest_airecovery_gate_source", None)
        return hook(config=self.config, location=location) if hook is not None else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # tryfirst: added before -k/-m deselection runs, so gate items can be selected like any.
        self.run.load()
        gate_items = build_items(session, self.run)
        items.extend(gate_items)
        if gate_items:
            # Tell the terminal (and anyone counting) about items that no collector reported.
            phase_id = f"gate::{self.phase_name}"
            report = pytest.CollectReport(phase_id, "passed", None, list(gate_items))
            config.hook.pytest_collectreport(report=report)

    @pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_last(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # trylast: after -k/-m deselection, so only selected cases and items count. (The name
        # must start with pytest_ for pytest to read the marker; specname says which hook.)
        if self.case_results is None:
            return
        regression: list[pytest.Item] = [item for item in items if isinstance(item, GateItem)
                      and item.check is not None and item.check.criterion == REGRESSION]  # fmt: skip
        if not regression:
            return
        cases = [item.nodeid for item in items if callable(getattr(item, "report_data", None))]
        others = [item for item in items if item not in regression]
        if self.is_worker:
            # A worker would judge only its own share of the cases: the controller judges all.
            items[:] = others
            config.workeroutput[WORKER_OUTPUT_KEY] = {  # type: ignore[attr-defined]
                "deferred": [item.nodeid for item in regression],
                "cases": cases,
            }
        else:
            items[:] = others + regression  # last: every case has reported when it runs
            self.case_results.expected.update(cases)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: a worker finished; note what it left for the controller to judge."""
        gate = (getattr(node, "workeroutput", None) or {}).get(WORKER_OUTPUT_KEY)
        if gate and self.case_results is not None:
            self.deferred.update(dict.fromkeys(gate["deferred"]))
            self.case_results.expected.update(gate["cases"])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        result = yield
        if not self.is_worker:
            for nodeid in self.deferred:
                self._log_deferred(session, nodeid)
        return result

    def _log_deferred(self, session: pytest.Session, nodeid: str) -> None:
        """Evaluate a deferred item on the controller and log its reports as a worker would."""
        verdict = self.run.evaluate_without_data(GateCheck(REGRESSION, None))
        location = (".", None, nodeid)
        session.testscollected += 1  # the workers left it out of their count
        hook = self.config.hook
        hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        text = verdict_details(verdict)
        phases: list[tuple[str, str, str | None]]
        if verdict.outcome is Outcome.ERROR:  # as GateItem: an error is a failed setup
            phases = [("setup", "failed", text)]
        else:
            good = verdict.outcome is Outcome.PASS
            phases = [("setup", "passed", None),
                      ("call", "passed" if good else "failed", None if good else text)]  # fmt: skip
        for when, outcome, longrepr in [*phases, ("teardown", "passed", None)]:
            report = pytest.TestReport(nodeid, location, {}, outcome, longrepr, when)  # type: ignore[arg-type]
            setattr(report, REPORT_ATTRIBUTE, verdict.to_dict())
            hook.pytest_runtest_logreport(report=report)
        hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.case_results is not None:
            self.case_results.add_collection_error(report.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if isinstance(item, GateItem) and call.when in ("setup", "call"):
            if item.verdict is not None:
                setattr(report, REPORT_ATTRIBUTE, item.verdict.to_dict())
            elif item.check is None and call.when == "setup":
                setattr(report, REPORT_ATTRIBUTE, {
                    "criterion": "configuration", "metric": None, "outcome": "ERROR",
                    "message": f"ERROR: {item.run.load_error}", "evidence": {},
                })  # fmt: skip
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # On the controller this sees every worker's reports; keep the last phase's verdict.
        if self.case_results is not None:
            self.case_results.add(report)
        verdict = getattr(report, REPORT_ATTRIBUTE, None)
        if verdict is not None and (report.when == "call" or report.outcome != "passed"):
            self.verdicts[report.nodeid] = verdict

    def _settings(self) -> GateConfig | None:
        """Settings for naming the next phase; the xdist controller never collected, so read them."""
        if self.run.settings is None:
            try:
                self.run.settings = load_gate_config(
                    self.run.config_path, self.run.rootdir, self.run.search_dirs
                )
            except GateConfigError:
                return None
            self.run.phase = self.run.settings.phases.get(self.phase_name)
        return self.run.settings

    def _ordered_verdicts(self) -> list[Verdict]:
        """In the phase's criterion order, then by metric: the same however xdist ran them."""
        verdicts = [Verdict.from_dict(data) for data in self.verdicts.values()]
        rank = {name: index for index, name in enumerate(CRITERIA)}
        return sorted(verdicts, key=lambda v: (rank.get(v.criterion, -1), v.metric or ""))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return  # only the controller (or a plain run) decides and writes the report
        from pytest_airecovery.gates.report import (
            OutputError,
            build_report,
            decide,
            write_decision,
            write_report,
        )

        verdicts = self._ordered_verdicts()
        # Nothing evaluated (every gate item deselected) is a hold: never a silent promote.
        decision = decide(self.phase_name, verdicts, self._settings())
        try:
            write_decision(decision.action, self.decision_path)
            if not self.verdicts:
                return
            report = build_report(self.run.describe(), verdicts, decision)
            if self.report_path:
                self._add_plots(self.report_path, report)
                write_report(self.report_path, report)
        except OutputError as error:
            # The decision was not recorded where the pipeline reads it: the run must not look
            # green, and the message says what failed (no traceback).
            self.output_error = str(error)
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        hook = getattr(self.config.hook, "pytest_airecovery_gate_decision", None)
        if hook is not None:
            hook(config=self.config, decision=decision.action, report=report)

    def _add_plots(self, path: Path, report: dict[str, Any]) -> None:
        from pytest_airecovery.gates.plots import matplotlib_available, plots_for_report

        if matplotlib_available() and self.run.context is None and self.run.load_error is None:
            self.run.load()  # the xdist controller never collected: read the data now
        plots_for_report(path, self.run.context, report, self.run.load_error)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        from pytest_airecovery.gates.report import decide

        if self.output_error:
            terminalreporter.write_sep("-", f"incident gate {self.phase_name}")
            terminalreporter.write_line(f"ERROR: {self.output_error}", red=True)
        if not self.verdicts:
            return
        decision = decide(self.phase_name, self._ordered_verdicts(), self._settings())
        if not self.output_error:
            terminalreporter.write_sep("-", f"incident gate {self.phase_name}")
        terminalreporter.write_line(f"decision: {decision.action.upper()}: {decision.summary}")

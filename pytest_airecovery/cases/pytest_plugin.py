"""The pytest hooks of an ``--incident-cases`` run: find case files, plan batches, gather results.

Registered by ``plugin.py`` only when the flag is given. The work is in the modules the hooks
call: discovery, the collector and its items (collect), the run context (session), the results
and report (report). Results are gathered from the items' reports (``report.airecovery``), so the
xdist controller, which collects nothing, sees the same data as a run without xdist.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_airecovery.cases import options

if TYPE_CHECKING:
    from pytest_airecovery.cases.discovery import CaseDiscovery
    from pytest_airecovery.cases.extensions import RunItem
    from pytest_airecovery.cases.report import IncidentResults

CASE_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def _case_discovery(config: pytest.Config, roots: list[Path]) -> CaseDiscovery:
    from pytest_airecovery.cases.discovery import CaseDiscovery
    from pytest_airecovery.cases.paths import path_policy

    return CaseDiscovery(roots, CASE_FILE_SUFFIXES, path_policy(config))


class IncidentCasesPlugin:
    """The hooks of an ``--incident-cases`` run; registered only when the flag is given."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.failed_case_files: set[str] = set()
        self.foreign_collect_errors = False
        self.is_worker = hasattr(config, "workerinput")
        options.check_model_options(config)
        if not self.is_worker:
            options.check_report_path(config)
        options.check_limit_settings(config)
        if config.getoption("incident_cache_clear") and not self.is_worker:
            from pytest_airecovery.cases.cache import clear
            from pytest_airecovery.cases.session import cache_dir

            root = cache_dir(config)
            if root is not None:
                clear(root)
        from pytest_airecovery.cases.paths import case_roots

        roots = case_roots(config)
        if config.args_source != pytest.Config.ArgsSource.ARGS:
            # No paths on the command line: the incident case directories are the paths.
            missing = [str(p) for p in roots if not p.exists()]
            if missing:
                raise pytest.UsageError(
                    f"--incident-cases: {', '.join(missing)} does not exist; create it, set the "
                    "incident_cases ini option, or pass case files as arguments"
                )
            config.args = [str(p) for p in roots]
        self.explicit = {Path(arg.split("::")[0]).resolve() for arg in config.args}
        self.roots = roots + sorted(p for p in self.explicit if p.is_dir())
        self.discovery = _case_discovery(config, self.roots)
        self.results: IncidentResults | None = None
        self.report_error = ""
        self.unused_models: list[str] = []
        # Case files whose action items this process has sent (in the first counted report).
        self.coverage_sent: set[str] = set()
        if not self.is_worker:
            from pytest_airecovery.cases.report import IncidentResults

            sections = [
                section
                for answer in config.hook.pytest_airecovery_result_sections(config=config)
                for section in answer
            ]
            self.results = IncidentResults(sections)

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        # Symlink loops and second routes to one file under the case roots (cases/discovery.py).
        return True if self.discovery.ignore(collection_path) else None

    def pytest_collect_directory(self, path: Path) -> None:
        self.discovery.report_broken_links(path)

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        if file_path.suffix not in CASE_FILE_SUFFIXES:
            return None
        resolved = file_path.resolve()
        # Under a root by its path (a directory linked in, when the path policy allows it) or
        # by its real location.
        routes = (resolved, file_path.absolute())
        if resolved not in self.explicit and not any(
            r.is_relative_to(root) for r in routes for root in self.roots
        ):
            return None
        if not self.discovery.first_time(file_path):
            return None
        from pytest_airecovery.cases.collect import IncidentFile

        return IncidentFile.from_parent(parent, path=file_path)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Plan batches from the final, deselected item list: the same on every xdist worker.
        from pytest_airecovery.cases.collect import CaseItem

        families: set[str] = set()
        for item in session.items:
            if isinstance(item, CaseItem):
                run_item: RunItem = item  # what this plugin asks of an item (cases.extensions)
                run_item.plan_outputs()
                families.add(item.case_file.family)
        self.unused_models = sorted(
            ref
            for ref in self.config.getoption("incident_models") or []
            if ref.partition("@")[0] not in families
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            if report.nodeid.endswith(CASE_FILE_SUFFIXES):
                self.failed_case_files.add(report.nodeid)
                if self.results is not None:
                    self.results.add_collection_error(report)
            else:
                self.foreign_collect_errors = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        # A broken case file is a collection error for that file alone: the other files still
        # run. Collection errors anywhere else keep pytest's usual stop.
        if self.failed_case_files and not self.foreign_collect_errors:
            self.config.option.continue_on_collection_errors = True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        from pytest_airecovery.cases.collect import CaseItem

        if isinstance(item, CaseItem):
            data = item.report_data()
            # The results count a call report or a failed one; the first of those per case file
            # and process carries the file's action items, so coverage needs no second parse.
            if (report.when == "call" or report.failed) and data["file"] not in self.coverage_sent:
                self.coverage_sent.add(data["file"])
                data["coverage"] = item.parent_file.coverage()
            # A plain attribute survives xdist's report serialisation, so the controller aggregates.
            report.airecovery = data  # type: ignore[attr-defined]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.results is not None:
            self.results.add(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.results is None:
            return
        path = self.config.getoption("incident_report")
        if path:
            try:
                self.results.write_json(Path(path))
            except OSError as exc:
                self.report_error = f"--incident-report: cannot write {path}: {exc.strerror or exc}"
                session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results is None or not (self.results.incidents or self.results.collection_errors):
            return
        terminalreporter.section("incident cases")
        for line in self.results.summary_lines():
            terminalreporter.write_line(line)
        for ref in self.unused_models:
            terminalreporter.write_line(
                f"note: --incident-model {ref} matched no collected case (no case file of that family)"
            )
        path = self.config.getoption("incident_report")
        if self.report_error:
            terminalreporter.write_line(f"ERROR: {self.report_error}", red=True)
        elif path:
            terminalreporter.write_line(f"JSON report: {path}")

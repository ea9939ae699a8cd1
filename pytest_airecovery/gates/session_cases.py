"""Incident-case results of the running session, for `regression-tests` beside `--incident-cases`.

The results come from test reports: incident-case items carry a dict `report.airecovery` (see
`collect.py`), and reports reach the xdist controller from every worker, so the controller (or a
plain run's only process) sees them all. Counting is per test id: any failed phase fails the
case, a skip (or xfail) means it did not run. A case file that failed to load counts as a
failure: its cases never ran, and passing without them would be a pass by omission.

No numpy here: the plugin creates this object in every gate run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_airecovery.gates.junit import JUnitSummary

CASE_FILE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class CaseResults:
    outcomes: dict[str, str] = field(default_factory=dict)  # nodeid -> passed/failed/skipped
    broken_files: list[str] = field(default_factory=list)  # case files that failed to collect
    expected: set[str] = field(default_factory=set)  # incident-case items selected to run

    def add(self, report: Any) -> None:
        """Record a TestReport if it belongs to an incident-case item."""
        if not isinstance(getattr(report, "airecovery", None), dict):
            return
        nodeid, seen = report.nodeid, self.outcomes.get(report.nodeid)
        if report.failed:
            self.outcomes[nodeid] = "failed"
        elif report.skipped and seen != "failed":
            self.outcomes[nodeid] = "skipped"
        elif report.when == "call" and report.passed and seen is None:
            self.outcomes[nodeid] = "passed"

    def add_collection_error(self, nodeid: str) -> None:
        if nodeid.endswith(CASE_FILE_SUFFIXES) and nodeid not in self.broken_files:
            self.broken_files.append(nodeid)

    def summary(self, match: str | None = None) -> tuple[JUnitSummary, list[str]]:
        """Counts like a JUnit summary, and the selected cases that have no result (yet)."""
        summary = JUnitSummary()
        for nodeid in sorted(self.outcomes):
            if match and match not in nodeid:
                continue
            outcome = self.outcomes[nodeid]
            if outcome == "failed":
                summary.failed += 1
                summary.failing.append(nodeid)
            elif outcome == "skipped":
                summary.skipped += 1
            else:
                summary.passed += 1
        for nodeid in sorted(self.broken_files):
            if not match or match in nodeid:
                summary.failed += 1
                summary.failing.append(f"{nodeid} (case file failed to load)")
        missing = sorted(
            nodeid for nodeid in self.expected - set(self.outcomes) if not match or match in nodeid
        )
        return summary, missing

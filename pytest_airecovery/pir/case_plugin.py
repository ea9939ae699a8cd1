"""How PIR action items plug into the case pipeline: which ones no passing case covers.

The case files' action items and cases travel in the items' reports (``coverage`` in
``report.airecovery``, once per case file and process), so the controller computes coverage
from the reports alone, under xdist too, without loading a case file again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_airecovery.cases.extensions import ResultSection
    from pytest_airecovery.cases.report import IncidentResult, IncidentResults, ReportData
    from pytest_airecovery.pir.coverage import UncoveredItem

REPORT_KEY = "uncovered_action_items"


def uncovered(results: IncidentResults) -> list[UncoveredItem]:
    """Action items of the run's case files that no passing case covers, most urgent first."""
    from pytest_airecovery.pir.coverage import FileFacts, uncovered_action_items

    files = [
        FileFacts.from_report(results.file_coverage[key]) for key in sorted(results.file_coverage)
    ]
    # A `pin:` entry is verified only by a passed [catches] test (it loads and hashes both models).
    return uncovered_action_items(files, results.passing_cases(), results.catches_passed())


class ActionItemCoverage:
    """The summary's "action items no passing case covers" and the report's list of them."""

    kinds: frozenset[str] = frozenset()  # reads the results, takes no item report of its own
    replaces_case_result = False

    def add(self, incident: IncidentResult, data: ReportData, outcome: str, nodeid: str) -> None:
        return None

    def incident_json(self, incident: IncidentResult) -> dict[str, Any]:
        return {}

    def incident_lines(self, incident: IncidentResult) -> list[str]:
        return []

    def session_json(self, results: IncidentResults) -> dict[str, Any]:
        return {REPORT_KEY: [asdict(item) for item in uncovered(results)]}

    def session_lines(self, results: IncidentResults) -> list[str]:
        items = uncovered(results)
        if not items:
            return []
        return ["action items no passing case covers:", *(f"    {item.render()}" for item in items)]


@pytest.hookimpl
def pytest_airecovery_result_sections(config: pytest.Config) -> Sequence[ResultSection]:
    return [ActionItemCoverage()]

"""Types of what travels in reports and what ``--incident-report`` writes (format 1).

Everything here is plain JSON data: item reports cross xdist as ``report.airecovery``, and the
JSON report is read by people, CI and the dossier pages. Keys marked optional are written only
when the run has them (adversarial variants, ``--incident-record``).
"""

from __future__ import annotations

from typing import Any, TypedDict

# ``report.airecovery`` of an item: kind, file, incident, title, severity, root_cause, case,
# model, then the item's own details (row, measured, transform, ...), and ``coverage`` on the
# first counted report of each case file per process. A plain dict because features add keys.
ReportData = dict[str, Any]


class ActionItemFacts(TypedDict):
    id: str
    priority: str
    text: str
    covered_by: list[str]
    line: int


class FileCoverage(TypedDict):
    """What action-item coverage needs of one case file, carried in its items' reports."""

    incident: str
    path: str
    cases: list[str]
    action_items: list[ActionItemFacts]


class CaseFailureJson(TypedDict):
    nodeid: str
    row: int | None
    message: str


class _CaseJsonRequired(TypedDict):
    passed: int
    failed: int
    failures: list[CaseFailureJson]


class CaseJson(_CaseJsonRequired, total=False):
    measured: dict[str, Any]  # aggregate checks' values, by check name (name@line for a second)


class CatchJson(TypedDict):
    caught: bool | None
    known_bad: str | None
    known_good: str | None
    known_bad_failures: int | None
    known_good_failures: int | None
    outcome: str


class RecordingJson(TypedDict):
    path: str | None
    rewritten: bool | None
    outcome: str


class _IncidentJsonRequired(TypedDict):
    title: str
    severity: str
    root_cause: str
    files: list[str]
    models: list[str]
    outcomes: dict[str, int]
    cases: dict[str, CaseJson]
    catches: dict[str, CatchJson]
    catch_rate: float | None


class IncidentJson(_IncidentJsonRequired, total=False):
    adversarial: dict[str, dict[str, Any]]  # transform -> counts and rates (adversarial.results)
    recordings: dict[str, RecordingJson]  # case -> the recording written (diff)


class UncoveredItemJson(TypedDict):
    incident_id: str
    item_id: str
    priority: str
    text: str
    path: str
    line: int
    reason: str


class _ReportJsonRequired(TypedDict):
    format: int
    incidents: dict[str, IncidentJson]
    collection_errors: dict[str, str]
    behaviour_diffs: dict[str, list[dict[str, Any]]]


class ReportJson(_ReportJsonRequired, total=False):
    uncovered_action_items: list[UncoveredItemJson]  # pir's section of the results

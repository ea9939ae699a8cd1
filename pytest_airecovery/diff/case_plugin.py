"""How behaviour diffs plug into pytest and the case pipeline.

Registered by ``plugin.py`` in every run, so it imports only pytest at module level: readable
``assert`` failures of diff results, and for ``--incident-cases`` the known-good checks
(``matches_known_good``, ``flip_rate``), the ``[record]`` items of ``--incident-record[-all]``,
their section of the results, and the candidate outputs kept beside a failed recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_airecovery.cases.extensions import ORDER_RECORD  # stdlib only: cheap

if TYPE_CHECKING:
    from pytest_airecovery.cases.checks import CheckRegistry
    from pytest_airecovery.cases.collect import CaseItem, IncidentFile
    from pytest_airecovery.cases.extensions import ItemKind, ResultSection
    from pytest_airecovery.cases.report import IncidentResult, IncidentResults, ReportData
    from pytest_airecovery.cases.session import IncidentSession
    from pytest_airecovery.cases.spec import CaseSpec, CheckSpec

SECTION = "recordings"  # per-incident table: case -> the recording written


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: Any, right: Any
) -> list[str] | None:
    # Called for every failed comparison in every repo: unrelated types return at once, no import.
    if not any(
        type(side).__module__.startswith("pytest_airecovery.diff.") for side in (left, right)
    ):
        return None
    from pytest_airecovery.diff.render import assertrepr_compare

    return assertrepr_compare(config, op, left, right)


@pytest.hookimpl(tryfirst=True)
def pytest_airecovery_add_checks(registry: CheckRegistry) -> None:
    # First, as built-ins: a conftest's check of the same name still replaces these.
    from pytest_airecovery.diff.checks import register_diff_checks

    register_diff_checks(registry)


class RecordItems:
    """One ``case[record]`` item per case under ``--incident-record`` / ``--incident-record-all``."""

    order = ORDER_RECORD

    def __init__(self, recording: bool) -> None:
        self.recording = recording

    def items(
        self, collector: IncidentFile, case: CaseSpec, context: IncidentSession
    ) -> Sequence[pytest.Item]:
        if not self.recording:
            return []
        from pytest_airecovery.diff.record_item import RecordItem

        return [
            RecordItem.from_parent(collector, name=f"{case.id}[record]", case=case, context=context)
        ]


class RecordingResults:
    """The recordings a run wrote, per incident and case."""

    kinds = frozenset({"record"})
    replaces_case_result = True  # recording is no test of the case

    def add(self, incident: IncidentResult, data: ReportData, outcome: str, nodeid: str) -> None:
        incident.sections.setdefault(SECTION, {})[data["case"]] = {
            "path": data.get("recording"),
            "rewritten": data.get("rewritten"),
            "outcome": outcome,
        }

    def incident_json(self, incident: IncidentResult) -> dict[str, Any]:
        table = incident.sections.get(SECTION)
        return {SECTION: table} if table else {}

    def incident_lines(self, incident: IncidentResult) -> list[str]:
        return []

    def session_json(self, results: IncidentResults) -> dict[str, Any]:
        return {}

    def session_lines(self, results: IncidentResults) -> list[str]:
        return []


@pytest.hookimpl
def pytest_airecovery_item_kinds(config: pytest.Config) -> Sequence[ItemKind]:
    from pytest_airecovery.diff.differ import record_mode

    return [RecordItems(record_mode(config) is not None)]


@pytest.hookimpl
def pytest_airecovery_result_sections(config: pytest.Config) -> Sequence[ResultSection]:
    return [RecordingResults()]


@pytest.hookimpl
def pytest_airecovery_failure_note(
    item: CaseItem, ref: str, failures: Sequence[tuple[CheckSpec, str]]
) -> str | None:
    from pytest_airecovery.diff.record_item import write_obtained

    return write_obtained(item, ref, list(failures))


def add_options(group: pytest.OptionGroup) -> None:
    """The behaviour-diff options (declared by plugin.py in the shared group)."""
    group.addoption(
        "--incident-known-good",
        action="append",
        dest="incident_known_good",
        default=[],
        metavar="REF",
        help="Known-good model for REF's family in behaviour diffs (family@version); repeatable",
    )
    group.addoption(
        "--incident-record",
        action="store_true",
        dest="incident_record",
        default=False,
        help="Write missing or changed known-good recordings of behaviour diffs, and fail those tests",
    )
    group.addoption(
        "--incident-record-all",
        action="store_true",
        dest="incident_record_all",
        default=False,
        help="Write missing or changed known-good recordings of behaviour diffs, and let the tests run on",
    )


def add_ini(parser: pytest.Parser) -> None:
    parser.addini(
        "incident_known_good",
        "Known-good model ref per family for behaviour diffs",
        type="linelist",
        default=[],
    )

"""Which action items and root-cause categories have passing cases, from case files and JUnit XML.

A case *passes* when the run has at least one test of it (``case[row-N]``, ``case[aggregate]``,
``case[catches]``) and none of them failed, errored or was skipped-only. An action item is
*passing* when every entry of its ``covered_by`` was verified: one failing covering case means the
item is not verified (fail closed, like the gates).

``covered_by`` may also name the file's pins and datasets (``pin:known_good``, ``pin:known_bad``,
``dataset:<path or name>``), so "pin and verify hashes" can be covered. What verifies them in a run:

* ``dataset:...`` -- a passing case of the same file: every test of a file checks its datasets
  against their manifests before it uses any model output, so one pass shows the data matched;
* ``pin:...`` -- a passing ``[catches]`` test of a case of the same file: only those tests must load
  *and* hash both the known-good and the known-bad model (other tests skip a pin whose model is
  unavailable), so without ``--incident-verify-catches`` a pin counts as not run.

The plugin's terminal summary calls :func:`uncovered_action_items` with the cases that passed in
the run; ``airecovery coverage --junit`` reads the same facts from ``pytest --junitxml``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_airecovery.cases.report_types import FileCoverage
from pytest_airecovery.cases.spec import ROOT_CAUSES, ActionItem, CaseFile, coverage_target

PRIORITIES = ("P0", "P1", "P2", "P3")
CaseKey = tuple[str, str]  # (incident id, case id)
CATCHES = "[catches]"  # outcomes key (incident, "<case>[catches]"): case ids never contain "["


class JunitError(Exception):
    """The JUnit file cannot be read or is not JUnit XML."""


@dataclass(frozen=True)
class UncoveredItem:
    """An action item that no passing case covers, for the terminal summary and reports."""

    incident_id: str
    item_id: str
    priority: str
    text: str
    path: str
    line: int
    reason: str  # "no covering case", "covering cases not passing: a, b" or "not verified in this run: pin:known_good"

    def render(self) -> str:
        return f"{self.incident_id} {self.item_id} ({self.priority}) {self.text}: {self.reason}"


@dataclass(frozen=True)
class FileFacts:
    """What coverage needs of one case file: from a loaded file or from the run's reports."""

    incident: str
    path: str
    cases: list[str]
    action_items: list[ActionItem]

    @classmethod
    def of(cls, case_file: CaseFile) -> FileFacts:
        return cls(
            case_file.incident.id,
            str(case_file.path),
            [case.id for case in case_file.cases],
            list(case_file.action_items),
        )

    @classmethod
    def from_report(cls, data: FileCoverage) -> FileFacts:
        """From the plain dict the plugin carries in item reports (cases.report_types)."""
        items = [
            ActionItem(a["id"], a["priority"], a["text"], tuple(a["covered_by"]), a["line"])
            for a in data["action_items"]
        ]
        return cls(data["incident"], data["path"], list(data["cases"]), items)


def uncovered_action_items(
    case_files: Iterable[CaseFile | FileFacts],
    passing_case_ids: Collection[CaseKey],
    catches_passed: Collection[CaseKey] | None = None,
) -> list[UncoveredItem]:
    """Action items not covered by a passing case, most urgent first.

    ``passing_case_ids`` holds ``(incident id, case id)`` pairs of cases whose every test passed,
    ``catches_passed`` those whose ``[catches]`` test passed (it verifies the pins; None when the
    caller does not know, and then a ``pin:`` entry is not verified). An item is covered only when
    *all* of its ``covered_by`` entries are.
    """
    passing = set(passing_case_ids)
    catches = set(catches_passed or ())
    found = []
    for given in case_files:
        facts = given if isinstance(given, FileFacts) else FileFacts.of(given)
        incident = facts.incident
        for item in facts.action_items:
            if not item.covered_by:
                reason = "no covering case"
            else:
                missing = [
                    entry
                    for entry in item.covered_by
                    if not _entry_verified(entry, incident, facts.cases, passing, catches)
                ]
                if not missing:
                    continue
                cases_only = all(coverage_target(entry)[0] == "case" for entry in missing)
                reason = (
                    "covering cases not passing: " if cases_only else "not verified in this run: "
                ) + ", ".join(missing)
            found.append(
                UncoveredItem(
                    incident,
                    item.id,
                    item.priority,
                    item.text,
                    facts.path,
                    item.line,
                    reason,
                )
            )
    return sorted(found, key=lambda u: (PRIORITIES.index(u.priority), u.incident_id, u.item_id))


def _entry_verified(
    entry: str, incident: str, file_cases: list[str], passing: set[CaseKey], catches: set[CaseKey]
) -> bool:
    kind, _ = coverage_target(entry)
    if kind == "case":
        return (incident, entry) in passing
    proof = catches if kind == "pin" else passing
    return any((incident, case) in proof for case in file_cases)


# --- JUnit XML ------------------------------------------------------------------------------


def read_junit(path: Path, case_files: Iterable[CaseFile]) -> dict[CaseKey, str]:
    """Outcome per case from ``pytest --incident-cases --junitxml``: passed, failed or skipped.

    Test names are ``case[row-N]`` etc.; the incident comes from the ``incident_id`` property the
    plugin records, else from the classname (``incident_cases.AI-IR-2026-042.yaml``) matched
    against the case files' names.
    """
    from xml.etree import ElementTree

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JunitError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if b"<!DOCTYPE" in raw[:4096] or b"<!ENTITY" in raw:
        raise JunitError(f"{path}: JUnit XML has no DOCTYPE or entities; refusing to read it")
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise JunitError(f"{path}: not valid XML ({exc})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JunitError(f"{path}: not JUnit XML (root element <{root.tag}>)")
    by_file_name = {Path(cf.path).name: cf.incident.id for cf in case_files}
    outcomes: dict[CaseKey, list[str]] = {}
    for testcase in root.iter("testcase"):
        name = testcase.get("name", "")
        case_id = name.partition("[")[0]
        incident = _property(testcase, "incident_id") or _incident_from_classname(
            testcase.get("classname", ""), by_file_name
        )
        if not case_id or incident is None:
            continue
        outcome = _outcome(testcase)
        outcomes.setdefault((incident, case_id), []).append(outcome)
        if name.endswith(CATCHES):
            outcomes.setdefault((incident, case_id + CATCHES), []).append(outcome)
        integrity = _integrity_failure(testcase) if outcome == "failed" else None
        if integrity:  # a pin or dataset check failed: every such entry of the incident is failing
            outcomes.setdefault((incident, integrity), []).append("failed")
    return {key: _combine(values) for key, values in outcomes.items()}


PIN_FAILED, DATA_FAILED = "[pin-failed]", "[dataset-failed]"


def _integrity_failure(testcase: Any) -> str | None:
    """The plugin's supply-chain and data-integrity messages, read from a failed test's report."""
    text = " ".join(
        (child.get("message") or "") + " " + (child.text or "")
        for child in testcase
        if child.tag in ("failure", "error")
    )
    if "supply-chain check" in text:
        return PIN_FAILED
    if "data integrity check failed" in text:
        return DATA_FAILED
    return None


def _property(testcase: object, name: str) -> str | None:
    for prop in testcase.iter("property"):  # type: ignore[attr-defined]
        if prop.get("name") == name:
            value: str | None = prop.get("value")
            return value
    return None


def _incident_from_classname(classname: str, by_file_name: dict[str, str]) -> str | None:
    for file_name, incident in by_file_name.items():
        if classname == file_name or classname.endswith("." + file_name):
            return incident
    return None


def _outcome(testcase: object) -> str:
    tags = {child.tag for child in testcase}  # type: ignore[attr-defined]
    if tags & {"failure", "error"}:
        return "failed"
    if "skipped" in tags:
        return "skipped"
    return "passed"


def _combine(values: list[str]) -> str:
    if "failed" in values:
        return "failed"
    return "passed" if "passed" in values else "skipped"


# --- the coverage report --------------------------------------------------------------------


@dataclass(frozen=True)
class ItemCoverage:
    incident_id: str
    item_id: str
    priority: str
    text: str
    covered_by: tuple[str, ...]
    status: str  # "passing", "failing", "not run", "no case"


@dataclass(frozen=True)
class CategoryCoverage:
    category: str
    incidents: tuple[str, ...]
    cases: int
    passing: int


def item_coverage(
    case_files: Iterable[CaseFile], outcomes: dict[CaseKey, str] | None
) -> list[ItemCoverage]:
    rows = []
    for case_file in case_files:
        incident = case_file.incident.id
        mine = [case.id for case in case_file.cases]
        for item in case_file.action_items:
            statuses = [_entry_status(entry, incident, mine, outcomes) for entry in item.covered_by]
            rows.append(
                ItemCoverage(
                    incident,
                    item.id,
                    item.priority,
                    item.text,
                    item.covered_by,
                    _combine_status(statuses),
                )
            )
    return sorted(rows, key=lambda r: (PRIORITIES.index(r.priority), r.incident_id, r.item_id))


def _combine_status(statuses: list[str]) -> str:
    if not statuses:
        return "no case"
    for status in ("failing", "not run"):
        if status in statuses:
            return status
    return "passing"


def _entry_status(
    entry: str, incident: str, file_cases: list[str], outcomes: dict[CaseKey, str] | None
) -> str:
    """One ``covered_by`` entry: passing, failing or not run (see the module docstring)."""
    if outcomes is None:
        return "not run"
    kind, _ = coverage_target(entry)
    if kind == "case":
        result = outcomes.get((incident, entry))
        return (
            "failing"
            if result in ("failed", "skipped")
            else "not run"
            if result is None
            else "passing"
        )
    if outcomes.get((incident, PIN_FAILED if kind == "pin" else DATA_FAILED)) == "failed":
        return "failing"
    suffix = CATCHES if kind == "pin" else ""
    if any(outcomes.get((incident, case + suffix)) == "passed" for case in file_cases):
        return "passing"
    return "not run"


def category_coverage(
    case_files: Iterable[CaseFile], outcomes: dict[CaseKey, str] | None
) -> list[CategoryCoverage]:
    rows = []
    files = list(case_files)
    for category in ROOT_CAUSES:
        mine = [cf for cf in files if cf.incident.root_cause == category]
        keys = [(cf.incident.id, case.id) for cf in mine for case in cf.cases]
        passing = sum(1 for key in keys if outcomes and outcomes.get(key) == "passed")
        rows.append(
            CategoryCoverage(
                category, tuple(sorted({cf.incident.id for cf in mine})), len(keys), passing
            )
        )
    return rows


def coverage_dict(
    items: list[ItemCoverage], categories: list[CategoryCoverage], ran: bool
) -> dict[str, object]:
    return {
        "junit": ran,
        "action_items": [asdict(item) | {"covered_by": list(item.covered_by)} for item in items],
        "categories": [asdict(cat) | {"incidents": list(cat.incidents)} for cat in categories],
    }


def render_text(
    items: list[ItemCoverage], categories: list[CategoryCoverage], ran: bool
) -> list[str]:
    lines = ["Action items" + ("" if ran else " (no --junit results: coverage by case links only)")]
    if not items:
        lines.append("  (no action items in these case files)")
    for item in items:
        cases = ", ".join(item.covered_by) or "-"
        lines.append(
            f"  {item.status:<8} {item.incident_id} {item.item_id:<6} {item.text}  [cases: {cases}]"
        )
    lines.append("Root-cause categories")
    for cat in categories:
        if not cat.cases:
            lines.append(f"  {cat.category:<28} none: no incident case file")
            continue
        incidents = ", ".join(cat.incidents)
        passing = (
            f"{cat.passing}/{cat.cases} cases passing" if ran else f"{cat.cases} cases (not run)"
        )
        lines.append(f"  {cat.category:<28} {passing} ({incidents})")
    return lines

"""Session results of incident cases: terminal summary, JSON report, and batch progress.

Results are gathered from test reports (``report.airecovery``, a plain dict set by the plugin),
so the same code runs on the xdist controller, which sees every worker's reports, and without xdist.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_airecovery.cases.report_types import (
    FileCoverage,
    IncidentJson,
    ReportData,
    ReportJson,
)

if TYPE_CHECKING:
    from pytest_airecovery.cases.extensions import ResultSection

REPORT_FORMAT = 1
MAX_FAILED_CASES_SHOWN = 5


@dataclass
class IncidentResult:
    incident: str
    title: str = ""
    severity: str = ""
    root_cause: str = ""
    files: set[str] = field(default_factory=set)
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    catches: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)
    # Tables of the features' result sections, by section (adversarial: transform -> counts).
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def case(self, case_id: str) -> dict[str, Any]:
        return self.cases.setdefault(case_id, {"passed": 0, "failed": 0, "failures": []})

    @property
    def failed_cases(self) -> list[str]:
        return [case_id for case_id, entry in self.cases.items() if entry["failed"]]

    def to_json(self, sections: Sequence[ResultSection] = ()) -> IncidentJson:
        caught = sum(1 for entry in self.catches.values() if entry.get("caught"))
        body: dict[str, Any] = {
            "title": self.title,
            "severity": self.severity,
            "root_cause": self.root_cause,
            "files": sorted(self.files),
            "models": sorted(self.models),
            "outcomes": dict(self.outcomes),
            "cases": self.cases,
            "catches": self.catches,
            "catch_rate": caught / len(self.catches) if self.catches else None,
        }
        for section in sections:
            body.update(section.incident_json(self))
        return cast(IncidentJson, body)


class IncidentResults:
    """Collects one entry per incident from the reports of incident-case items."""

    def __init__(self, sections: Sequence[ResultSection] = ()) -> None:
        self.incidents: dict[str, IncidentResult] = {}
        self.collection_errors: dict[str, str] = {}
        self.behaviour_diffs: dict[str, Any] = {}
        self.sections = tuple(sections)
        # Case file nodeid -> its action items and cases, from the first report of each file.
        self.file_coverage: dict[str, FileCoverage] = {}

    def add_collection_error(self, report: pytest.CollectReport) -> None:
        self.collection_errors[report.nodeid] = _first_lines(str(report.longrepr))

    def add(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            # behaviour_diff fixtures attach their full diff as a user property (it crosses xdist).
            for name, value in report.user_properties:
                if name == "behaviour_diff" and isinstance(value, str):
                    self.behaviour_diffs.setdefault(report.nodeid, []).append(json.loads(value))
        data: ReportData | None = getattr(report, "airecovery", None)
        if not isinstance(data, dict):
            return
        if report.when != "call" and not report.failed:
            return
        outcome = report.outcome if report.when == "call" else "error"
        entry = self.incidents.setdefault(data["incident"], IncidentResult(data["incident"]))
        entry.title = data.get("title", "")
        entry.severity = data.get("severity", "")
        entry.root_cause = data.get("root_cause", "")
        entry.files.add(data.get("file", ""))
        if "coverage" in data:
            self.file_coverage.setdefault(data.get("file", ""), data["coverage"])
        entry.outcomes[outcome] += 1
        sections = [section for section in self.sections if data["kind"] in section.kinds]
        if any(section.replaces_case_result for section in sections):
            for section in sections:
                section.add(entry, data, outcome, report.nodeid)
            return
        if data["kind"] == "catch":
            entry.catches[data["case"]] = {
                key: data.get(key)
                for key in (
                    "caught",
                    "known_bad",
                    "known_good",
                    "known_bad_failures",
                    "known_good_failures",
                )
            } | {"outcome": outcome}
            return
        if data.get("model"):
            entry.models.add(data["model"])
        case = entry.case(data["case"])
        case["passed" if outcome == "passed" else "failed"] += 1
        if outcome != "passed":
            case["failures"].append(
                {
                    "nodeid": report.nodeid,
                    "row": data.get("row"),
                    "message": _first_lines(report.longreprtext),
                }
            )
        if "measured" in data:
            case["measured"] = data["measured"]
        for section in sections:
            section.add(entry, data, outcome, report.nodeid)

    def passing_cases(self) -> set[tuple[str, str]]:
        """``(incident, case)`` of cases with at least one test run and none failing (catches too)."""
        passing = set()
        for incident_id, entry in self.incidents.items():
            for case_id in set(entry.cases) | set(entry.catches):
                case = entry.cases.get(case_id, {"passed": 0, "failed": 0})
                catch = entry.catches.get(case_id)
                ran = case["passed"] + (1 if catch else 0)
                if (
                    ran
                    and not case["failed"]
                    and (catch is None or catch.get("outcome") == "passed")
                ):
                    passing.add((incident_id, case_id))
        return passing

    def summary_lines(self) -> list[str]:
        lines = []
        for incident_id in sorted(self.incidents):
            entry = self.incidents[incident_id]
            counts = ", ".join(f"{n} {name}" for name, n in sorted(entry.outcomes.items()))
            passing = len(entry.cases) - len(entry.failed_cases)
            line = f"{incident_id} ({entry.severity}, {entry.root_cause}): {counts}"
            if entry.cases:
                line += f"; cases passing {passing}/{len(entry.cases)}"
            if entry.models:
                line += f"; model {', '.join(sorted(entry.models))}"
            lines.append(line)
            failed = entry.failed_cases
            if failed:
                shown = ", ".join(failed[:MAX_FAILED_CASES_SHOWN])
                more = (
                    f" and {len(failed) - MAX_FAILED_CASES_SHOWN} more"
                    if len(failed) > MAX_FAILED_CASES_SHOWN
                    else ""
                )
                lines.append(f"    failing cases: {shown}{more}")
            if entry.catches:
                caught = [case for case, c in entry.catches.items() if c.get("caught")]
                missed = sorted(set(entry.catches) - set(caught))
                lines.append(
                    f"    catch rate {len(caught)}/{len(entry.catches)} "
                    f"({len(caught) / len(entry.catches):.0%}) of cases fail on the known-bad model "
                    "and pass on the known-good one"
                )
                if missed:
                    lines.append(f"    not proven: {', '.join(missed)}")
            for section in self.sections:
                lines.extend(section.incident_lines(entry))
        for nodeid in sorted(self.collection_errors):
            lines.append(f"{nodeid}: not loaded (collection error)")
        for section in self.sections:
            lines.extend(section.session_lines(self))
        return lines

    def catches_passed(self) -> set[tuple[str, str]]:
        """``(incident, case)`` of cases whose ``[catches]`` test passed."""
        return {
            (incident, case)
            for incident, entry in self.incidents.items()
            for case, catch in entry.catches.items()
            if catch.get("outcome") == "passed"
        }

    def to_json(self) -> ReportJson:
        body: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "incidents": {
                key: self.incidents[key].to_json(self.sections) for key in sorted(self.incidents)
            },
            "collection_errors": dict(sorted(self.collection_errors.items())),
            "behaviour_diffs": dict(sorted(self.behaviour_diffs.items())),
        }
        for section in self.sections:
            body.update(section.session_json(self))
        return cast(ReportJson, body)

    def write_json(self, path: Path) -> None:
        body = self.to_json()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(body, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )


def _first_lines(text: str, limit: int = 12) -> str:
    lines = text.splitlines()
    return "\n".join(lines[:limit] + (["..."] if len(lines) > limit else []))


class ProgressLine:
    """Shows ``model: inputs done of total`` while a slow batch runs, on interactive terminals only.

    Writes through the terminal reporter with output capturing suspended, the way live logging
    does, because the batch runs inside a test whose output pytest is capturing.
    """

    def __init__(self, terminal: Any, capture: Any) -> None:
        self._terminal = terminal
        self._capture = capture
        self._last = 0.0
        self._active = False

    @classmethod
    def for_config(cls, config: pytest.Config) -> ProgressLine | None:
        # The global -v/-q level; config.get_verbosity() says the same but needs pytest 8.
        if hasattr(config, "workerinput") or config.getoption("verbose") < 0:
            return None
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None or os.environ.get("TERM") == "dumb":
            return None
        isatty = getattr(terminal, "isatty", False)
        if not (isatty() if callable(isatty) else isatty):
            return None
        return cls(terminal, config.pluginmanager.get_plugin("capturemanager"))

    def __call__(self, ref: str, done: int, total: int, elapsed: float, running: bool) -> None:
        now = time.monotonic()
        if running and now - self._last < 0.25:
            return
        self._last = now
        prefix = "\n" if not self._active else ""
        self._active = running
        state = "running" if running else "done"
        text = f"\r[airecovery] {ref}: {done}/{total} inputs, batch {state} {elapsed:.1f}s"
        suspended = (
            self._capture.global_and_fixture_disabled()
            if self._capture
            else contextlib.nullcontext()
        )
        with suspended:
            self._terminal.write(prefix + text + ("" if running else "\n"), flush=True)

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

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
    adversarial: dict[str, dict[str, Any]] = field(default_factory=dict)  # transform -> counts
    recordings: dict[str, dict[str, Any]] = field(default_factory=dict)  # case -> recording written

    def case(self, case_id: str) -> dict[str, Any]:
        return self.cases.setdefault(case_id, {"passed": 0, "failed": 0, "failures": []})

    @property
    def failed_cases(self) -> list[str]:
        return [case_id for case_id, entry in self.cases.items() if entry["failed"]]

    def to_json(self) -> dict[str, Any]:
        caught = sum(1 for entry in self.catches.values() if entry.get("caught"))
        return {
            "title": self.title,
            "severity": self.severity,
            "root_cause": self.root_cause,
            "files": sorted(self.files),
            "models": sorted(self.models),
            "outcomes": dict(self.outcomes),
            "cases": self.cases,
            "catches": self.catches,
            "catch_rate": caught / len(self.catches) if self.catches else None,
            **({"adversarial": _adversarial_json(self.adversarial)} if self.adversarial else {}),
            **({"recordings": self.recordings} if self.recordings else {}),
        }


class IncidentResults:
    """Collects one entry per incident from the reports of incident-case items."""

    def __init__(self) -> None:
        self.incidents: dict[str, IncidentResult] = {}
        self.collection_errors: dict[str, str] = {}
        self.behaviour_diffs: dict[str, Any] = {}

    def add_collection_error(self, report: pytest.CollectReport) -> None:
        self.collection_errors[report.nodeid] = _first_lines(str(report.longrepr))

    def add(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            # behaviour_diff fixtures attach their full diff as a user property (it crosses xdist).
            for name, value in report.user_properties:
                if name == "behaviour_diff" and isinstance(value, str):
                    self.behaviour_diffs.setdefault(report.nodeid, []).append(json.loads(value))
        data = getattr(report, "airecovery", None)
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
        entry.outcomes[outcome] += 1
        if data["kind"] == "record":
            entry.recordings[data["case"]] = {
                "path": data.get("recording"),
                "rewritten": data.get("rewritten"),
                "outcome": outcome,
            }
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
        if data["kind"] == "variant":
            from pytest_airecovery.adversarial.results import add_variant

            add_variant(entry.adversarial, data, outcome, report.nodeid)

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

    def case_file_nodeids(self) -> list[str]:
        return sorted({name for entry in self.incidents.values() for name in entry.files if name})

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
            if entry.adversarial:
                from pytest_airecovery.adversarial.results import summary_lines as adversarial_lines

                lines.extend(adversarial_lines(entry.adversarial))
        for nodeid in sorted(self.collection_errors):
            lines.append(f"{nodeid}: not loaded (collection error)")
        return lines

    def write_json(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        body = {
            "format": REPORT_FORMAT,
            "incidents": {key: self.incidents[key].to_json() for key in sorted(self.incidents)},
            "collection_errors": dict(sorted(self.collection_errors.items())),
            "behaviour_diffs": dict(sorted(self.behaviour_diffs.items())),
            **(extra or {}),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(body, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )


def _adversarial_json(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from pytest_airecovery.adversarial.results import to_json

    return to_json(table)


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

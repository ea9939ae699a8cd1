"""The promotion decision and its JSON + Markdown report.

promote: every criterion passed; move to the next phase (its traffic range is named).
rollback: a quality criterion failed (the candidate is worse, users complain, regressions fail).
hold: anything else, i.e. too little data or time, a traffic share outside the range, or a broken
configuration; stay in the phase and look again.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_airecovery.gates.phases import GateConfig
from pytest_airecovery.gates.verdicts import Outcome, Verdict, json_safe

QUALITY_CRITERIA = frozenset(
    {"no-anomalies", "match-baseline", "no-user-reports", "regression-tests", "stable-operation"}
)


@dataclass(frozen=True)
class Decision:
    action: str  # "promote", "hold" or "rollback"
    summary: str
    next_phase: str | None = None
    next_traffic: str | None = None


def decide(phase_name: str, verdicts: list[Verdict], settings: GateConfig | None) -> Decision:
    if not verdicts:
        return Decision("hold", "no gate criterion was evaluated")
    failing_quality = [
        v for v in verdicts if v.outcome is Outcome.FAIL and v.criterion in QUALITY_CRITERIA
    ]
    if failing_quality:
        labels = ", ".join(v.label for v in failing_quality)
        return Decision("rollback", f"route traffic back to the known-good model: {labels} failed")
    not_passed = [v for v in verdicts if v.outcome is not Outcome.PASS]
    if not_passed:
        labels = ", ".join(f"{v.label} ({v.outcome.value})" for v in not_passed)
        return Decision("hold", f"stay in {phase_name}: {labels}")
    phase = settings.phases.get(phase_name) if settings else None
    following = settings.next_phase(phase_name) if settings and phase else None
    if following is None:
        if phase is not None and phase.traffic_min >= 1.0:
            return Decision(
                "promote", f"{phase_name} complete: keep full traffic under ongoing monitoring"
            )
        # The last phase of a custom order need not be full traffic: say what is known only.
        traffic = f" at {phase.traffic_label()} of traffic" if phase else ""
        return Decision(
            "promote",
            f"{phase_name} complete{traffic}: no later phase is configured, "
            "choose the next step (add it to `order` to gate it)",
        )
    return Decision("promote", f"move to {following.name} at {following.traffic_label()} of traffic",
                    following.name, following.traffic_label())  # fmt: skip


def build_report(
    header: dict[str, Any], verdicts: list[Verdict], decision: Decision
) -> dict[str, Any]:
    return json_safe({
        **header,
        "decision": {"action": decision.action, "summary": decision.summary,
                     "next_phase": decision.next_phase, "next_traffic": decision.next_traffic},
        "criteria": [verdict.to_dict() for verdict in verdicts],
    })  # fmt: skip


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _evidence_cells(evidence: dict[str, Any]) -> list[str]:
    ci = evidence.get("ci")
    window = evidence.get("window")
    n_arms = (f"{_number(evidence.get('n_baseline'))} / {_number(evidence.get('n_candidate'))}"
              if "n_candidate" in evidence else "-")  # fmt: skip
    return [
        n_arms,
        _number(evidence.get("estimate")),
        f"[{_number(ci[0])}, {_number(ci[1])}]" if ci else "-",
        _number(evidence.get("p_value")),
        f"{window['start']} to {window['end']} ({window['duration']})" if window else "-",
    ]


ICONS = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️", "ERROR": "💥"}


def render_markdown(report: dict[str, Any]) -> str:
    decision = report["decision"]
    lines = [
        f"# Promotion gate: {report['phase']}",
        "",
        f"**Decision: {decision['action'].upper()}**: {decision['summary']}",
        "",
        f"- Source: `{report.get('source')}`",
        f"- Settings: `{report.get('settings')}`",
    ]
    if report.get("note"):
        lines.append(f"- Note: {report['note']}")
    lines += [f"- Data: {note}" for note in report.get("data_notes") or []]
    lines += [
        "",
        "| Criterion | Verdict | n (baseline / candidate) | Estimate | CI | p-value | Window |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in report["criteria"]:
        label = f"{item['criterion']}[{item['metric']}]" if item["metric"] else item["criterion"]
        cells = [f"`{label}`", f"{ICONS.get(item['outcome'], '')} {item['outcome']}",
                 *_evidence_cells(item["evidence"])]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Details", ""]
    for item in report["criteria"]:
        label = f"{item['criterion']}[{item['metric']}]" if item["metric"] else item["criterion"]
        message = item["message"].replace("\n", " ")
        lines.append(f"- **{label}**: {message}")
    if report.get("plots"):
        lines += ["", "## Baseline vs candidate", ""]
        # Relative links: the PNGs sit beside the Markdown, wherever the CI job uploads both.
        lines += [f"![{metric}]({name})" for metric, name in report["plots"].items()]
    elif report.get("plots_note"):
        lines += ["", f"_{report['plots_note']}_"]
    return "\n".join(lines) + "\n"


class OutputError(Exception):
    """A gate output (report, decision file) cannot be written; the message says where and why."""


def check_writable(path: Path) -> None:
    """Fail early, before the run, when `path` cannot be written (its folder is made if needed)."""
    try:
        if path.is_dir():
            raise OutputError(f"{path} is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        # A real write: permission bits say nothing under root or on a read-only mount.
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise OutputError(f"{path} is read-only")
    except OSError as error:
        raise OutputError(f"cannot write there: {error.strerror or error}") from None


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def write_report(path: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """JSON at `path`, Markdown twin beside it (same name, .md)."""
    _write_text(path, json.dumps(report, indent=2, allow_nan=False) + "\n")
    markdown = path.with_suffix(".md") if path.suffix != ".md" else path.with_suffix(".md.md")
    _write_text(markdown, render_markdown(report))
    return path, markdown


def write_decision(action: str, path: Path | None) -> None:
    """The decision word for pipelines: in a file of its own, and as a GitHub Actions step output.

    hold and rollback both exit 1, so a pipeline that must tell them apart reads the word
    instead of parsing the JSON report.
    """
    if path is not None:
        _write_text(path, action + "\n")
    github_output = os.environ.get("GITHUB_OUTPUT")
    if github_output:
        try:
            with open(github_output, "a", encoding="utf-8") as handle:
                handle.write(f"decision={action}\n")
        except OSError as error:
            raise OutputError(
                f"cannot append to $GITHUB_OUTPUT ({github_output}): {error.strerror or error}"
            ) from None

"""The promotion decision and its JSON/Markdown rendering."""

from __future__ import annotations

import json
import math
from pathlib import Path

from pytest_airecovery.gates.phases import parse_gate_config
from pytest_airecovery.gates.report import build_report, decide, render_markdown, write_report
from pytest_airecovery.gates.verdicts import Outcome, Verdict, json_safe

SETTINGS = parse_gate_config({})


def verdict(criterion: str, outcome: Outcome, metric: str | None = None) -> Verdict:
    return Verdict(criterion, metric, outcome, f"{outcome.value}: {criterion}")


def test_all_pass_promotes_to_the_next_phase() -> None:
    decision = decide("limited", [verdict("traffic-share", Outcome.PASS),
                                  verdict("match-baseline", Outcome.PASS, "latency")], SETTINGS)  # fmt: skip
    assert (decision.action, decision.next_phase, decision.next_traffic) == (
        "promote",
        "majority",
        "50-75%",
    )


def test_full_phase_passing_keeps_full_traffic() -> None:
    decision = decide("full", [verdict("stable-operation", Outcome.PASS, "latency")], SETTINGS)
    assert decision.action == "promote" and decision.next_phase is None
    assert "ongoing monitoring" in decision.summary


def test_quality_failure_rolls_back() -> None:
    decision = decide("canary", [verdict("traffic-share", Outcome.PASS),
                                 verdict("no-anomalies", Outcome.FAIL, "error_rate")], SETTINGS)  # fmt: skip
    assert decision.action == "rollback" and "no-anomalies[error_rate]" in decision.summary


def test_missing_data_traffic_or_errors_hold() -> None:
    for outcome, criterion in ((Outcome.INCONCLUSIVE, "no-anomalies"), (Outcome.ERROR, "no-anomalies"),
                               (Outcome.FAIL, "traffic-share"), (Outcome.FAIL, "duration")):  # fmt: skip
        decision = decide("canary", [verdict(criterion, outcome)], SETTINGS)
        assert decision.action == "hold", (criterion, outcome)
    assert decide("canary", [], SETTINGS).action == "hold"


def test_report_is_strict_json_and_markdown_has_the_table(tmp_path: Path) -> None:
    evidence = {"n_baseline": 300, "n_candidate": 290, "estimate": 1.5, "ci": [0.5, math.inf],
                "p_value": 0.01, "window": {"start": "a", "end": "b", "duration": "3h 00m"}}  # fmt: skip
    items = [Verdict("no-anomalies", "latency", Outcome.PASS, "fine", evidence)]
    report = build_report({"phase": "canary", "source": "x.json", "settings": "defaults"}, items,
                          decide("canary", items, SETTINGS))  # fmt: skip
    json_path, markdown_path = write_report(tmp_path / "out" / "gate.json", report)
    loaded = json.loads(json_path.read_text(encoding="utf-8"))
    assert loaded["criteria"][0]["evidence"]["ci"] == [0.5, None]  # inf is not JSON
    markdown = markdown_path.read_text(encoding="utf-8")
    assert markdown == render_markdown(loaded)
    assert (
        "| `no-anomalies[latency]` | ✅ PASS | 300 / 290 | 1.5 | [0.5, -] | 0.01 | a to b (3h 00m) |"
        in markdown
    )


def test_json_safe_converts_numpy_and_non_finite() -> None:
    import numpy as np

    assert json_safe({"a": np.float64(1.5), "b": np.int64(3), "c": [math.nan, np.bool_(True)]}) == {
        "a": 1.5, "b": 3, "c": [None, True],
    }  # fmt: skip

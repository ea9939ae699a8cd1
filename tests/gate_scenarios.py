"""End-to-end gate scenarios: simulated rollouts written as export files, judged as a user's run is.

The calibration simulator (gate_simulator.py) judges single criteria on MetricData built in
memory. Here each scenario goes the whole way: the simulator's arms (traffic with a daily cycle,
per-request latency, binomial errors, shared jitter) are written to an export file in one of the
three documented forms (column JSON, row JSON, CSV), with the gate settings in a YAML file, and
the gate decides as `pytest --incident-gate PHASE --incident-metrics FILE` would: `GateRun` reads
settings and file (the export readers and the data rules), evaluates every item of the phase, and
`report.decide` turns the verdicts into promote / hold / rollback.

Scenario classes (issue 12's numbered list, plus the simulator's regressed shapes):

| class | issue | must |
|---|---|---|
| healthy, small_arm | - | promote |
| improvement | 3 | promote (better is never worse) |
| alternating_band | 4 | promote (a small arm with outliers alternating above and below the band) |
| zero_trial_minutes | 5 | promote (a small arm whose error rows have 0-trial intervals) |
| duplicates_enough | 2 | promote (every row twice; enough unique samples) |
| heavy_tail | 1 | not promote (same median, heavy tail) |
| mean_shift, error_increase | - | not promote |
| duplicates_too_few | 2 | not promote (every row twice; unique samples below min_samples) |
| null_values, nan_values | 8 | not promote (null / NaN measurements) |
| exported_before_data, future_samples | 8 | not promote |

Class 6 (settings in the repo, export outside) is a pytester test in test_gate_scenarios.py, and
class 7 (Prometheus counts) is covered by tests/test_gates_prometheus*.py, not here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from gate_simulator import PHASES, SETTINGS, T0, PhasePlan, scenario

from pytest_airecovery.gates.report import decide
from pytest_airecovery.gates.runner import GateRun
from pytest_airecovery.gates.timeutil import format_timestamp
from pytest_airecovery.gates.verdicts import Outcome, Verdict, errored

# The simulator starts in 2027; real exports hold the past (the gate refuses future samples).
SCENARIO_T0 = 1_790_812_800.0  # 2026-10-01T00:00:00Z, weeks before these tests were written
SHIFT = SCENARIO_T0 - T0
FORMS = ("columns", "rows", "csv")
PHASE_NAMES = tuple(plan.name for plan in PHASES)

HEALTHY_CLASSES = (
    "healthy", "small_arm", "improvement", "alternating_band", "zero_trial_minutes",
    "duplicates_enough",
)  # fmt: skip
REGRESSION_CLASSES = ("heavy_tail", "mean_shift", "error_increase")
BAD_DATA_CLASSES = (
    "duplicates_too_few", "null_values", "nan_values", "exported_before_data", "future_samples",
)  # fmt: skip
CLASSES = HEALTHY_CLASSES + REGRESSION_CLASSES + BAD_DATA_CLASSES
ISSUE_ITEM = {
    "healthy": "-", "small_arm": "-", "improvement": "3", "alternating_band": "4",
    "zero_trial_minutes": "5", "duplicates_enough": "2", "heavy_tail": "1", "mean_shift": "-",
    "error_increase": "-", "duplicates_too_few": "2", "null_values": "8", "nan_values": "8",
    "exported_before_data": "8", "future_samples": "8",
}  # fmt: skip
# Which simulator shape each class starts from.
BASE_SHAPE = {
    "improvement": "improvement", "small_arm": "small_arm", "alternating_band": "small_arm",
    "zero_trial_minutes": "small_arm", "heavy_tail": "heavy_tail", "mean_shift": "mean_shift",
    "error_increase": "error_increase",
}  # fmt: skip
MAX_GAP = 300.0  # the default max_gap: a longer hole restarts the window

# Phases as a user configures them to judge metrics in every phase: limited and majority add
# the criteria the source table leaves out (majority's default judges no metric at all).
PHASE_SETTINGS: dict[str, Any] = {
    "limited": {"criteria": ["traffic-share", "duration", "no-anomalies", "match-baseline"]},
    "majority": {"criteria": ["traffic-share", "duration", "no-anomalies", "match-baseline",
                              "no-user-reports", "regression-tests"]},
}  # fmt: skip
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="0" errors="0" skipped="0">
<testcase classname="incident_cases.AI-IR-1" name="case-a"/>
<testcase classname="incident_cases.AI-IR-1" name="case-b"/>
<testcase classname="incident_cases.AI-IR-2" name="case-c"/>
</testsuite></testsuites>
"""


@dataclass
class Block:
    """One (metric, arm) series as the exporter writes it; `nulls` marks values written as null."""

    metric: str
    arm: str
    timestamps: np.ndarray
    values: np.ndarray
    trials: np.ndarray | None = None
    nulls: np.ndarray | None = None  # bool mask

    def null_mask(self) -> np.ndarray:
        return self.nulls if self.nulls is not None else np.zeros(self.values.size, dtype=bool)


@dataclass
class Export:
    """What one scenario writes: samples, the export time, metric definitions, gate settings."""

    blocks: list[Block]
    exported_at: float | None
    settings: dict[str, Any]
    duplicated: bool = False  # every row (every column block) written twice
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Judged:
    """The decision of one scenario in one form, and the verdicts that were not PASS."""

    action: str
    not_passed: tuple[str, ...]


def expected_promote(cls: str) -> bool:
    return cls in HEALTHY_CLASSES


def phase_plan(name: str) -> PhasePlan:
    return next(plan for plan in PHASES if plan.name == name)


# --- building a scenario ----------------------------------------------------------------------


def build(cls: str, phase: str, seed: int, wall_clock: float | None = None) -> Export:
    """The export of one scenario (class x phase x seed), deterministic in its arguments."""
    plan = phase_plan(phase)
    data, simulator_settings = scenario(BASE_SHAPE.get(cls, "healthy"), plan, seed)
    blocks = [Block(metric, arm, series.timestamps + SHIFT, series.values.copy(),
                    None if series.trials is None else series.trials.copy())
              for (metric, arm), series in sorted(data.series.items())]  # fmt: skip
    blocks.append(Block("traffic_share", "candidate", data.traffic.timestamps + SHIFT,
                        data.traffic.values.copy()))  # fmt: skip
    end = float(data.traffic.timestamps[-1]) + SHIFT
    if phase == "majority":  # no-user-reports: a clean poll every 5 minutes
        polls = np.arange(SCENARIO_T0, end + 1, 300.0)
        blocks.append(Block("user_reports", "", polls, np.zeros(polls.size)))
    settings: dict[str, Any] = {"metrics": json.loads(json.dumps(SETTINGS["metrics"]))}
    if phase in PHASE_SETTINGS:
        settings["phases"] = {phase: PHASE_SETTINGS[phase]}
    window = simulator_settings.get("baseline_window")
    if window:
        settings["baseline_window"] = {key: format_timestamp(value + SHIFT)
                                       for key, value in window.items()}  # fmt: skip
    assert data.as_of is not None
    export = Export(blocks, data.as_of + SHIFT, settings)
    rng = np.random.default_rng([seed, CLASSES.index(cls), PHASE_NAMES.index(phase), 12])
    _MODIFIERS.get(cls, lambda *_: None)(export, rng, plan, wall_clock)
    return export


def _block(export: Export, metric: str, arm: str) -> Block:
    return next(b for b in export.blocks if b.metric == metric and b.arm == arm)


def _live_start(export: Export) -> float:
    traffic = _block(export, "traffic_share", "candidate")
    return float(traffic.timestamps[np.argmax(traffic.values > 0)])


def _alternating_band(export: Export, rng: np.random.Generator, plan: PhasePlan, _: Any) -> None:
    """Six candidate latency points in a row, alternately 1.6x above and below the baseline's."""
    latency = _block(export, "latency", "candidate")
    baseline = _block(export, "latency", "baseline")
    first = int(rng.integers(10, latency.values.size - 10))
    for offset in range(6):
        index = first + offset
        paired = np.searchsorted(baseline.timestamps, latency.timestamps[index])
        reference = (baseline.values[paired] if paired < baseline.values.size
                     and baseline.timestamps[paired] == latency.timestamps[index]
                     else latency.values[index])  # fmt: skip
        latency.values[index] = reference * (1.6 if offset % 2 == 0 else 1 / 1.6)
    export.notes.append(f"alternating outliers from candidate latency point {first}")


def _zero_trial_minutes(export: Export, rng: np.random.Generator, plan: PhasePlan, _: Any) -> None:
    """5% of the candidate's intervals with no requests: 0 errors in 0 trials, no latency row.

    At the full phase's 5-minute step a missing latency row would open a 10-minute hole (longer
    than max_gap, which rightly restarts the stability clock), so there the latency row stays.
    """
    errors = _block(export, "errors", "candidate")
    assert errors.trials is not None
    live = np.flatnonzero(errors.timestamps >= _live_start(export))
    chosen = np.sort(rng.choice(live, size=max(3, live.size // 20), replace=False))
    errors.values[chosen] = 0.0
    errors.trials[chosen] = 0.0
    if 2 * plan.step <= MAX_GAP:
        latency = _block(export, "latency", "candidate")
        keep = ~np.isin(latency.timestamps, errors.timestamps[chosen])
        latency.timestamps, latency.values = latency.timestamps[keep], latency.values[keep]
    export.notes.append(f"{chosen.size} zero-trial candidate intervals")


def _duplicates(export: Export, *_: Any) -> None:
    export.duplicated = True


def _duplicates_too_few(export: Export, *_: Any) -> None:
    """Every row twice, and min_samples one above the largest count of unique samples."""
    export.duplicated = True
    largest = max(b.values.size for b in export.blocks if b.metric in SETTINGS["metrics"])
    export.settings["min_samples"] = largest + 1


def _null_values(export: Export, rng: np.random.Generator, *_: Any) -> None:
    latency = _block(export, "latency", "candidate")
    chosen = rng.choice(latency.values.size, size=3, replace=False)
    latency.nulls = np.zeros(latency.values.size, dtype=bool)
    latency.nulls[chosen] = True


def _nan_values(export: Export, rng: np.random.Generator, plan: PhasePlan, _: Any) -> None:
    """A NaN latency in the candidate arm and a NaN trials count in the baseline's errors."""
    latency = _block(export, "latency", "candidate")
    latency.values[int(rng.integers(latency.values.size))] = math.nan
    errors = _block(export, "errors", "baseline")
    assert errors.trials is not None
    # Inside the rollout (where the criteria look; in full, the baseline window is before it).
    reference = (
        errors.timestamps < _live_start(export)
        if plan.name == "full"
        else (errors.timestamps >= _live_start(export))
    )
    errors.trials[int(rng.choice(np.flatnonzero(reference)))] = math.nan


def _exported_before_data(export: Export, *_: Any) -> None:
    assert export.exported_at is not None
    export.exported_at -= 600.0  # ten minutes before the last samples


def _future_samples(
    export: Export, rng: np.random.Generator, plan: PhasePlan, wall_clock: float | None
) -> None:
    """The whole rollout moved so its last hour lies in the future; no exported_at."""
    now = time.time() if wall_clock is None else wall_clock
    last = max(float(b.timestamps[-1]) for b in export.blocks)
    move = now + 3600.0 - last
    for block in export.blocks:
        block.timestamps = block.timestamps + move
    window = export.settings.get("baseline_window")
    if window:
        export.settings["baseline_window"] = {key: format_timestamp(_epoch(text) + move)
                                              for key, text in window.items()}  # fmt: skip
    export.exported_at = None


def _epoch(text: str) -> float:
    from pytest_airecovery.gates.timeutil import parse_timestamp

    return parse_timestamp(text)


_MODIFIERS = {
    "alternating_band": _alternating_band,
    "zero_trial_minutes": _zero_trial_minutes,
    "duplicates_enough": _duplicates,
    "duplicates_too_few": _duplicates_too_few,
    "null_values": _null_values,
    "nan_values": _nan_values,
    "exported_before_data": _exported_before_data,
    "future_samples": _future_samples,
}


# --- writing the export in each form ---------------------------------------------------------


def _number(value: float) -> int | float:
    """Whole numbers as ints (how exporters write counts and epoch seconds); floats exact."""
    return int(value) if math.isfinite(value) and value == int(value) else float(value)


def _values(block: Block) -> list[Any]:
    values: list[Any] = [_number(v) for v in block.values.tolist()]
    for index in np.flatnonzero(block.null_mask()):
        values[index] = None
    return values


def _metric_table(export: Export) -> dict[str, Any]:
    return {name: dict(table) for name, table in export.settings["metrics"].items()}


def write_columns(export: Export, path: Path) -> None:
    """Column JSON: one block per (metric, arm); duplicated as the same block twice (retried pages)."""
    series = []
    for block in export.blocks:
        entry: dict[str, Any] = {"metric": block.metric, "arm": block.arm,
                                 "timestamps": [_number(t) for t in block.timestamps.tolist()],
                                 "values": _values(block)}  # fmt: skip
        if block.trials is not None:
            entry["trials"] = [_number(t) for t in block.trials.tolist()]
        series += [entry, entry] if export.duplicated else [entry]
    document = {"format": "airecovery-metrics/1", "metrics": _metric_table(export),
                "series": series}  # fmt: skip
    _dump(document, export, path)


def _rows(export: Export) -> Iterable[tuple[float, str, str, Any, Any]]:
    """Every sample as (timestamp, metric, arm, value, trials), in time order as exporters do."""
    rows = []
    for block in export.blocks:
        values = _values(block)
        trials = block.trials.tolist() if block.trials is not None else [None] * len(values)
        for stamp, value, trial in zip(block.timestamps.tolist(), values, trials, strict=True):
            rows.append((stamp, block.metric, block.arm, value,
                         None if trial is None else _number(trial)))  # fmt: skip
    rows.sort(key=lambda row: row[0])
    for row in rows:
        yield row
        if export.duplicated:
            yield row


def write_rows(export: Export, path: Path) -> None:
    """Row JSON with ISO 8601 timestamps."""
    rows = []
    for stamp, metric, arm, value, trials in _rows(export):
        row: dict[str, Any] = {"timestamp": format_timestamp(stamp), "metric": metric,
                               "arm": arm, "value": value}  # fmt: skip
        if trials is not None:
            row["trials"] = trials
        rows.append(row)
    document = {"format": "airecovery-metrics/1", "metrics": _metric_table(export), "rows": rows}
    _dump(document, export, path)


def _dump(document: dict[str, Any], export: Export, path: Path) -> None:
    if export.exported_at is not None:
        document["exported_at"] = format_timestamp(export.exported_at)
    # NaN is written as the NaN literal (Python's json, and many exporters, do): read as NaN.
    path.write_text(json.dumps(document), encoding="utf-8")


def write_csv(export: Export, path: Path) -> None:
    """CSV with epoch-second timestamps; null as an empty cell, NaN as `nan`."""
    lines = []
    if export.exported_at is not None:
        lines.append(f"# exported_at: {format_timestamp(export.exported_at)}")
    lines.append("timestamp,metric,arm,value,trials")
    for stamp, metric, arm, value, trials in _rows(export):
        cells = [_number(stamp), metric, arm, value, trials]
        lines.append(",".join("" if cell is None else repr(cell) if isinstance(cell, float)
                              else str(cell) for cell in cells))  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


WRITERS = {"columns": (write_columns, ".json"), "rows": (write_rows, ".json"),
           "csv": (write_csv, ".csv")}  # fmt: skip


def write(export: Export, form: str, folder: Path, stem: str) -> tuple[Path, Path]:
    """The export file in `form` and its settings file (YAML); both in `folder`.

    JSON exports declare the metrics in their own `metrics` table and the settings leave them
    out; a CSV export has no such table, so its settings define them (both paths are real).
    """
    writer, suffix = WRITERS[form]
    export_path = folder / f"{stem}.{form}{suffix}"
    writer(export, export_path)
    settings = dict(export.settings)
    if form != "csv":
        settings.pop("metrics")
    junit = folder / "incident-cases.xml"
    if not junit.exists():
        junit.write_text(JUNIT, encoding="utf-8")
    settings["regression_junit"] = str(junit)
    config_path = folder / f"{stem}.{form}.yaml"
    config_path.write_text(yaml.safe_dump(settings, sort_keys=True), encoding="utf-8")
    return export_path, config_path


# --- judging it as the plugin does -----------------------------------------------------------


def gate_verdicts(phase: str, export_path: Path, config_path: Path) -> tuple[list[Verdict], Any]:
    """Every gate item's verdict, as `pytest --incident-gate PHASE` collects and runs them."""
    run = GateRun(phase, str(export_path), str(config_path), export_path.parent)
    run.load()
    if run.load_error is not None:
        return [errored("configuration", None, run.load_error)], run
    return [run.evaluate(check) for check in run.checks()], run


def judge(phase: str, export_path: Path, config_path: Path) -> Judged:
    verdicts, run = gate_verdicts(phase, export_path, config_path)
    decision = decide(phase, verdicts, run.settings)
    not_passed = tuple(f"{v.label}={v.outcome.value}" for v in verdicts
                       if v.outcome is not Outcome.PASS)  # fmt: skip
    return Judged(decision.action, not_passed)


# --- many scenarios ---------------------------------------------------------------------------


@dataclass
class Cell:
    """Tally of one (class, phase, form): decisions, and the seeds where the decision was wrong."""

    scenarios: int = 0
    actions: dict[str, int] = field(
        default_factory=lambda: {"promote": 0, "hold": 0, "rollback": 0}
    )
    wrong: list[tuple[int, str, tuple[str, ...]]] = field(default_factory=list)


def run_scenarios(seeds: Iterable[int], folder: Path, classes: Iterable[str] = CLASSES,
                  phases: Iterable[str] = PHASE_NAMES, forms: Iterable[str] = FORMS,
                  ) -> dict[tuple[str, str, str], Cell]:  # fmt: skip
    """(class, phase, form) -> Cell; every scenario is written to `folder` and judged."""
    table: dict[tuple[str, str, str], Cell] = {}
    forms = tuple(forms)
    for cls in classes:
        for phase in phases:
            for seed in seeds:
                export = build(cls, phase, seed)
                for form in forms:
                    paths = write(export, form, folder, "scenario")
                    result = judge(phase, *paths)
                    cell = table.setdefault((cls, phase, form), Cell())
                    cell.scenarios += 1
                    cell.actions[result.action] += 1
                    if (result.action == "promote") != expected_promote(cls):
                        cell.wrong.append((seed, result.action, result.not_passed))
    return table


def totals(table: dict[tuple[str, str, str], Cell]) -> dict[str, int]:
    healthy = [c for (cls, _, _), c in table.items() if expected_promote(cls)]
    other = [c for (cls, _, _), c in table.items() if not expected_promote(cls)]
    return {
        "healthy": sum(c.scenarios for c in healthy),
        "healthy_promoted": sum(c.actions["promote"] for c in healthy),
        "must_not_promote": sum(c.scenarios for c in other),
        "false_passes": sum(c.actions["promote"] for c in other),
    }


def format_table(table: dict[tuple[str, str, str], Cell]) -> str:
    """Markdown: a row per class and phase, each export form's promote / hold / rollback."""
    forms = list(dict.fromkeys(form for _, _, form in table))
    lines = ["| Class | Issue item | Phase | " + " | ".join(f"{form}: P / H / R" for form in forms)
             + " | Scenarios | False passes | False fails or holds |",
             "|---" * (6 + len(forms)) + "|"]  # fmt: skip
    for cls, phase in dict.fromkeys((cls, phase) for cls, phase, _ in table):
        cells = [table[(cls, phase, form)] for form in forms if (cls, phase, form) in table]
        shown = [f"{c.actions['promote']} / {c.actions['hold']} / {c.actions['rollback']}"
                 for c in cells]  # fmt: skip
        scenarios = sum(c.scenarios for c in cells)
        promoted = sum(c.actions["promote"] for c in cells)
        healthy = expected_promote(cls)
        lines.append(f"| {cls} | {ISSUE_ITEM[cls]} | {phase} | " + " | ".join(shown)
                     + f" | {scenarios} | {'-' if healthy else promoted} | "
                     f"{scenarios - promoted if healthy else '-'} |")  # fmt: skip
    return "\n".join(lines)


def scale_candidate(export: Export, metric: str, factor: float) -> None:
    """Every candidate value of `metric` times `factor` (a plain shift, for settings tests)."""
    block = _block(export, metric, "candidate")
    block.values = block.values * factor

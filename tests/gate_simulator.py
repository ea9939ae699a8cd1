"""A seeded simulator of rollout data, to measure how often the gate's criteria are wrong.

Traffic has a daily cycle; each arm's per-minute value is computed from its own requests (a
lognormal latency per request, averaged; errors drawn binomially from the arm's request count), so a
1% canary is as noisy as it really is; both arms share a per-minute jitter (load, upstream
incidents) and the cycle. Shapes:

- healthy: the candidate is the baseline model.
- small_arm: healthy, at the bottom of the phase's traffic range (1% in canary).
- improvement: latency 2.5% lower, error rate 10% lower.
- heavy_tail: same median latency, but 12% of minutes (scattered) are 2.5-4x slower
  (mean about x1.27, p90 more than double).
- mean_shift: every request 15% slower (latency margin 5%).
- error_increase: error rate x3 (1% -> 3%; margin 0.5 points).

`run_calibration` draws each shape at many seeds in each phase (canary, limited, majority at one
sample per minute; full at 72 h with one sample per 5 minutes, judged against a pre-incident
baseline window) and counts, per criterion, how often the verdict was wrong: a PASS on a
regressed metric (false pass) or anything but PASS on a healthy one (false fail).
`python benchmarks/gate_calibration.py` prints the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_airecovery.gates.context import GateContext
from pytest_airecovery.gates.criteria import evaluate
from pytest_airecovery.gates.phases import parse_gate_config
from pytest_airecovery.gates.sources import EMPTY_SERIES, MetricData, Series
from pytest_airecovery.gates.verdicts import Outcome

T0 = 1_800_000_000.0
DAY = 86400.0
REQUESTS_PER_MINUTE = 1500.0  # both arms together, at the daily mean: a 1% canary gets ~15 a minute
LATENCY_MEDIAN_MS = 200.0
LATENCY_SIGMA = 0.5  # lognormal shape of one request's latency
ERROR_RATE = 0.01
JITTER = 0.05  # shared per-minute jitter (lognormal sigma)

HEALTHY_SHAPES = ("healthy", "small_arm", "improvement")
REGRESSION_SHAPES = ("heavy_tail", "mean_shift", "error_increase")
SHAPES = HEALTHY_SHAPES + REGRESSION_SHAPES
# Which metric each regression breaks (a PASS on it is a false pass).
REGRESSED_METRIC = {"heavy_tail": "latency", "mean_shift": "latency", "error_increase": "errors"}
METRICS = ("latency", "errors")


@dataclass(frozen=True)
class PhasePlan:
    name: str
    share_range: tuple[float, float]
    hours: float
    step: float  # seconds per sample
    criteria: tuple[str, ...]


PHASES = (
    PhasePlan("canary", (0.01, 0.05), 2.5, 60.0, ("no-anomalies",)),
    PhasePlan("limited", (0.10, 0.25), 4.5, 60.0, ("no-anomalies", "match-baseline")),
    PhasePlan("majority", (0.50, 0.75), 8.5, 60.0, ("no-anomalies", "match-baseline")),
    PhasePlan("full", (1.0, 1.0), 73.0, 300.0, ("stable-operation",)),
)
BASELINE_WINDOW_HOURS = 24.0  # full: the pre-incident reference, one whole daily cycle

SETTINGS: dict[str, Any] = {
    "metrics": {
        "latency": {"kind": "continuous", "direction": "lower", "margin": 0.05, "slo_max": 500},
        "errors": {"kind": "proportion", "direction": "lower", "margin": 0.005,
                   "margin_kind": "absolute", "slo_max": 0.05},
    },
}  # fmt: skip


# Above this many requests an interval's mean latency is drawn from its normal limit (CLT);
# below, from the requests themselves, so a small arm keeps its skew.
EXACT_UP_TO = 60


def _arm_values(rng: np.random.Generator, requests: np.ndarray, median: np.ndarray,
                error_rate: np.ndarray, latency_factor: np.ndarray) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Per-interval mean latency of the arm's own requests, and its errors (binomial)."""
    scale = median * latency_factor
    spread = np.exp(LATENCY_SIGMA**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        latency = (
            scale
            * np.sqrt(spread)
            * (1 + np.sqrt((spread - 1) / requests) * rng.normal(size=requests.size))
        )
    small = (requests > 0) & (requests <= EXACT_UP_TO)
    counts = requests[small]
    owner = np.repeat(np.arange(counts.size), counts)
    draws = np.exp(rng.normal(0.0, LATENCY_SIGMA, int(counts.sum()))) * scale[small][owner]
    latency[small] = np.bincount(owner, weights=draws, minlength=counts.size) / counts
    errors = rng.binomial(requests, np.clip(error_rate, 0.0, 1.0))
    return latency, errors.astype(float)


def scenario(shape: str, phase: PhasePlan, seed: int) -> tuple[MetricData, dict[str, Any]]:
    """One rollout's data and settings (shape x phase x seed), deterministic in the seed."""
    rng = np.random.default_rng(
        [seed, SHAPES.index(shape), [p.name for p in PHASES].index(phase.name)]
    )
    low, high = phase.share_range
    share = low if shape == "small_arm" else float(rng.uniform(low, high))
    lead = BASELINE_WINDOW_HOURS * 3600 if phase.name == "full" else 1800.0
    start, end = T0 + lead, T0 + lead + phase.hours * 3600
    times = np.arange(T0, end + 1, phase.step)
    cycle_offset = rng.uniform(0, DAY)
    cycle = np.sin(2 * np.pi * (times + cycle_offset) / DAY)
    volume = REQUESTS_PER_MINUTE * phase.step / 60.0 * (1 + 0.5 * cycle)
    jitter = np.exp(rng.normal(0, JITTER, times.size))  # shared by both arms
    median = LATENCY_MEDIAN_MS * (1 + 0.15 * cycle) * jitter
    rate = ERROR_RATE * (1 + 0.3 * cycle) * jitter
    live = times >= start
    shares = np.where(live, share, 0.0)
    series: dict[tuple[str, str], Series] = {}
    for arm in ("baseline", "candidate"):
        arm_share = shares if arm == "candidate" else 1 - shares
        requests = rng.poisson(volume * arm_share)
        factor = np.ones(times.size)
        arm_rate = rate.copy()
        if arm == "candidate":
            factor, arm_rate = _regress(rng, shape, factor, arm_rate)
        latency, errors = _arm_values(rng, requests, median, arm_rate, factor)
        keep = requests > 0 if arm == "candidate" else (times < start) | (requests > 0)
        if phase.name == "full" and arm == "baseline":
            keep &= times < start  # at 100% the baseline exists only before the rollout
        if arm == "candidate":
            keep &= live
        has_requests = keep & (requests > 0)
        series[("latency", arm)] = Series(times[has_requests], latency[has_requests])
        # Error rows keep zero-trial minutes: they must be skipped, never an error.
        series[("errors", arm)] = Series(times[keep], errors[keep], requests[keep].astype(float))
    traffic = Series(times, shares)
    data = MetricData(series, traffic, EMPTY_SERIES, end + 30.0, f"simulated {shape}")
    settings = dict(SETTINGS)
    if phase.name == "full":
        settings["baseline_window"] = {"start": T0, "end": start - 1}
    return data, settings


def _regress(rng: np.random.Generator, shape: str, factor: np.ndarray,
             rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    if shape == "improvement":
        return factor * 0.975, rate * 0.9
    if shape == "heavy_tail":
        slow = rng.random(factor.size) < 0.12
        return np.where(slow, rng.uniform(2.5, 4.0, factor.size), factor), rate
    if shape == "mean_shift":
        return factor * 1.15, rate
    if shape == "error_increase":
        return factor, rate * 3.0
    return factor, rate


def judge(shape: str, phase: PhasePlan, seed: int) -> dict[tuple[str, str], Outcome]:
    """Every (criterion, metric) verdict of one scenario."""
    data, settings = scenario(shape, phase, seed)
    config = parse_gate_config(settings)
    gate_phase = config.phase(phase.name)
    context = GateContext(config, gate_phase, data, Path("."))
    return {(criterion, metric): evaluate(context, criterion, metric).outcome
            for criterion in phase.criteria for metric in METRICS}  # fmt: skip


@dataclass
class Tally:
    wrong: int = 0
    total: int = 0
    examples: tuple[int, ...] = ()

    @property
    def rate(self) -> float:
        return self.wrong / self.total if self.total else 0.0


def run_calibration(seeds: Iterable[int], shapes: Iterable[str] = SHAPES,
                    phases: Iterable[PhasePlan] = PHASES) -> dict[tuple[str, str, str], Tally]:  # fmt: skip
    """(shape, phase, criterion) -> wrong verdicts: false passes or false fails."""
    seeds = list(seeds)
    table: dict[tuple[str, str, str], Tally] = {}
    for phase in phases:
        for shape in shapes:
            for seed in seeds:
                outcomes = judge(shape, phase, seed)
                for criterion in phase.criteria:
                    tally = table.setdefault((shape, phase.name, criterion), Tally())
                    tally.total += 1
                    if _wrong(shape, criterion, outcomes):
                        tally.wrong += 1
                        tally.examples = (*tally.examples, seed)[:5]
    return table


def _wrong(shape: str, criterion: str, outcomes: dict[tuple[str, str], Outcome]) -> bool:
    if shape in REGRESSION_SHAPES:
        return outcomes[(criterion, REGRESSED_METRIC[shape])] is Outcome.PASS
    return any(outcomes[(criterion, metric)] is not Outcome.PASS for metric in METRICS)


def format_table(table: dict[tuple[str, str, str], Tally], alpha: float,
                 anomaly_alpha: float) -> str:  # fmt: skip
    lines = [f"alpha = {alpha:g} (match-baseline, one-sided), anomaly_alpha = {anomaly_alpha:g}",
             "", "| Shape | Phase | Criterion | Wrong verdicts | Rate | Kind |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for (shape, phase, criterion), tally in table.items():
        kind = "false pass" if shape in REGRESSION_SHAPES else "false fail"
        lines.append(f"| {shape} | {phase} | {criterion} | {tally.wrong}/{tally.total} | "
                     f"{100 * tally.rate:.1f}% | {kind} |")  # fmt: skip
    return "\n".join(lines)

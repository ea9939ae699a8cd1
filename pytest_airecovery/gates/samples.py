"""Shared checks of the statistical criteria: window, data presence, freshness, sample counts.

Every criterion fails closed through these: before any statistic is computed, the data must exist,
be finite, fresh, numerous enough and span at least the phase's minimum duration; otherwise the
verdict is INCONCLUSIVE and says what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytest_airecovery.gates.context import GateContext, rates
from pytest_airecovery.gates.phases import MetricSpec
from pytest_airecovery.gates.sources import Series
from pytest_airecovery.gates.stats import longest_true_run
from pytest_airecovery.gates.timeutil import format_duration, format_timestamp
from pytest_airecovery.gates.verdicts import Verdict, inconclusive


@dataclass(frozen=True)
class Samples:
    """A metric's comparable values in the rollout window, both arms, time-ordered."""

    spec: MetricSpec
    baseline: Series
    candidate: Series
    baseline_values: np.ndarray
    candidate_values: np.ndarray
    baseline_label: str  # "concurrent control" or the pre-incident window


def window_problem(context: GateContext, criterion: str, metric: str | None) -> Verdict | None:
    window = context.window
    if not window.exists:
        # Even a share outside the range is only "cannot judge" here: traffic-share reports it.
        return inconclusive(criterion, metric, f"no rollout window: {window.reason}")
    if window.seconds < context.phase.min_duration:
        return inconclusive(
            criterion,
            metric,
            f"the rollout window is {format_duration(window.seconds)}, shorter than the "
            f"{context.phase.name} minimum of {format_duration(context.phase.min_duration)}",
            **window.describe(),
        )
    return None


def baseline_series(
    context: GateContext, metric: str, start: float, end: float
) -> tuple[Series, str]:
    full = context.data.get(metric, "baseline")
    config = context.config
    if config.baseline_window is None:
        return full.between(start, end), "concurrent control"
    chosen = full.between(config.baseline_window.start, config.baseline_window.end)
    if config.incident_window is not None:
        chosen = chosen.outside(config.incident_window.start, config.incident_window.end)
    label = (
        f"pre-incident window {format_timestamp(config.baseline_window.start)} to "
        f"{format_timestamp(config.baseline_window.end)}"
    )
    return chosen, label


def window_samples(
    context: GateContext,
    criterion: str,
    metric: str,
    start: float,
    end: float,
    *,
    need_baseline: bool = True,
    min_span: float | None = None,
) -> Samples | Verdict:
    """The checks every statistical criterion shares; a Verdict means "stop here"."""
    data, config = context.data, context.config
    if data.is_empty:
        return inconclusive(criterion, metric, f"the metric source {data.description} is empty")
    if metric not in data.metric_names():
        return inconclusive(
            criterion, metric, f"metric {metric} is missing from {data.description}"
        )
    spec = context.metric_spec(metric)
    candidate = data.get(metric, "candidate").between(start, end)
    baseline, label = baseline_series(context, metric, start, end)
    arms = (
        {"candidate": candidate, "baseline": baseline}
        if need_baseline
        else {"candidate": candidate}
    )
    evidence = {"n_baseline": baseline.size, "n_candidate": candidate.size, "baseline": label}
    for arm, series in arms.items():
        bad = int((~np.isfinite(series.values)).sum())
        bad += 0 if series.trials is None else int((~np.isfinite(series.trials)).sum())
        if bad:
            return inconclusive(
                criterion,
                metric,
                f"{bad} NaN/inf value(s) in the {arm} arm of {metric}",
                **evidence,
            )
        if series.size < config.min_samples:
            return inconclusive(
                criterion,
                metric,
                f"{series.size} {arm} sample(s) of {metric} in the window, need {config.min_samples}",
                **evidence,
            )
    if min_span is not None:
        # The traffic window may be long while this metric's data covers only part of it.
        concurrent = need_baseline and config.baseline_window is None
        for arm, series in arms.items() if concurrent else [("candidate", candidate)]:
            span = float(series.timestamps[-1] - series.timestamps[0])
            if span < min_span:
                return inconclusive(
                    criterion,
                    metric,
                    f"the {arm} data of {metric} spans {format_duration(span)} of the window, "
                    f"the {context.phase.name} minimum is {format_duration(context.phase.min_duration)}",
                    **evidence,
                )
    age = context.staleness(float(data.get(metric, "candidate").timestamps[-1]))
    if age > config.max_staleness:
        return inconclusive(
            criterion,
            metric,
            f"{metric} data is stale: the latest candidate sample is {format_duration(age)} old "
            f"(max {format_duration(config.max_staleness)})",
            **evidence,
        )
    baseline_values = rates(baseline, spec) if need_baseline else np.empty(0)
    return Samples(spec, baseline, candidate, baseline_values, rates(candidate, spec), label)


def slo_breaches(values: np.ndarray, spec: MetricSpec, min_run: int) -> list[str]:
    breaches = []
    for limit, outside, word in (
        (spec.slo_max, values > (spec.slo_max or 0), "above"),
        (spec.slo_min, values < (spec.slo_min or 0), "below"),
    ):
        if limit is not None:
            run = longest_true_run(outside)
            if run >= min_run:
                breaches.append(f"{run} consecutive points {word} the SLO limit {limit:g}")
    return breaches

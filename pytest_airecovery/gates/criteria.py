"""The statistical exit criteria and the registry of all criteria.

no-anomalies, match-baseline and stable-operation judge a metric's candidate arm against its
baseline; the shared fail-closed checks live in `samples.py`, the rollout criteria (traffic share,
duration, user reports, regression tests) in `rollout.py`. Broken configuration or source data
gives ERROR.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pytest_airecovery.gates.context import GateContext
from pytest_airecovery.gates.hodges_lehmann import hodges_lehmann_interval
from pytest_airecovery.gates.phases import PER_METRIC_CRITERIA, GateConfigError
from pytest_airecovery.gates.rollout import (
    duration,
    no_user_reports,
    regression_tests,
    traffic_share,
)
from pytest_airecovery.gates.samples import Samples, slo_breaches, window_problem, window_samples
from pytest_airecovery.gates.sources import GateSourceError
from pytest_airecovery.gates.stats import (
    BandResult,
    binomial_band_anomaly,
    mad_band_anomaly,
    mann_whitney_u,
    non_inferiority_continuous,
    non_inferiority_proportion,
    two_proportion_test,
)
from pytest_airecovery.gates.timeutil import format_duration, format_timestamp
from pytest_airecovery.gates.verdicts import Verdict, errored, failed, inconclusive, passed

Criterion = Callable[[GateContext, "str | None"], Verdict]


def _proportion_shift(
    samples: Samples, alpha: float, width: float, min_run: int
) -> tuple[float, tuple[float, float], float, BandResult]:
    """Pooled two-proportion test and a binomial band: rates of unequal volumes stay comparable."""
    base, cand = samples.baseline, samples.candidate
    assert base.trials is not None and cand.trials is not None
    base_events, base_trials = int(base.values.sum()), int(base.trials.sum())
    test = two_proportion_test(
        base_events, base_trials, int(cand.values.sum()), int(cand.trials.sum()), 1 - alpha
    )
    band = binomial_band_anomaly(
        base_events / base_trials, cand.values, cand.trials, width=width, min_run=min_run
    )
    return test.difference, (test.ci_low, test.ci_high), test.pvalue, band


def _min_span(context: GateContext) -> float:
    # Sampling rarely lines up with the traffic window's edges: allow one tolerated gap.
    return max(0.0, context.phase.min_duration - context.config.max_gap)


def _samples_in_window(context: GateContext, name: str, metric: str | None) -> Samples | Verdict:
    """The metric's baseline and candidate samples in the rollout window, or the verdict why not."""
    assert metric is not None
    if (problem := window_problem(context, name, metric)) is not None:
        return problem
    window = context.window
    return window_samples(
        context, name, metric, window.start or 0.0, window.end or 0.0, min_span=_min_span(context)
    )


def no_anomalies(context: GateContext, metric: str | None) -> Verdict:
    name = "no-anomalies"
    samples = _samples_in_window(context, name, metric)
    if isinstance(samples, Verdict):
        return samples
    window, config = context.window, context.config
    base, cand = samples.baseline_values, samples.candidate_values
    if samples.spec.kind == "proportion":
        shift_estimate, shift_ci, pvalue, band = _proportion_shift(
            samples, config.anomaly_alpha, config.band_width, config.min_run
        )
        baseline_level = band.centre
    else:
        band = mad_band_anomaly(base, cand, width=config.band_width, min_run=config.min_run)
        pvalue = mann_whitney_u(cand, base, "two-sided").pvalue
        interval = hodges_lehmann_interval(base, cand, confidence=1 - config.anomaly_alpha)
        shift_estimate, shift_ci = interval.estimate, (interval.low, interval.high)
        baseline_level = float(np.median(base))
    material = abs(shift_estimate) > config.min_shift * abs(baseline_level)
    reasons = []
    if band.anomalous:
        reasons.append(
            f"{band.longest_run} consecutive points outside the baseline band "
            f"[{band.low:.4g}, {band.high:.4g}] (limit {config.min_run})"
        )
    if pvalue < config.anomaly_alpha and material:
        reasons.append(
            f"shift {shift_estimate:+.4g} vs baseline (p={pvalue:.2g} < {config.anomaly_alpha:g})"
        )
    reasons += slo_breaches(cand, samples.spec, config.min_run)
    evidence = {
        "n_baseline": base.size,
        "n_candidate": cand.size,
        "baseline": samples.baseline_label,
        "estimate": shift_estimate,
        "ci": list(shift_ci),
        "ci_confidence": 1 - config.anomaly_alpha,
        "p_value": pvalue,
        "band": [band.low, band.high],
        "longest_run_outside": band.longest_run,
        "points_outside": band.points_outside,
        "slo": [samples.spec.slo_min, samples.spec.slo_max],
        **window.describe(),
    }
    if reasons:
        return failed(name, metric, f"{metric}: " + "; ".join(reasons), **evidence)
    return passed(
        name,
        metric,
        f"{metric}: within the baseline band, no significant shift (p={pvalue:.2g}), SLOs met",
        **evidence,
    )


def match_baseline(context: GateContext, metric: str | None) -> Verdict:
    name = "match-baseline"
    samples = _samples_in_window(context, name, metric)
    if isinstance(samples, Verdict):
        return samples
    window, config = context.window, context.config
    spec = samples.spec
    if spec.direction is None:
        raise GateConfigError(
            f"metric {metric} needs direction = 'higher' or 'lower' for match-baseline"
        )
    if spec.kind == "proportion":
        assert samples.baseline.trials is not None and samples.candidate.trials is not None
        result = non_inferiority_proportion(
            int(samples.baseline.values.sum()),
            int(samples.baseline.trials.sum()),
            int(samples.candidate.values.sum()),
            int(samples.candidate.trials.sum()),
            spec.margin,
            margin_kind=spec.margin_kind,
            direction=spec.direction,
            alpha=config.alpha,
        )
    else:
        result = non_inferiority_continuous(
            samples.baseline_values,
            samples.candidate_values,
            spec.margin,
            margin_kind=spec.margin_kind,
            direction=spec.direction,
            alpha=config.alpha,
        )
    better = "higher" if spec.direction == "higher" else "lower"
    evidence = {
        "n_baseline": samples.baseline.size,
        "n_candidate": samples.candidate.size,
        "baseline": samples.baseline_label,
        "estimate": result.estimate,
        "ci": [result.ci_low, result.ci_high],
        "ci_confidence": 1 - 2 * config.alpha,
        "bound": result.bound,
        "margin": result.margin,
        "p_value": result.pvalue,
        "direction": spec.direction,
        "method": result.method,
        **window.describe(),
    }
    if spec.kind == "proportion":
        evidence["trials"] = [result.n_baseline, result.n_candidate]
    summary = (
        f"{metric} ({better} is better): candidate - baseline = {result.estimate:+.4g}, "
        f"{100 * (1 - config.alpha):g}% bound {result.bound:+.4g}, margin "
        f"{'-' if spec.direction == 'higher' else '+'}{result.margin:.4g}, p={result.pvalue:.2g}"
    )
    if result.non_inferior:
        return passed(name, metric, summary, **evidence)
    worse_than_margin = (
        result.estimate < -result.margin
        if spec.direction == "higher"
        else result.estimate > result.margin
    )
    if worse_than_margin:
        return failed(name, metric, f"regressed beyond the margin: {summary}", **evidence)
    return inconclusive(
        name, metric, f"not shown non-inferior (more data needed): {summary}", **evidence
    )


def stable_operation(context: GateContext, metric: str | None) -> Verdict:
    name, config, phase = "stable-operation", context.config, context.phase
    assert metric is not None
    window = context.window
    if not window.exists:
        return inconclusive(name, metric, f"no rollout window: {window.reason}")
    candidate_all = context.data.get(metric, "candidate").between(
        window.start or 0.0, window.end or 0.0
    )
    stamps = candidate_all.timestamps
    # A gap longer than max_gap means we cannot vouch for that time: the clock restarts after it.
    gaps = np.flatnonzero(np.diff(stamps) > config.max_gap) if stamps.size > 1 else np.empty(0, int)
    if stamps.size:
        # The clock covers only time the data vouches for: from the first sample after the last
        # long gap (or the first sample at all) to the latest sample.
        clock_start = float(stamps[gaps[-1] + 1]) if gaps.size else float(stamps[0])
        clock_end = float(stamps[-1])
    else:
        clock_start = clock_end = window.start or 0.0
    samples = window_samples(
        context,
        name,
        metric,
        clock_start,
        window.end or 0.0,
        need_baseline=config.baseline_window is not None,
    )
    if isinstance(samples, Verdict):
        return samples
    stable_for = clock_end - clock_start
    evidence = {
        "stable_seconds": stable_for,
        "required_seconds": phase.min_duration,
        "clock_start": format_timestamp(clock_start),
        "restarts": int(gaps.size),
        "n_candidate": samples.candidate.size,
        "n_baseline": samples.baseline.size,
    }
    if stable_for < phase.min_duration:
        restarted = (
            f" (clock restarted after a data gap at {format_timestamp(clock_start)})"
            if gaps.size
            else ""
        )
        return inconclusive(
            name,
            metric,
            f"{metric} stable for {format_duration(stable_for)} of the "
            f"required {format_duration(phase.min_duration)}{restarted}",
            **evidence,
        )
    spec, cand = samples.spec, samples.candidate_values
    has_slo = spec.slo_min is not None or spec.slo_max is not None
    if not has_slo and config.baseline_window is None:
        return inconclusive(
            name,
            metric,
            f"nothing to judge {metric}'s stability against: set "
            "slo_min/slo_max for it or a baseline_window",
        )
    reasons = slo_breaches(cand, spec, config.min_run)
    if config.baseline_window is not None:
        band = mad_band_anomaly(
            samples.baseline_values, cand, width=config.band_width, min_run=config.min_run
        )
        evidence.update(band=[band.low, band.high], longest_run_outside=band.longest_run)
        if band.anomalous:
            reasons.append(f"{band.longest_run} consecutive points outside the baseline band")
    if reasons:
        return failed(name, metric, f"{metric}: " + "; ".join(reasons), **evidence)
    return passed(
        name,
        metric,
        f"{metric} stable for {format_duration(stable_for)} "
        f"(required {format_duration(phase.min_duration)})",
        **evidence,
    )


CRITERION_FUNCTIONS: dict[str, Criterion] = {
    "traffic-share": traffic_share,
    "duration": duration,
    "no-anomalies": no_anomalies,
    "match-baseline": match_baseline,
    "no-user-reports": no_user_reports,
    "regression-tests": regression_tests,
    "stable-operation": stable_operation,
}


def evaluate(context: GateContext, criterion: str, metric: str | None) -> Verdict:
    """Run one criterion; configuration and source problems become ERROR verdicts."""
    function = CRITERION_FUNCTIONS.get(criterion)
    if function is None:
        return errored(criterion, metric, f"unknown criterion {criterion!r}")
    if criterion in PER_METRIC_CRITERIA and metric is None:
        return inconclusive(
            criterion,
            None,
            "no metric to judge: none is configured for the "
            f"{context.phase.name} phase and the source has none",
        )
    try:
        return function(context, metric)
    except (GateConfigError, GateSourceError) as error:
        return errored(criterion, metric, str(error))

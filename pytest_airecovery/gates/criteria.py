"""The exit criteria of the rollout phases, each a function of a GateContext returning a Verdict.

Every criterion fails closed: before any statistic is computed, the data must exist, be finite,
fresh, numerous enough and span at least the phase's minimum duration; otherwise the verdict is
INCONCLUSIVE and says what is missing. Broken configuration or source data gives ERROR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pytest_airecovery.gates.context import GateContext, rates
from pytest_airecovery.gates.hodges_lehmann import hodges_lehmann_interval
from pytest_airecovery.gates.junit import JUnitError, summarise_junit
from pytest_airecovery.gates.phases import PER_METRIC_CRITERIA, GateConfigError, MetricSpec
from pytest_airecovery.gates.sources import GateSourceError, Series
from pytest_airecovery.gates.stats import (
    BandResult,
    binomial_band_anomaly,
    longest_true_run,
    mad_band_anomaly,
    mann_whitney_u,
    non_inferiority_continuous,
    non_inferiority_proportion,
    two_proportion_test,
)
from pytest_airecovery.gates.timeutil import format_duration, format_timestamp
from pytest_airecovery.gates.verdicts import Verdict, errored, failed, inconclusive, passed

Criterion = Callable[[GateContext, "str | None"], Verdict]


@dataclass(frozen=True)
class Samples:
    """A metric's comparable values in the rollout window, both arms, time-ordered."""

    spec: MetricSpec
    baseline: Series
    candidate: Series
    baseline_values: np.ndarray
    candidate_values: np.ndarray
    baseline_label: str  # "concurrent control" or the pre-incident window


def _window_problem(context: GateContext, criterion: str, metric: str | None) -> Verdict | None:
    window = context.window
    if not window.exists:
        if window.share_out_of_range:
            return failed(criterion, metric, f"no rollout window: {window.reason}")
        return inconclusive(criterion, metric, f"no rollout window: {window.reason}")
    if window.seconds < context.phase.min_duration:
        return inconclusive(
            criterion, metric,
            f"the rollout window is {format_duration(window.seconds)}, shorter than the "
            f"{context.phase.name} minimum of {format_duration(context.phase.min_duration)}",
            **window.describe(),
        )  # fmt: skip
    return None


def _baseline_series(
    context: GateContext, metric: str, start: float, end: float
) -> tuple[Series, str]:
    full = context.data.get(metric, "baseline")
    config = context.config
    if config.baseline_window is None:
        return full.between(start, end), "concurrent control"
    chosen = full.between(config.baseline_window.start, config.baseline_window.end)
    if config.incident_window is not None:
        chosen = chosen.outside(config.incident_window.start, config.incident_window.end)
    label = (f"pre-incident window {format_timestamp(config.baseline_window.start)} to "
             f"{format_timestamp(config.baseline_window.end)}")  # fmt: skip
    return chosen, label


def _samples(
    context: GateContext, criterion: str, metric: str, start: float, end: float,
    *, need_baseline: bool = True,
) -> Samples | Verdict:  # fmt: skip
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
    baseline, label = _baseline_series(context, metric, start, end)
    arms = (
        {"candidate": candidate, "baseline": baseline}
        if need_baseline
        else {"candidate": candidate}
    )
    evidence = {"n_baseline": baseline.size, "n_candidate": candidate.size, "baseline": label}
    for arm, series in arms.items():
        bad = int((~np.isfinite(series.values)).sum())
        if bad:
            return inconclusive(criterion, metric,
                                f"{bad} NaN/inf value(s) in the {arm} arm of {metric}", **evidence)  # fmt: skip
        if series.size < config.min_samples:
            return inconclusive(
                criterion, metric,
                f"{series.size} {arm} sample(s) of {metric} in the window, need {config.min_samples}",
                **evidence,
            )  # fmt: skip
    age = context.staleness(float(data.get(metric, "candidate").timestamps[-1]))
    if age > config.max_staleness:
        return inconclusive(
            criterion, metric,
            f"{metric} data is stale: the latest candidate sample is {format_duration(age)} old "
            f"(max {format_duration(config.max_staleness)})",
            **evidence,
        )  # fmt: skip
    baseline_values = rates(baseline, spec) if need_baseline else np.empty(0)
    return Samples(spec, baseline, candidate, baseline_values, rates(candidate, spec), label)


def traffic_share(context: GateContext, metric: str | None = None) -> Verdict:
    name, window, phase = "traffic-share", context.window, context.phase
    if not window.exists:
        verdict = failed if window.share_out_of_range else inconclusive
        latest = context.data.traffic.values[-1] if context.data.traffic.size else None
        return verdict(name, None, window.reason, measured_latest=latest,
                       range=[phase.traffic_min, phase.traffic_max])  # fmt: skip
    age = context.staleness(window.end or 0.0)
    if age > context.config.max_staleness:
        return inconclusive(name, None, f"traffic_share data is stale ({format_duration(age)} old)")
    shares = context.data.traffic.between(window.start or 0.0, window.end or 0.0).values
    median_share = float(np.median(shares))
    evidence = {"median": median_share, "min": float(shares.min()),
                "max": float(shares.max()), "samples": window.samples,
                "range": [phase.traffic_min, phase.traffic_max], **window.describe()}  # fmt: skip
    return passed(name, None, f"measured share {100 * median_share:.3g}% (median) inside "
                  f"{phase.traffic_label()} since {format_timestamp(window.start or 0.0)}", **evidence)  # fmt: skip


def duration(context: GateContext, metric: str | None = None) -> Verdict:
    name, window, phase = "duration", context.window, context.phase
    if not window.exists:
        verdict = failed if window.share_out_of_range else inconclusive
        return verdict(name, None, f"the clock is not running: {window.reason}")
    observed = window.seconds
    evidence = {"observed_seconds": observed, "min_seconds": phase.min_duration,
                "max_seconds": phase.max_duration, **window.describe()}  # fmt: skip
    if observed < phase.min_duration:
        return inconclusive(name, None, f"observed {format_duration(observed)} in range, the "
                            f"{phase.name} minimum is {format_duration(phase.min_duration)}", **evidence)  # fmt: skip
    note = ""
    if phase.max_duration is not None and observed > phase.max_duration:
        note = f" (beyond the planned {format_duration(phase.max_duration)}: decide now)"
    return passed(name, None, f"{format_duration(observed)} in range since "
                  f"{format_timestamp(window.start or 0.0)}{note}", **evidence)  # fmt: skip


def _slo_breaches(values: np.ndarray, spec: MetricSpec, min_run: int) -> list[str]:
    breaches = []
    for limit, outside, word in ((spec.slo_max, values > (spec.slo_max or 0), "above"),
                                 (spec.slo_min, values < (spec.slo_min or 0), "below")):  # fmt: skip
        if limit is not None:
            run = longest_true_run(outside)
            if run >= min_run:
                breaches.append(f"{run} consecutive points {word} the SLO limit {limit:g}")
    return breaches


def _proportion_shift(
    samples: Samples, alpha: float, width: float, min_run: int
) -> tuple[float, tuple[float, float], float, BandResult]:
    """Pooled two-proportion test and a binomial band: rates of unequal volumes stay comparable."""
    base, cand = samples.baseline, samples.candidate
    assert base.trials is not None and cand.trials is not None
    base_events, base_trials = int(base.values.sum()), int(base.trials.sum())
    test = two_proportion_test(base_events, base_trials, int(cand.values.sum()),
                               int(cand.trials.sum()), 1 - alpha)  # fmt: skip
    band = binomial_band_anomaly(base_events / base_trials, cand.values, cand.trials,
                                 width=width, min_run=min_run)  # fmt: skip
    return test.difference, (test.ci_low, test.ci_high), test.pvalue, band


def no_anomalies(context: GateContext, metric: str | None) -> Verdict:
    name = "no-anomalies"
    assert metric is not None
    if (problem := _window_problem(context, name, metric)) is not None:
        return problem
    window, config = context.window, context.config
    samples = _samples(context, name, metric, window.start or 0.0, window.end or 0.0)
    if isinstance(samples, Verdict):
        return samples
    base, cand = samples.baseline_values, samples.candidate_values
    if samples.spec.kind == "proportion":
        shift_estimate, shift_ci, pvalue, band = _proportion_shift(samples, config.anomaly_alpha,
                                                                   config.band_width, config.min_run)  # fmt: skip
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
        reasons.append(f"{band.longest_run} consecutive points outside the baseline band "
                       f"[{band.low:.4g}, {band.high:.4g}] (limit {config.min_run})")  # fmt: skip
    if pvalue < config.anomaly_alpha and material:
        reasons.append(f"shift {shift_estimate:+.4g} vs baseline (p={pvalue:.2g} "
                       f"< {config.anomaly_alpha:g})")  # fmt: skip
    reasons += _slo_breaches(cand, samples.spec, config.min_run)
    evidence = {
        "n_baseline": base.size, "n_candidate": cand.size, "baseline": samples.baseline_label,
        "estimate": shift_estimate, "ci": list(shift_ci),
        "ci_confidence": 1 - config.anomaly_alpha, "p_value": pvalue,
        "band": [band.low, band.high], "longest_run_outside": band.longest_run,
        "points_outside": band.points_outside, "slo": [samples.spec.slo_min, samples.spec.slo_max],
        **window.describe(),
    }  # fmt: skip
    if reasons:
        return failed(name, metric, f"{metric}: " + "; ".join(reasons), **evidence)
    return passed(name, metric, f"{metric}: within the baseline band, no significant shift "
                  f"(p={pvalue:.2g}), SLOs met", **evidence)  # fmt: skip


def match_baseline(context: GateContext, metric: str | None) -> Verdict:
    name = "match-baseline"
    assert metric is not None
    if (problem := _window_problem(context, name, metric)) is not None:
        return problem
    window, config = context.window, context.config
    samples = _samples(context, name, metric, window.start or 0.0, window.end or 0.0)
    if isinstance(samples, Verdict):
        return samples
    spec = samples.spec
    if spec.direction is None:
        raise GateConfigError(
            f"metric {metric} needs direction = 'higher' or 'lower' for match-baseline"
        )
    if spec.kind == "proportion":
        assert samples.baseline.trials is not None and samples.candidate.trials is not None
        result = non_inferiority_proportion(
            int(samples.baseline.values.sum()), int(samples.baseline.trials.sum()),
            int(samples.candidate.values.sum()), int(samples.candidate.trials.sum()),
            spec.margin, margin_kind=spec.margin_kind, direction=spec.direction,  # type: ignore[arg-type]
            alpha=config.alpha,
        )  # fmt: skip
    else:
        result = non_inferiority_continuous(
            samples.baseline_values, samples.candidate_values, spec.margin,
            margin_kind=spec.margin_kind, direction=spec.direction,  # type: ignore[arg-type]
            alpha=config.alpha,
        )  # fmt: skip
    better = "higher" if spec.direction == "higher" else "lower"
    evidence = {
        "n_baseline": samples.baseline.size, "n_candidate": samples.candidate.size,
        "baseline": samples.baseline_label, "estimate": result.estimate,
        "ci": [result.ci_low, result.ci_high], "ci_confidence": 1 - 2 * config.alpha,
        "bound": result.bound, "margin": result.margin, "p_value": result.pvalue,
        "direction": spec.direction, "method": result.method, **window.describe(),
    }  # fmt: skip
    if spec.kind == "proportion":
        evidence["trials"] = [result.n_baseline, result.n_candidate]
    summary = (f"{metric} ({better} is better): candidate - baseline = {result.estimate:+.4g}, "
               f"{100 * (1 - config.alpha):g}% bound {result.bound:+.4g}, margin "
               f"{'-' if spec.direction == 'higher' else '+'}{result.margin:.4g}, p={result.pvalue:.2g}")  # fmt: skip
    if result.non_inferior:
        return passed(name, metric, summary, **evidence)
    worse_than_margin = (result.estimate < -result.margin if spec.direction == "higher"
                         else result.estimate > result.margin)  # fmt: skip
    if worse_than_margin:
        return failed(name, metric, f"regressed beyond the margin: {summary}", **evidence)
    return inconclusive(name, metric, f"not shown non-inferior (more data needed): {summary}",
                        **evidence)  # fmt: skip


def no_user_reports(context: GateContext, metric: str | None = None) -> Verdict:
    name, config = "no-user-reports", context.config
    if (problem := _window_problem(context, name, None)) is not None:
        return problem
    polls = context.data.user_reports
    if polls.size == 0:
        return inconclusive(name, None, "no user_reports rows: the report source was never polled")
    age = context.staleness(float(polls.timestamps[-1]))
    if age > config.user_reports_max_age:
        return inconclusive(name, None, f"user reports are stale: last poll {format_duration(age)} "
                            f"ago (max {format_duration(config.user_reports_max_age)})")  # fmt: skip
    start = context.window.start or 0.0
    inside = polls.between(start, context.now)
    covering = np.concatenate([polls.between(-np.inf, start).timestamps[-1:], inside.timestamps])
    longest_silence = (
        float(np.diff(np.append(covering, context.now)).max()) if covering.size else np.inf
    )
    if covering.size == 0 or longest_silence > config.user_reports_max_age:
        return inconclusive(name, None, "the report source was not polled throughout the window "
                            f"(longest silence {format_duration(longest_silence)})")  # fmt: skip
    if not np.isfinite(inside.values).all():
        return inconclusive(name, None, "user_reports counts contain NaN/inf")
    count = int(inside.values.sum())
    evidence = {"reports": count, "polls": inside.size, **context.window.describe()}
    if count > 0:
        return failed(
            name, None, f"{count} user report(s) since {format_timestamp(start)}", **evidence
        )
    return passed(name, None, f"zero user reports in {inside.size} polls since "
                  f"{format_timestamp(start)}", **evidence)  # fmt: skip


def regression_tests(context: GateContext, metric: str | None = None) -> Verdict:
    name, config = "regression-tests", context.config
    if not config.regression_junit:
        return inconclusive(name, None, "no JUnit XML of the incident cases configured "
                            "(set regression_junit in the gate settings)")  # fmt: skip
    path = Path(config.regression_junit)
    path = path if path.is_absolute() else context.rootdir / path
    if not path.is_file():
        return inconclusive(
            name, None, f"JUnit XML {path} not found (run the incident cases first)"
        )
    try:
        summary = summarise_junit(path, config.regression_match)
    except JUnitError as error:
        raise GateSourceError(str(error)) from None
    evidence = {"junit": str(path), "passed": summary.passed, "failed": summary.failed,
                "skipped": summary.skipped, "failing": summary.failing[:10]}  # fmt: skip
    if summary.failed:
        shown = ", ".join(summary.failing[:5])
        return failed(name, None, f"{summary.failed} incident case(s) failed: {shown}", **evidence)
    if summary.passed == 0:
        return inconclusive(name, None, f"no incident case ran in {path} "
                            f"({summary.skipped} skipped)", **evidence)  # fmt: skip
    return passed(name, None, f"all {summary.passed} incident case(s) passed", **evidence)


def stable_operation(context: GateContext, metric: str | None) -> Verdict:
    name, config, phase = "stable-operation", context.config, context.phase
    assert metric is not None
    window = context.window
    if not window.exists:
        verdict = failed if window.share_out_of_range else inconclusive
        return verdict(name, metric, f"no rollout window: {window.reason}")
    candidate_all = context.data.get(metric, "candidate").between(
        window.start or 0.0, window.end or 0.0
    )
    stamps = candidate_all.timestamps
    # A gap longer than max_gap means we cannot vouch for that time: the clock restarts after it.
    gaps = np.flatnonzero(np.diff(stamps) > config.max_gap) if stamps.size > 1 else np.empty(0, int)
    clock_start = float(stamps[gaps[-1] + 1]) if gaps.size else (window.start or 0.0)
    samples = _samples(context, name, metric, clock_start, window.end or 0.0,
                       need_baseline=config.baseline_window is not None)  # fmt: skip
    if isinstance(samples, Verdict):
        return samples
    stable_for = (window.end or 0.0) - clock_start
    evidence = {"stable_seconds": stable_for, "required_seconds": phase.min_duration,
                "clock_start": format_timestamp(clock_start), "restarts": int(gaps.size),
                "n_candidate": samples.candidate.size, "n_baseline": samples.baseline.size}  # fmt: skip
    if stable_for < phase.min_duration:
        restarted = (
            f" (clock restarted after a data gap at {format_timestamp(clock_start)})"
            if gaps.size
            else ""
        )
        return inconclusive(name, metric, f"{metric} stable for {format_duration(stable_for)} of the "
                            f"required {format_duration(phase.min_duration)}{restarted}", **evidence)  # fmt: skip
    spec, cand = samples.spec, samples.candidate_values
    has_slo = spec.slo_min is not None or spec.slo_max is not None
    if not has_slo and config.baseline_window is None:
        return inconclusive(name, metric, f"nothing to judge {metric}'s stability against: set "
                            "slo_min/slo_max for it or a baseline_window")  # fmt: skip
    reasons = _slo_breaches(cand, spec, config.min_run)
    if config.baseline_window is not None:
        band = mad_band_anomaly(samples.baseline_values, cand, width=config.band_width,
                                min_run=config.min_run)  # fmt: skip
        evidence.update(band=[band.low, band.high], longest_run_outside=band.longest_run)
        if band.anomalous:
            reasons.append(f"{band.longest_run} consecutive points outside the baseline band")
    if reasons:
        return failed(name, metric, f"{metric}: " + "; ".join(reasons), **evidence)
    return passed(name, metric, f"{metric} stable for {format_duration(stable_for)} "
                  f"(required {format_duration(phase.min_duration)})", **evidence)  # fmt: skip


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
        return inconclusive(criterion, None, "no metric to judge: none is configured for the "
                            f"{context.phase.name} phase and the source has none")  # fmt: skip
    try:
        return function(context, metric)
    except (GateConfigError, GateSourceError) as error:
        return errored(criterion, metric, str(error))

"""The statistical exit criteria and the registry of all criteria.

no-anomalies, match-baseline and stable-operation judge a metric's candidate arm against its
baseline; the shared fail-closed checks live in `samples.py`, the rollout criteria (traffic share,
duration, user reports, regression tests) in `rollout.py`. Broken configuration or source data
gives ERROR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pytest_airecovery.gates.bands import Band, slo_runs
from pytest_airecovery.gates.compare import (
    SCATTERED_SHARE_LIMIT,
    SLO_SHARE_MARGIN,
    Comparison,
    Side,
    SloShare,
    compare_continuous,
    is_worse,
    proportion_band,
    signed_limit,
    signed_margin,
    worse_side,
)
from pytest_airecovery.gates.context import GateContext
from pytest_airecovery.gates.hodges_lehmann import hodges_lehmann_interval
from pytest_airecovery.gates.phases import PER_METRIC_CRITERIA, GateConfig, GateConfigError
from pytest_airecovery.gates.rollout import (
    duration,
    no_user_reports,
    regression_tests,
    traffic_share,
)
from pytest_airecovery.gates.samples import Samples, window_problem, window_samples
from pytest_airecovery.gates.sources import GateSourceError
from pytest_airecovery.gates.stats import (
    TwoProportionResult,
    mann_whitney_u,
    non_inferiority_continuous,
    non_inferiority_proportion,
    two_proportion_test,
    wilson_interval,
)
from pytest_airecovery.gates.timeutil import format_duration, format_timestamp
from pytest_airecovery.gates.verdicts import Verdict, errored, failed, inconclusive, passed

Criterion = Callable[[GateContext, "str | None"], Verdict]


def _proportion_shift(
    context: GateContext, samples: Samples, worse: Side | None
) -> tuple[TwoProportionResult, Band]:
    """Pooled two-proportion test, one-sided towards the worse side, and the binomial band."""
    base, cand = samples.baseline, samples.candidate
    assert base.trials is not None and cand.trials is not None
    alternative = {"higher": "greater", "lower": "less", None: "two-sided"}[worse]
    test = two_proportion_test(
        int(base.values.sum()), int(base.trials.sum()), int(cand.values.sum()),
        int(cand.trials.sum()), 1 - context.config.anomaly_alpha, alternative,  # type: ignore[arg-type]
    )  # fmt: skip
    return test, proportion_band(context, samples)


def _min_span(context: GateContext) -> float:
    # Sampling rarely lines up with the traffic window's edges: allow one tolerated gap.
    return max(0.0, context.phase.min_duration - context.config.max_gap)


def _samples_in_window(context: GateContext, name: str, metric: str | None) -> Samples | Verdict:
    """The metric's baseline and candidate samples in the rollout window, or the verdict why not."""
    assert metric is not None
    if (problem := window_problem(context, name, metric)) is not None:
        return problem
    window = context.window
    samples = window_samples(
        context, name, metric, window.start or 0.0, window.end or 0.0, min_span=_min_span(context)
    )
    if isinstance(samples, Verdict) or samples.spec.kind != "proportion":
        return samples
    for arm, series in (("baseline", samples.baseline), ("candidate", samples.candidate)):
        if series.trials is not None and not series.trials.sum() > 0:
            # Zero-trial intervals are skipped; with nothing else there is nothing to judge.
            return inconclusive(name, metric, f"the {arm} arm of {metric} has no trials in the "
                                f"window ({series.size} interval(s), all with 0 trials)")  # fmt: skip
    return samples


def _band_reason(band: Band, worse: Side | None, config: GateConfig) -> list[str]:
    """A run on the worse side, or scattered points outside the band on it more often than 1%.

    Scattered excursions are how a heavy tail shows (a few percent of minutes far out, never
    five in a row); healthy data leaves the band on one side in well under 1% of intervals.
    """
    reasons = []
    run, word = band.runs.worst(worse)
    if run >= config.min_run:
        reasons.append(f"{run} consecutive points {word} the baseline band "
                       f"[{band.low:.4g}, {band.high:.4g}] (limit {config.min_run})")  # fmt: skip
    outside, word = band.runs.outside(worse)
    if band.n_points and outside:
        low, _high = wilson_interval(outside, band.n_points, 1 - 2 * config.anomaly_alpha)
        if low > SCATTERED_SHARE_LIMIT:
            reasons.append(
                f"{outside} of {band.n_points} points {word} the baseline band, scattered "
                f"({outside / band.n_points:.1%}; {100 * (1 - config.anomaly_alpha):g}% lower bound "
                f"{low:.1%} > {SCATTERED_SHARE_LIMIT:.0%})"
            )
    return reasons


def _significantly_worse(comparison: Comparison) -> list[str]:
    """Quantiles and SLO shares whose better-side bound is still past the margin: a regression."""
    reasons = []
    for result, margin in zip(comparison.quantiles, comparison.quantile_margins, strict=True):
        bound = result.low if comparison.worse == "higher" else result.high
        past = is_worse(bound, margin, comparison.worse)
        if comparison.worse is None:
            past = is_worse(result.low, margin, "higher") or is_worse(result.high, margin, "lower")
        if past:
            reasons.append(
                f"{result.label} {result.candidate.estimate:.4g} vs baseline "
                f"{result.reference.estimate:.4g} (difference {result.difference:+.4g}, bound "
                f"{bound:+.4g} past the margin {signed_limit(margin, comparison.worse)})"
            )
    for share in comparison.slo_shares:
        if share.low > SLO_SHARE_MARGIN:
            reasons.append(
                f"{share.candidate_beyond} of {share.candidate_total} points past the SLO limit "
                f"{share.limit:g} ({_share_text(share, share.low)}, more than {100 * SLO_SHARE_MARGIN:g} points)"
            )
    return reasons


def _share_text(share: SloShare, bound: float) -> str:
    if share.reference_total:
        return f"share {share.difference:+.2%} vs baseline, bound {bound:+.2%}"
    return f"share {share.difference:.2%}, bound {bound:.2%}"


def no_anomalies(context: GateContext, metric: str | None) -> Verdict:
    name = "no-anomalies"
    samples = _samples_in_window(context, name, metric)
    if isinstance(samples, Verdict):
        return samples
    window, config, spec = context.window, context.config, samples.spec
    worse = worse_side(spec)
    base, cand = samples.baseline_values, samples.candidate_values
    reasons: list[str] = []
    evidence: dict[str, object] = {}
    if spec.kind == "proportion":
        test, band = _proportion_shift(context, samples, worse)
        shift_estimate, shift_ci, pvalue = test.difference, (test.ci_low, test.ci_high), test.pvalue
        baseline_level = band.centre
        cand_trials = samples.candidate.trials
        assert cand_trials is not None
        slo_reasons = slo_runs(samples.candidate.values, cand_trials, spec.slo_min, spec.slo_max,
                               config.min_run, 1 - config.anomaly_alpha)  # fmt: skip
        evidence["zero_trial_intervals"] = int((cand_trials == 0).sum())
    else:
        comparison = compare_continuous(context, samples, config.anomaly_alpha)
        assert comparison.band is not None
        band = comparison.band
        alternative = {"higher": "greater", "lower": "less", None: "two-sided"}[worse]
        pvalue = mann_whitney_u(cand, base, alternative).pvalue  # type: ignore[arg-type]
        interval = hodges_lehmann_interval(base, cand, confidence=1 - config.anomaly_alpha)
        shift_estimate, shift_ci = interval.estimate, (interval.low, interval.high)
        baseline_level = float(np.median(base))
        reasons += _significantly_worse(comparison)
        slo_reasons = slo_runs(cand, None, spec.slo_min, spec.slo_max, config.min_run, 1.0)
        evidence["quantiles"] = comparison.quantile_evidence()
        evidence["slo_share"] = [share.describe() for share in comparison.slo_shares]
        if comparison.notes:
            evidence["notes"] = comparison.notes
    material = abs(shift_estimate) > config.min_shift * abs(baseline_level)
    reasons = _band_reason(band, worse, config) + reasons
    if pvalue < config.anomaly_alpha and material:
        side = "" if worse is None else " towards the worse side"
        reasons.append(
            f"shift {shift_estimate:+.4g} vs baseline{side} "
            f"(p={pvalue:.2g} < {config.anomaly_alpha:g})"
        )
    reasons += slo_reasons
    evidence = {
        "n_baseline": base.size,
        "n_candidate": cand.size,
        "baseline": samples.baseline_label,
        "direction": spec.direction,
        "estimate": shift_estimate,
        "ci": list(shift_ci),
        "ci_confidence": 1 - config.anomaly_alpha,
        "p_value": pvalue,
        "p_value_alternative": "worse side" if worse else "two-sided",
        "band": [band.low, band.high],
        "band_method": band.method,
        "longest_run_outside": band.runs.worst(worse)[0],
        "runs_above_below": [band.runs.above, band.runs.below],
        "points_outside": band.runs.points_above + band.runs.points_below,
        "slo": [spec.slo_min, spec.slo_max],
        **evidence,
        **window.describe(),
    }
    if reasons:
        return failed(name, metric, f"{metric}: " + "; ".join(reasons), **evidence)
    return passed(
        name,
        metric,
        f"{metric}: within the baseline band, no significant shift towards the worse side "
        f"(p={pvalue:.2g}), quantiles and SLOs met",
        **evidence,
    )


@dataclass
class _Check:
    """One non-inferiority requirement: its bound, margin, and what it says."""

    text: str
    estimate_worse: bool  # the point estimate itself is past the margin: a FAIL
    clears: bool  # the one-sided bound is inside the margin


def _continuous_checks(
    context: GateContext, samples: Samples
) -> tuple[list[_Check], dict[str, object]]:
    """Quantile and SLO-share requirements of match-baseline for a continuous metric."""
    comparison = compare_continuous(context, samples, context.config.alpha)
    worse = comparison.worse
    checks = []
    for result, margin in zip(comparison.quantiles, comparison.quantile_margins, strict=True):
        bound = result.high if worse == "higher" else result.low
        checks.append(_Check(
            f"{result.label} {result.difference:+.4g} (bound {bound:+.4g}, limit "
            f"{signed_limit(margin, worse)})",
            is_worse(result.difference, margin, worse),
            math.isfinite(bound) and not is_worse(bound, margin, worse),
        ))  # fmt: skip
    for share in comparison.slo_shares:
        # The quantiles carry the burden of proof; the share past the SLO fails the metric only
        # when it is shown to be more than SLO_SHARE_MARGIN above the baseline's (an upper bound
        # under 1 point would need hundreds of samples even with no breach at all).
        checks.append(_Check(
            f"share past the SLO limit {share.limit:g}: {_share_text(share, share.low)} "
            f"(limit +{SLO_SHARE_MARGIN:.2%})",
            share.low > SLO_SHARE_MARGIN,
            True,
        ))  # fmt: skip
    evidence: dict[str, object] = {
        "quantiles": comparison.quantile_evidence(),
        "slo_share": [share.describe() for share in comparison.slo_shares],
    }
    if comparison.notes:
        evidence["notes"] = comparison.notes
    return checks, evidence


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
    worse = worse_side(spec)
    extra_checks: list[_Check] = []
    extra_evidence: dict[str, object] = {}
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
        extra_checks, extra_evidence = _continuous_checks(context, samples)
    better = "higher" if spec.direction == "higher" else "lower"
    limit = signed_limit(result.margin, worse)
    evidence = {
        "n_baseline": samples.baseline.size,
        "n_candidate": samples.candidate.size,
        "baseline": samples.baseline_label,
        "estimate": result.estimate,
        "ci": [result.ci_low, result.ci_high],
        "ci_confidence": 1 - 2 * config.alpha,
        "bound": result.bound,
        "margin": result.margin,
        "limit": signed_margin(result.margin, worse),
        "p_value": result.pvalue,
        "direction": spec.direction,
        "method": result.method,
        **extra_evidence,
        **window.describe(),
    }
    if spec.kind == "proportion":
        evidence["trials"] = [result.n_baseline, result.n_candidate]
    summary = (
        f"{metric} ({better} is better): candidate - baseline = {result.estimate:+.4g}, "
        f"{100 * (1 - config.alpha):g}% bound {result.bound:+.4g}, limit {limit} "
        f"(margin {result.margin:.4g}), p={result.pvalue:.2g}"
    )
    shift_worse = is_worse(result.estimate, result.margin, worse)
    failing = [check.text for check in extra_checks if check.estimate_worse]
    unclear = [
        check.text for check in extra_checks if not check.clears and not check.estimate_worse
    ]
    if extra_checks:
        summary += "; " + "; ".join(check.text for check in extra_checks)
    if shift_worse or failing:
        # The summary lists every check with its limit; the evidence names the failing ones.
        evidence["failing_checks"] = (["shift"] if shift_worse else []) + failing
        return failed(name, metric, f"regressed beyond the margin: {summary}", **evidence)
    if result.non_inferior and not unclear:
        return passed(name, metric, summary, **evidence)
    what = "; ".join((["the shift"] if not result.non_inferior else []) + unclear)
    return inconclusive(
        name, metric, f"not shown non-inferior (more data needed: {what}): {summary}", **evidence
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
    spec = samples.spec
    has_slo = spec.slo_min is not None or spec.slo_max is not None
    if not has_slo and config.baseline_window is None:
        return inconclusive(
            name,
            metric,
            f"nothing to judge {metric}'s stability against: set "
            "slo_min/slo_max for it or a baseline_window",
        )
    reasons = _stability_reasons(context, samples, evidence)
    if reasons:
        return failed(name, metric, f"{metric}: " + "; ".join(reasons), **evidence)
    return passed(
        name,
        metric,
        f"{metric} stable for {format_duration(stable_for)} "
        f"(required {format_duration(phase.min_duration)})",
        **evidence,
    )


def _stability_reasons(context: GateContext, samples: Samples,
                       evidence: dict[str, object]) -> list[str]:  # fmt: skip
    """SLO runs and shares, and with a baseline_window the band and the quantiles (worse side)."""
    config, spec = context.config, samples.spec
    worse = worse_side(spec)
    with_baseline = config.baseline_window is not None
    if spec.kind == "proportion":
        trials = samples.candidate.trials
        reasons = slo_runs(samples.candidate.values, trials, spec.slo_min, spec.slo_max,
                           config.min_run, 1 - config.anomaly_alpha)  # fmt: skip
        if with_baseline:
            band = proportion_band(context, samples)
            evidence.update(
                band=[band.low, band.high], longest_run_outside=band.runs.worst(worse)[0]
            )
            reasons += _band_reason(band, worse, config)
        return reasons
    cand = samples.candidate_values
    reasons = slo_runs(cand, None, spec.slo_min, spec.slo_max, config.min_run, 1.0)
    comparison = compare_continuous(context, samples, config.anomaly_alpha,
                                    with_baseline=with_baseline)  # fmt: skip
    if comparison.band is not None:
        band = comparison.band
        evidence.update(band=[band.low, band.high], longest_run_outside=band.runs.worst(worse)[0])
        reasons += _band_reason(band, worse, config)
    evidence.update(quantiles=comparison.quantile_evidence(),
                    slo_share=[share.describe() for share in comparison.slo_shares])  # fmt: skip
    return reasons + _significantly_worse(comparison)


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

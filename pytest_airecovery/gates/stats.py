"""Statistics for the promotion gates, in numpy only (scipy is a test oracle, never a dependency).

Everything here is a pure function of arrays and numbers; the gate criteria decide what to feed it.
The Hodges-Lehmann selection lives in `hodges_lehmann.py` because it is an algorithm of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

from pytest_airecovery.gates.hodges_lehmann import hodges_lehmann_interval

Alternative = Literal["two-sided", "less", "greater"]
Direction = Literal["higher", "lower"]
MarginKind = Literal["absolute", "relative"]

FloatArray = npt.NDArray[np.float64]

# 1.4826 makes the MAD a consistent estimator of the standard deviation for normal data.
MAD_TO_SIGMA = 1.482602218505602

__all__ = [
    "MannWhitneyResult",
    "NonInferiorityResult",
    "TwoProportionResult",
    "absolute_margin",
    "longest_true_run",
    "mann_whitney_u",
    "newcombe_difference_interval",
    "non_inferiority_continuous",
    "non_inferiority_proportion",
    "normal_quantile",
    "normal_sf",
    "two_proportion_test",
    "wilson_interval",
]


def normal_sf(z: float) -> float:
    """Upper tail of the standard normal, accurate in the far tail (erfc, not 1 - cdf)."""
    if math.isnan(z):
        return math.nan
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_quantile(probability: float) -> float:
    """Inverse standard normal CDF (Wichura's AS241 via the standard library, ~1e-16)."""
    return NormalDist().inv_cdf(probability)


@dataclass(frozen=True)
class MannWhitneyResult:
    """U is the statistic of the first sample, as scipy reports it."""

    statistic: float
    pvalue: float
    z: float
    n_first: int
    n_second: int
    tie_term: float


def _rank_sum_and_ties(first: FloatArray, second: FloatArray) -> tuple[float, float]:
    """Rank sum of `first` in the pooled sample (average ranks) and the tie term sum(t^3 - t).

    One sort per sample, then a stable argsort of the two sorted runs, which numpy's timsort
    does as a single linear merge; ties are handled per group of equal values.
    """
    n_first = first.size
    pooled = np.concatenate([np.sort(first), np.sort(second)])
    order = np.argsort(pooled, kind="stable")
    merged = pooled[order]
    from_first = order < n_first
    starts_group = np.empty(merged.size, dtype=bool)
    starts_group[0] = True
    np.not_equal(merged[1:], merged[:-1], out=starts_group[1:])
    if starts_group.all():
        # No ties: ranks are positions + 1; integer sums are exact.
        return float(np.flatnonzero(from_first).sum() + n_first), 0.0
    group_starts = np.flatnonzero(starts_group)
    group_sizes = np.diff(np.append(group_starts, merged.size))
    first_in_group = np.add.reduceat(from_first.astype(np.int64), group_starts)
    # Average rank of a group starting at 0-based s with t members is s + (t + 1) / 2.
    twice_rank_sum = int((first_in_group * (2 * group_starts + group_sizes + 1)).sum())
    tied_sizes = group_sizes[group_sizes > 1].astype(np.float64)
    return twice_rank_sum / 2.0, float((tied_sizes**3 - tied_sizes).sum())


def mann_whitney_u(
    first: npt.ArrayLike,
    second: npt.ArrayLike,
    alternative: Alternative = "two-sided",
    continuity: bool = True,
) -> MannWhitneyResult:
    """Mann-Whitney U test, normal approximation with tie correction.

    Matches `scipy.stats.mannwhitneyu(first, second, method="asymptotic")`: "greater" means
    `first` tends to be larger than `second`.
    """
    x = np.asarray(first, dtype=np.float64).ravel()
    y = np.asarray(second, dtype=np.float64).ravel()
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs at least one value in each sample")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("Mann-Whitney U needs finite values (got NaN or inf)")
    rank_sum, tie_term = _rank_sum_and_ties(x, y)
    u_first = rank_sum - n1 * (n1 + 1) / 2.0
    u_second = n1 * n2 - u_first
    if alternative == "greater":
        u_tested, sides = u_first, 1.0
    elif alternative == "less":
        u_tested, sides = u_second, 1.0
    elif alternative == "two-sided":
        u_tested, sides = max(u_first, u_second), 2.0
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    n = n1 + n2
    variance_factor = (n + 1) - tie_term / (n * (n - 1)) if n > 1 else 0.0
    sigma = math.sqrt(n1 * n2 / 12.0 * variance_factor) if variance_factor > 0 else 0.0
    numerator = u_tested - n1 * n2 / 2.0 - (0.5 if continuity else 0.0)
    if sigma == 0.0:
        # All values identical: no evidence of any shift.
        z = math.copysign(math.inf, numerator) if numerator != 0 else math.nan
        pvalue = 1.0
    else:
        z = numerator / sigma
        pvalue = min(1.0, max(0.0, sides * normal_sf(z)))
    return MannWhitneyResult(u_first, pvalue, z, n1, n2, tie_term)


def wilson_interval(
    successes: float, trials: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval for a proportion (two-sided at `confidence`)."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} outside 0..{trials}")
    z = normal_quantile(0.5 + confidence / 2.0)
    p_hat = successes / trials
    z2_over_n = z * z / trials
    centre = (p_hat + z2_over_n / 2.0) / (1.0 + z2_over_n)
    half_width = (z / (1.0 + z2_over_n)) * math.sqrt(
        p_hat * (1.0 - p_hat) / trials + z2_over_n / (4.0 * trials)
    )
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def newcombe_difference_interval(
    successes_a: float,
    trials_a: float,
    successes_b: float,
    trials_b: float,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for p_a - p_b, built from Wilson limits."""
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    lower_a, upper_a = wilson_interval(successes_a, trials_a, confidence)
    lower_b, upper_b = wilson_interval(successes_b, trials_b, confidence)
    difference = p_a - p_b
    lower = difference - math.sqrt((p_a - lower_a) ** 2 + (upper_b - p_b) ** 2)
    upper = difference + math.sqrt((upper_a - p_a) ** 2 + (p_b - lower_b) ** 2)
    return lower, upper


@dataclass(frozen=True)
class NonInferiorityResult:
    """Outcome of a one-sided non-inferiority test of candidate against baseline.

    `estimate` and the interval are for candidate - baseline; `bound` is the one-sided confidence
    limit that must clear `-margin` (higher is better) or `+margin` (lower is better).
    """

    non_inferior: bool
    estimate: float
    ci_low: float
    ci_high: float
    bound: float
    margin: float
    pvalue: float
    n_baseline: int
    n_candidate: int
    method: str


def absolute_margin(margin: float, kind: MarginKind, baseline_level: float) -> float:
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number >= 0, got {margin}")
    if kind == "absolute":
        return margin
    if kind == "relative":
        return margin * abs(baseline_level)
    raise ValueError(f"unknown margin kind {kind!r}")


def non_inferiority_continuous(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    margin: float,
    *,
    margin_kind: MarginKind = "relative",
    direction: Direction = "higher",
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Is the candidate no worse than baseline by more than the margin? (shift model)

    Two views that must agree before we say yes: the Mann-Whitney test of the margin-shifted
    candidate against baseline (one-sided p < alpha) and the one-sided Hodges-Lehmann confidence
    bound of the shift clearing the margin. A relative margin is a fraction of the baseline median.
    """
    base = np.asarray(baseline, dtype=np.float64).ravel()
    cand = np.asarray(candidate, dtype=np.float64).ravel()
    absolute = absolute_margin(margin, margin_kind, float(np.median(base)))
    # A two-sided (1 - 2 alpha) interval has one-sided (1 - alpha) limits.
    interval = hodges_lehmann_interval(base, cand, confidence=1.0 - 2.0 * alpha)
    if direction == "higher":
        test = mann_whitney_u(cand + absolute, base, alternative="greater")
        bound = interval.low
        bound_clears = bound > -absolute
    elif direction == "lower":
        test = mann_whitney_u(cand - absolute, base, alternative="less")
        bound = interval.high
        bound_clears = bound < absolute
    else:
        raise ValueError(f"unknown direction {direction!r}")
    return NonInferiorityResult(
        non_inferior=bool(test.pvalue < alpha and bound_clears),
        estimate=interval.estimate,
        ci_low=interval.low,
        ci_high=interval.high,
        bound=bound,
        margin=absolute,
        pvalue=test.pvalue,
        n_baseline=base.size,
        n_candidate=cand.size,
        method=f"Mann-Whitney U + Hodges-Lehmann {100 * (1 - alpha):g}% one-sided bound",
    )


def non_inferiority_proportion(
    baseline_successes: int,
    baseline_trials: int,
    candidate_successes: int,
    candidate_trials: int,
    margin: float,
    *,
    margin_kind: MarginKind = "absolute",
    direction: Direction = "higher",
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Non-inferiority of a proportion via the Newcombe interval of candidate - baseline.

    The decision uses the interval; the p-value is an approximate Wald z-test at the margin,
    reported as evidence only.
    """
    p_base = baseline_successes / baseline_trials
    p_cand = candidate_successes / candidate_trials
    absolute = absolute_margin(margin, margin_kind, p_base)
    low, high = newcombe_difference_interval(
        candidate_successes,
        candidate_trials,
        baseline_successes,
        baseline_trials,
        1.0 - 2.0 * alpha,
    )
    difference = p_cand - p_base
    std_error = math.sqrt(
        p_cand * (1 - p_cand) / candidate_trials + p_base * (1 - p_base) / baseline_trials
    )
    if direction == "higher":
        bound, clears = low, low > -absolute
        z = (
            (difference + absolute) / std_error
            if std_error > 0
            else math.copysign(math.inf, difference + absolute)
        )
    elif direction == "lower":
        bound, clears = high, high < absolute
        z = (
            (absolute - difference) / std_error
            if std_error > 0
            else math.copysign(math.inf, absolute - difference)
        )
    else:
        raise ValueError(f"unknown direction {direction!r}")
    return NonInferiorityResult(
        non_inferior=bool(clears),
        estimate=difference,
        ci_low=low,
        ci_high=high,
        bound=bound,
        margin=absolute,
        pvalue=normal_sf(z) if not math.isnan(z) else 1.0,
        n_baseline=baseline_trials,
        n_candidate=candidate_trials,
        method=f"Newcombe hybrid score {100 * (1 - alpha):g}% one-sided bound",
    )


def longest_true_run(flags: npt.NDArray[np.bool_]) -> int:
    """Length of the longest stretch of consecutive True values."""
    if flags.size == 0 or not flags.any():
        return 0
    padded = np.concatenate([[0], flags.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[0::2]).max())


@dataclass(frozen=True)
class TwoProportionResult:
    difference: float  # candidate - baseline
    ci_low: float
    ci_high: float
    pvalue: float  # pooled z-test (two-sided: equals the chi-square test without correction)
    alternative: Alternative = "two-sided"


def two_proportion_test(
    baseline_successes: int,
    baseline_trials: int,
    candidate_successes: int,
    candidate_trials: int,
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
) -> TwoProportionResult:
    """Pooled z-test for a difference in proportions, with the Newcombe interval.

    "greater" tests whether the candidate's rate is above the baseline's, "less" below (matches
    `statsmodels`' `proportions_ztest`, and the chi-square test when two-sided).
    """
    p_base = baseline_successes / baseline_trials
    p_cand = candidate_successes / candidate_trials
    pooled = (baseline_successes + candidate_successes) / (baseline_trials + candidate_trials)
    std_error = math.sqrt(pooled * (1 - pooled) * (1 / baseline_trials + 1 / candidate_trials))
    difference = p_cand - p_base
    if std_error == 0:
        pvalue = 1.0
    elif alternative == "two-sided":
        pvalue = min(1.0, 2.0 * normal_sf(abs(difference) / std_error))
    elif alternative == "greater":
        pvalue = normal_sf(difference / std_error)
    elif alternative == "less":
        pvalue = normal_sf(-difference / std_error)
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    low, high = newcombe_difference_interval(
        candidate_successes, candidate_trials, baseline_successes, baseline_trials, confidence
    )
    return TwoProportionResult(difference, low, high, pvalue, alternative)

"""Distribution-aware comparison of two arms: quantiles with distribution-free intervals.

A rank test or a shift estimate compares locations; a candidate with the same median and a heavy
tail (a few percent of intervals far above the baseline) passes both. So the gate also compares the
quantiles the user cares about (p50 and p90 by default, p99 when there are enough samples), each
with an interval, against the baseline and the non-inferiority margin.

Per arm, the interval of a quantile is a pair of order statistics whose ranks come from the exact
binomial distribution of "how many samples fall below the true quantile" (valid for any continuous
distribution, no bootstrap, no normal approximation). The difference candidate - baseline gets its
limits by Zou and Donner's MOVER (the construction Newcombe's interval for two proportions uses):
each side adds the two arms' one-sided half-widths in quadrature.

The baseline is noise-matched to the candidate. A 1-5% canary aggregates far fewer requests per
interval than the control, so its per-interval values are noisier, and its upper quantiles are
higher even when the model is identical. When the arms are concurrent, each interval's noise is
modelled as s^2 / volume (volume = the interval's request count, `trials`, or else the traffic
share), s is estimated from the paired differences candidate - baseline on the better side only
(a regression on the worse side can only make s smaller, never wider), and the reference
distribution is the baseline with the candidate's extra noise added, evaluated at fixed normal
quantile nodes (deterministic, no random draws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from pytest_airecovery.gates.stats import normal_quantile

FloatArray = npt.NDArray[np.float64]
Side = Literal["higher", "lower"]

DEFAULT_QUANTILES = (0.5, 0.9)
# p99 joins the defaults only when both arms have this many samples: ten expected beyond it.
P99_MIN_SAMPLES = 1000
# Normal quantile nodes that stand for the candidate's extra noise around each baseline value.
NOISE_NODES = 16
# Below this many paired intervals the noise scale is not estimated (no matching, fail closed).
MIN_PAIRS_FOR_NOISE = 20
MAD_TO_SIGMA = 1.482602218505602
# The normal quartile: a better-side quartile of q below the centre means a sigma of q / this.
QUARTILE_Z = 0.6744897501960817


def binomial_cdf(trials: int, probability: float) -> FloatArray:
    """P(B <= k) for k = 0..trials, B ~ Binomial(trials, probability), exact in log space."""
    if trials < 0:
        raise ValueError("trials must be >= 0")
    if probability <= 0.0 or probability >= 1.0:
        return np.ones(trials + 1) if probability <= 0.0 else np.r_[np.zeros(trials), 1.0]
    k = np.arange(1, trials + 1, dtype=np.float64)
    # log pmf(k) - log pmf(k-1) = log((n - k + 1) / k) + log(p / (1 - p))
    steps = np.log((trials - k + 1.0) / k) + math.log(probability / (1.0 - probability))
    log_pmf = np.concatenate([[trials * math.log1p(-probability)], steps]).cumsum()
    pmf = np.exp(log_pmf - log_pmf.max())
    cdf = np.cumsum(pmf)
    return np.minimum(cdf / cdf[-1], 1.0)


def order_statistic_ranks(size: int, quantile: float, alpha: float) -> tuple[int, int]:
    """1-based ranks (low, high) of one-sided (1 - alpha) limits of the `quantile`.

    P(X_(low) <= xi_q) >= 1 - alpha and P(X_(high) >= xi_q) >= 1 - alpha for any continuous
    distribution. low = 0 means no finite lower limit; high = size + 1 no finite upper limit.
    """
    if size < 1:
        return 0, 1
    cdf = binomial_cdf(size, quantile)  # cdf[k] = P(B <= k)
    # low: the largest l with P(B <= l - 1) <= alpha.
    low = int(np.searchsorted(cdf, alpha, "right"))
    # high: the smallest u with P(B <= u - 1) >= 1 - alpha.
    high = int(np.searchsorted(cdf, 1.0 - alpha - 1e-12, "left")) + 1
    return low, high


@dataclass(frozen=True)
class QuantileInterval:
    """A quantile's point estimate and its one-sided (1 - alpha) lower and upper limits."""

    quantile: float
    estimate: float
    low: float  # -inf when the sample is too small for a lower limit
    high: float  # +inf when the sample is too small for an upper limit


def _weighted_quantile(values: FloatArray, level: float) -> float:
    """The empirical quantile at `level` of a sorted sample (order statistic ceil(level * n))."""
    if level <= 0.0:
        return -math.inf
    if level > 1.0:
        return math.inf
    index = min(values.size, max(1, math.ceil(level * values.size - 1e-9))) - 1
    return float(values[index])


def quantile_interval(
    values: npt.ArrayLike, quantile: float, alpha: float, *, sorted_values: bool = False
) -> QuantileInterval:
    """Order-statistic estimate and distribution-free one-sided limits of one quantile."""
    data = np.asarray(values, dtype=np.float64).ravel()
    if not sorted_values:
        data = np.sort(data)
    return _interval_on(data, data.size, quantile, alpha)


def _interval_on(
    expanded: FloatArray, size: int, quantile: float, alpha: float
) -> QuantileInterval:
    """Limits on a sorted sample that may repeat each of `size` observations (noise nodes).

    The ranks come from the `size` real observations; on the expanded sample they become levels.
    """
    if size == 0:
        return QuantileInterval(quantile, math.nan, -math.inf, math.inf)
    low_rank, high_rank = order_statistic_ranks(size, quantile, alpha)
    estimate = _weighted_quantile(expanded, quantile)
    low = _weighted_quantile(expanded, low_rank / size) if low_rank >= 1 else -math.inf
    high = _weighted_quantile(expanded, high_rank / size) if high_rank <= size else math.inf
    return QuantileInterval(quantile, estimate, low, high)


@dataclass(frozen=True)
class QuantileComparison:
    """candidate - reference at one quantile, with one-sided (1 - alpha) limits (MOVER)."""

    quantile: float
    candidate: QuantileInterval
    reference: QuantileInterval
    difference: float
    low: float
    high: float

    @property
    def label(self) -> str:
        return f"p{100 * self.quantile:g}"


def compare_quantile(
    candidate: QuantileInterval, reference: QuantileInterval
) -> QuantileComparison:
    difference = candidate.estimate - reference.estimate
    low = difference - math.hypot(
        candidate.estimate - candidate.low, reference.high - reference.estimate
    )
    high = difference + math.hypot(
        candidate.high - candidate.estimate, reference.estimate - reference.low
    )
    return QuantileComparison(candidate.quantile, candidate, reference, difference, low, high)


def default_quantiles(n_baseline: int, n_candidate: int) -> tuple[float, ...]:
    if min(n_baseline, n_candidate) >= P99_MIN_SAMPLES:
        return (*DEFAULT_QUANTILES, 0.99)
    return DEFAULT_QUANTILES


def min_samples_for(quantile: float, alpha: float) -> int:
    """Fewest samples for which both one-sided limits of `quantile` exist at (1 - alpha)."""
    tail = min(quantile, 1.0 - quantile)
    return math.ceil(math.log(alpha) / math.log1p(-tail))


def noise_scale(residuals: FloatArray, volume_factor: FloatArray, worse: Side | None) -> float:
    """Per-unit-volume noise s from paired residuals r = candidate - baseline.

    r / sqrt(1/v_c + 1/v_b) has standard deviation s for a healthy candidate. The scale is read
    from the better side only (its quartile around zero), so a regression, which moves values to
    the worse side, can only shrink the estimate; with no direction, the MAD is used.
    """
    standardised = residuals / volume_factor
    if worse is None:
        centre = float(np.median(standardised))
        return MAD_TO_SIGMA * float(np.median(np.abs(standardised - centre)))
    better_quartile = np.quantile(standardised, 0.25 if worse == "higher" else 0.75)
    distance = -better_quartile if worse == "higher" else better_quartile
    return max(0.0, float(distance)) / QUARTILE_Z


def noise_matched_reference(
    baseline: FloatArray, extra_sd: FloatArray | float, nodes: int = NOISE_NODES
) -> tuple[FloatArray, int]:
    """The sorted baseline with the candidate's extra noise: each value at `nodes` normal nodes.

    Returns the sorted values and how many stand for each baseline value (1 with no extra noise).
    """
    extra = np.broadcast_to(np.asarray(extra_sd, dtype=np.float64), baseline.shape)
    if not np.any(extra > 0):
        return np.sort(baseline), 1
    offsets = np.array([normal_quantile((k + 0.5) / nodes) for k in range(nodes)])
    return np.sort((baseline[:, None] + extra[:, None] * offsets[None, :]).ravel()), nodes


def compare_quantiles(
    baseline: FloatArray,
    candidate: FloatArray,
    quantiles: tuple[float, ...],
    alpha: float,
    *,
    extra_sd: FloatArray | float = 0.0,
    reference: FloatArray | None = None,
) -> list[QuantileComparison]:
    """Each quantile of candidate vs the (noise-matched) baseline, one-sided (1 - alpha) limits.

    `reference` is the sorted output of `noise_matched_reference` when the caller has it already.
    """
    if reference is None:
        reference, _nodes = noise_matched_reference(baseline, extra_sd)
    ordered = np.sort(candidate)
    results = []
    for quantile in quantiles:
        cand = _interval_on(ordered, ordered.size, quantile, alpha)
        ref = _interval_on(reference, baseline.size, quantile, alpha)
        results.append(compare_quantile(cand, ref))
    return results


def share_beyond(values: FloatArray, limit: float, side: Side) -> tuple[int, int]:
    """How many values are past `limit` ("higher": above it) and how many there are."""
    beyond = values > limit if side == "higher" else values < limit
    return int(beyond.sum()), int(values.size)

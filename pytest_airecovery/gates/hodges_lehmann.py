"""Hodges-Lehmann shift estimate and its distribution-free confidence interval, without O(n^2).

The estimate is the median of all n_b * n_c pairwise differences candidate[j] - baseline[i], and
the interval's limits are two order statistics of the same differences (Moses' construction, ranks
from the normal approximation of U). At 1,000,000 vs 1,000,000 that is 10^12 differences, so they
are never materialised. Instead, with both samples sorted, row j of the implicit difference matrix
is monotone in i, so "how many differences are <= t" is one vectorised `searchsorted` over the rows
(O(n log n)). A Floyd-Rivest style selection draws a random sample of the remaining candidate
differences, picks two pivots that bracket the wanted rank, counts, and keeps only the per-row index
ranges between the pivots. With a sample of s values (about one per row, 2,000 to 100,000) a round
keeps roughly 3/sqrt(s) of the candidates (1% at s = 100,000), so 1e12 pairs need about three
rounds; once at most `MATERIALISE_LIMIT` remain they are gathered and `np.partition` finishes.
Cost: O(n log n) per round, O(log N) rounds in the worst case, a few in practice.

Accuracy: the returned values are exact order statistics of the floating-point differences
fl(c_j - b_i) (boundaries found on the baseline values are corrected against the computed
differences, so rounding never miscounts). The only approximation is the rank of the interval
limits, which uses the tie-corrected normal approximation of the Mann-Whitney statistic, as scipy
and R do for large samples; below ~20 per arm the exact distribution would be slightly tighter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

MATERIALISE_LIMIT = 2_000_000
SAMPLE_SIZE = 100_000  # at most; about one per row, so sampling never costs more than counting
MIN_SAMPLE_SIZE = 2_000
# Pivots sit this many standard deviations of the sample rank away from the target rank.
PIVOT_SPREAD = 3.0
_SEED = 20260314  # fixed, so that runs (and xdist workers) agree exactly

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HodgesLehmannInterval:
    """Shift estimate (candidate - baseline) and its two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    rank_low: int  # 1-based ranks of the limits among all pairwise differences
    rank_high: int
    n_baseline: int
    n_candidate: int


class PairwiseDifferences:
    """Order statistics of candidate[j] - baseline[i] over all pairs, selected without O(n^2)."""

    def __init__(self, baseline: npt.ArrayLike, candidate: npt.ArrayLike) -> None:
        self.baseline = np.sort(np.asarray(baseline, dtype=np.float64).ravel())
        self.candidate = np.sort(np.asarray(candidate, dtype=np.float64).ravel())
        if self.baseline.size == 0 or self.candidate.size == 0:
            raise ValueError("Hodges-Lehmann needs at least one value in each sample")
        if not (np.isfinite(self.baseline).all() and np.isfinite(self.candidate).all()):
            raise ValueError("Hodges-Lehmann needs finite values (got NaN or inf)")
        self.count = self.baseline.size * self.candidate.size
        # Equal baseline values give equal differences, so boundaries move a whole group at once.
        self._group_first = np.searchsorted(self.baseline, self.baseline, "left")
        self._group_end = np.searchsorted(self.baseline, self.baseline, "right")
        self._rng = np.random.default_rng(_SEED)

    def boundaries(self, threshold: float) -> IntArray:
        """Per row j, the first baseline index i with fl(c_j - b_i) <= threshold."""
        base, cand = self.baseline, self.candidate
        size = base.size
        first = np.searchsorted(base, cand - threshold, "left").astype(np.int64)
        # `cand - threshold` is rounded, so correct against the differences actually computed.
        for _ in range(64):
            prev = np.clip(first - 1, 0, size - 1)
            move_left = (first > 0) & (cand - base[prev] <= threshold)
            here = np.clip(first, 0, size - 1)
            move_right = (first < size) & (cand - base[here] > threshold)
            if not (move_left.any() or move_right.any()):
                return first
            first = np.where(move_left, self._group_first[prev], first)
            first = np.where(move_right, self._group_end[here], first)
        raise RuntimeError("boundary correction did not converge")  # pragma: no cover

    def count_at_most(self, threshold: float) -> int:
        return int(self.count - self.boundaries(threshold).sum())

    def select(self, rank: int) -> float:
        """The value at 0-based `rank` among all pairwise differences in ascending order."""
        if not 0 <= rank < self.count:
            raise IndexError(f"rank {rank} outside 0..{self.count - 1}")
        size = self.baseline.size
        # Candidates in row j are baseline indices [lower[j], upper[j]); everything at index
        # >= upper[j] is known to be smaller than the answer... in count terms, `below` of them.
        lower = np.zeros(self.candidate.size, dtype=np.int64)
        upper = np.full(self.candidate.size, size, dtype=np.int64)
        below = 0
        while True:
            widths = upper - lower
            remaining = int(widths.sum())
            target = rank - below
            if remaining <= MATERIALISE_LIMIT:
                return self._finish(lower, widths, remaining, target)
            pivot_low, pivot_high = self._pivots(lower, widths, remaining, target)
            new_lower, new_upper, new_below = lower, upper, below
            last_pivot: float | None = None
            for pivot in (pivot_low, pivot_high):
                if pivot is None:
                    continue
                bound = self.boundaries(pivot)
                at_most = self.count - int(bound.sum())
                if at_most > rank:  # answer <= pivot
                    new_lower = np.maximum(new_lower, bound)
                    last_pivot = pivot
                    break
                new_upper = np.minimum(new_upper, bound)  # answer > pivot
                new_below = at_most
            stalled = int((new_upper - new_lower).sum()) == remaining
            # Many tied differences can stop the candidates from shrinking: the pivot may be it.
            if stalled and last_pivot is not None and self._is_answer(last_pivot, rank):
                return last_pivot
            lower, upper, below = new_lower, new_upper, new_below

    def next_after(self, value: float, rank: int) -> float:
        """The order statistic at `rank + 1`, given that `value` is the one at `rank`."""
        if rank + 1 >= self.count:
            raise IndexError(f"rank {rank + 1} outside 0..{self.count - 1}")
        bound = self.boundaries(value)
        if self.count - int(bound.sum()) > rank + 1:
            return value  # tied with the next one
        # Row j's smallest difference above `value` sits just before its boundary.
        rows = np.flatnonzero(bound > 0)
        return float((self.candidate[rows] - self.baseline[bound[rows] - 1]).min())

    def _is_answer(self, pivot: float, rank: int) -> bool:
        return self.count_at_most(float(np.nextafter(pivot, -np.inf))) <= rank

    def _pivots(
        self, lower: IntArray, widths: IntArray, remaining: int, target: int
    ) -> tuple[float | None, float | None]:
        cumulative = np.cumsum(widths)
        # Sorted positions make the row lookup below cache-friendly (about 4x faster).
        size = min(SAMPLE_SIZE, max(MIN_SAMPLE_SIZE, self.candidate.size))
        positions = np.sort(self._rng.integers(0, remaining, size=size))
        rows = np.searchsorted(cumulative, positions, "right")
        offsets = positions - (cumulative[rows] - widths[rows])
        values = np.sort(self.candidate[rows] - self.baseline[lower[rows] + offsets])
        expected = target / remaining * size
        spread = PIVOT_SPREAD * math.sqrt(size) / 2.0
        low_index = math.floor(expected - spread)
        high_index = math.ceil(expected + spread)
        pivot_low = float(values[low_index]) if low_index >= 0 else None
        pivot_high = float(values[high_index]) if high_index < size else None
        return pivot_low, pivot_high

    def _finish(self, lower: IntArray, widths: IntArray, remaining: int, target: int) -> float:
        rows = np.repeat(np.arange(self.candidate.size), widths)
        starts = np.cumsum(widths) - widths
        offsets = np.arange(remaining) - np.repeat(starts, widths)
        values = self.candidate[rows] - self.baseline[lower[rows] + offsets]
        return float(np.partition(values, target)[target])


def _tie_term(baseline: FloatArray, candidate: FloatArray) -> float:
    pooled = np.sort(np.concatenate([baseline, candidate]))
    starts = np.flatnonzero(np.concatenate([[True], pooled[1:] != pooled[:-1]]))
    sizes = np.diff(np.append(starts, pooled.size)).astype(np.float64)
    sizes = sizes[sizes > 1]
    return float((sizes**3 - sizes).sum())


def hodges_lehmann_interval(
    baseline: npt.ArrayLike, candidate: npt.ArrayLike, confidence: float = 0.95
) -> HodgesLehmannInterval:
    """Hodges-Lehmann estimate of candidate - baseline with a two-sided `confidence` interval."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    differences = PairwiseDifferences(baseline, candidate)
    n_b, n_c, total = differences.baseline.size, differences.candidate.size, differences.count
    middle = (total - 1) // 2
    n = n_b + n_c
    tie_term = _tie_term(differences.baseline, differences.candidate) if n > 1 else 0.0
    variance = n_b * n_c / 12.0 * ((n + 1) - (tie_term / (n * (n - 1)) if n > 1 else 0.0))
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    rank_low = math.floor(total / 2.0 - z * math.sqrt(max(variance, 0.0)))
    rank_low = min(max(rank_low, 1), (total + 1) // 2)
    rank_high = total + 1 - rank_low
    if total <= MATERIALISE_LIMIT:
        # Small enough to hold: one partition finds all four order statistics at once (the
        # same floating-point differences, so the same values as the selection would give).
        every = (differences.candidate[:, None] - differences.baseline[None, :]).ravel()
        wanted = sorted({middle, min(middle + 1, total - 1), rank_low - 1, rank_high - 1})
        parted = np.partition(every, wanted)
        estimate = float(parted[middle])
        if total % 2 == 0:
            estimate = (estimate + float(parted[middle + 1])) / 2.0
        low, high = float(parted[rank_low - 1]), float(parted[rank_high - 1])
    else:
        estimate = differences.select(middle)
        if total % 2 == 0:
            estimate = (estimate + differences.next_after(estimate, middle)) / 2.0
        low = differences.select(rank_low - 1)
        high = differences.select(rank_high - 1)
    return HodgesLehmannInterval(estimate, low, high, confidence, rank_low, rank_high, n_b, n_c)

"""Bands and runs that respect each arm's own noise, and only count runs on one side.

"`min_run` consecutive points outside the band" means consecutive on the same side: points that
alternate above and below are noise, not a change. Only the worse side fails a gate when the
metric has a direction. The band's width comes from each interval's own volume: a 1-5% canary's
per-minute value is far noisier than the control's, so it is judged at its own noise, not the
baseline's high-traffic spread. An interval with zero trials carries no information: it is
skipped (it neither breaks nor extends a run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from pytest_airecovery.gates.quantiles import MAD_TO_SIGMA, MIN_PAIRS_FOR_NOISE, noise_scale
from pytest_airecovery.gates.stats import longest_true_run, normal_quantile

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Side = Literal["higher", "lower"]
# Shares are clipped into (0, 1) so that a volume is never zero.
_SHARE_FLOOR = 1e-6


@dataclass(frozen=True)
class SideRuns:
    """Longest run of consecutive points past the upper and the lower limit, separately."""

    above: int
    below: int
    points_above: int
    points_below: int

    def worst(self, worse: Side | None) -> tuple[int, str]:
        """The run that counts against the candidate, and its side's word."""
        if worse == "higher":
            return self.above, "above"
        if worse == "lower":
            return self.below, "below"
        return (self.above, "above") if self.above >= self.below else (self.below, "below")

    def outside(self, worse: Side | None) -> tuple[int, str]:
        """How many points are outside on the side that counts (scattered or not)."""
        if worse == "higher":
            return self.points_above, "above"
        if worse == "lower":
            return self.points_below, "below"
        if self.points_above >= self.points_below:
            return self.points_above, "above"
        return self.points_below, "below"


def side_runs(above: BoolArray, below: BoolArray) -> SideRuns:
    return SideRuns(longest_true_run(above), longest_true_run(below),
                    int(above.sum()), int(below.sum()))  # fmt: skip


@dataclass(frozen=True)
class Band:
    """A band verdict: runs per side and the band's limits at a typical interval (for display)."""

    runs: SideRuns
    low: float
    high: float
    centre: float
    n_points: int
    method: str

    def anomalous(self, worse: Side | None, min_run: int) -> bool:
        return self.runs.worst(worse)[0] >= min_run


def pair_indices(candidate_times: FloatArray, baseline_times: FloatArray,
                 tolerance: float) -> npt.NDArray[np.int64]:  # fmt: skip
    """For each candidate sample, the baseline sample at (nearly) the same time, else -1."""
    if baseline_times.size == 0:
        return np.full(candidate_times.size, -1, dtype=np.int64)
    right = np.clip(np.searchsorted(baseline_times, candidate_times), 0, baseline_times.size - 1)
    left = np.clip(right - 1, 0, baseline_times.size - 1)
    nearer = np.where(
        np.abs(baseline_times[left] - candidate_times) <= np.abs(baseline_times[right] - candidate_times),
        left, right,
    )  # fmt: skip
    close = np.abs(baseline_times[nearer] - candidate_times) <= tolerance
    return np.where(close, nearer, -1).astype(np.int64)


def share_volumes(times: FloatArray, traffic_times: FloatArray,
                  shares: FloatArray) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Relative volumes (candidate share, baseline share) at `times`, from the traffic series."""
    if traffic_times.size == 0:
        return np.ones(times.size), np.ones(times.size)
    share = np.clip(np.interp(times, traffic_times, shares), _SHARE_FLOOR, 1 - _SHARE_FLOOR)
    return share, 1.0 - share


@dataclass(frozen=True)
class PairedNoise:
    """Paired residuals candidate - baseline and the noise model s^2 / volume per interval."""

    residuals: FloatArray  # per paired candidate point
    factor: FloatArray  # sqrt(1/v_c + 1/v_b) per paired point
    candidate_extra: FloatArray  # sqrt(max(0, 1/v_c - 1/v_b)) per paired point
    scale: float  # s, per unit volume

    @property
    def usable(self) -> bool:
        return self.residuals.size >= MIN_PAIRS_FOR_NOISE and math.isfinite(self.scale)


def paired_noise(candidate: FloatArray, baseline: FloatArray, volume_c: FloatArray,
                 volume_b: FloatArray, worse: Side | None) -> PairedNoise:  # fmt: skip
    residuals = candidate - baseline
    factor = np.sqrt(1.0 / volume_c + 1.0 / volume_b)
    extra = np.sqrt(np.maximum(0.0, 1.0 / volume_c - 1.0 / volume_b))
    scale = noise_scale(residuals, factor, worse) if residuals.size else math.nan
    return PairedNoise(residuals, factor, extra, scale)


def paired_band(noise: PairedNoise, baseline_level: float, width: float) -> Band:
    """Each candidate point against its concurrent baseline point, in units of their joint noise.

    Pairing removes what both arms share (daily cycle, jitter); the joint noise
    s * sqrt(1/v_c + 1/v_b) is each interval's own, so a low-volume point gets a wider band.
    """
    limit = width * noise.scale * noise.factor
    above = noise.residuals > limit
    below = noise.residuals < -limit
    typical = width * noise.scale * float(np.median(noise.factor)) if noise.factor.size else 0.0
    return Band(side_runs(above, below), baseline_level - typical, baseline_level + typical,
                baseline_level, int(noise.residuals.size),
                f"paired with the concurrent baseline, +/-{width:g} noise SDs at each interval's volume")  # fmt: skip


def mad_band(reference: FloatArray, observed: FloatArray, width: float) -> Band:
    """Baseline median +/- width robust SDs (for a baseline that is not concurrent)."""
    centre = float(np.median(reference))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(reference - centre)))
    low, high = centre - width * spread, centre + width * spread
    return Band(side_runs(observed > high, observed < low), low, high, centre, int(observed.size),
                f"baseline median +/-{width:g} x 1.4826 MAD")  # fmt: skip


def binomial_band(
    events: FloatArray,
    trials: FloatArray,
    reference_rate: FloatArray | float,
    reference_trials: FloatArray | None,
    width: float,
) -> Band:
    """Each interval's rate vs the reference rate, in binomial SDs at both arms' own trials.

    `reference_rate` is the concurrent baseline's rate per interval (or one overall rate); with
    `reference_trials`, the baseline interval's own sampling noise is part of the width too.
    Intervals with zero trials are dropped first: they carry no information.
    """
    informative = trials > 0
    events, trials = events[informative], trials[informative]
    rate_ref = np.broadcast_to(np.asarray(reference_rate, dtype=np.float64), informative.shape)
    rate_ref = rate_ref[informative]
    inverse = 1.0 / trials
    pooled = rate_ref
    if reference_trials is not None:
        ref_trials = reference_trials[informative]
        paired = ref_trials > 0
        safe = np.where(paired, ref_trials, 1.0)
        inverse = inverse + np.where(paired, 1.0 / safe, 0.0)
        # Under "no difference" both intervals share one rate: estimate it from both (pooled),
        # so a baseline interval that happened to have no events does not make the band zero.
        pooled = np.where(paired, (events + rate_ref * ref_trials) / (trials + safe), rate_ref)
    # A rate of exactly 0 would give a zero-width band: count at least half an event.
    floor = 0.5 / trials
    pooled = np.clip(pooled, floor, 1 - floor)
    variance_rate = pooled * (1 - pooled)
    spread = np.sqrt(variance_rate * inverse)
    rates = events / trials
    above = rates - rate_ref > width * spread
    below = rates - rate_ref < -width * spread
    centre = float(np.median(rate_ref)) if rate_ref.size else math.nan
    typical = float(np.median(spread)) if spread.size else 0.0
    return Band(side_runs(above, below), centre - width * typical, centre + width * typical,
                centre, int(rates.size),
                f"+/-{width:g} binomial SDs at each interval's own trials")  # fmt: skip


def wilson_limits(events: FloatArray, trials: FloatArray,
                  confidence: float) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Vectorised two-sided Wilson score limits per interval (trials > 0)."""
    z = normal_quantile(0.5 + confidence / 2.0)
    p_hat = events / trials
    z2n = z * z / trials
    centre = (p_hat + z2n / 2.0) / (1.0 + z2n)
    half = (z / (1.0 + z2n)) * np.sqrt(p_hat * (1.0 - p_hat) / trials + z2n / (4.0 * trials))
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def slo_runs(values: FloatArray, trials: FloatArray | None, slo_min: float | None,
             slo_max: float | None, min_run: int, confidence: float) -> list[str]:  # fmt: skip
    """SLO breaches: `min_run` consecutive intervals past a limit.

    A proportion's interval counts as past `slo_max` only when its Wilson lower limit is above it
    (and below `slo_min` only when the upper limit is below it): 3 errors in 15 requests is no
    evidence that the error rate exceeds 5%. Zero-trial intervals are skipped.
    """
    if trials is not None:
        informative = trials > 0
        events, counts = values[informative], trials[informative]
        low, high = wilson_limits(events, counts, confidence)
        low_word = f" (Wilson {100 * confidence:g}% limits at each interval's trials)"
    else:
        low = high = values
        low_word = ""
    breaches = []
    if slo_max is not None:
        run = longest_true_run(low > slo_max)
        if run >= min_run:
            breaches.append(f"{run} consecutive points above the SLO limit {slo_max:g}{low_word}")
    if slo_min is not None:
        run = longest_true_run(high < slo_min)
        if run >= min_run:
            breaches.append(f"{run} consecutive points below the SLO limit {slo_min:g}{low_word}")
    return breaches

"""One metric's candidate arm against its baseline: the facts every statistical criterion reads.

Built once per criterion from the window's `Samples`: which side is worse (the metric's
`direction`), the noise model of the paired arms, the band, the quantile comparisons and the
share of intervals past the SLO. The criteria (`criteria.py`) only decide what to require.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from pytest_airecovery.gates.bands import (
    Band,
    PairedNoise,
    binomial_band,
    mad_band,
    pair_indices,
    paired_band,
    paired_noise,
    share_volumes,
)
from pytest_airecovery.gates.context import GateContext
from pytest_airecovery.gates.phases import MetricSpec
from pytest_airecovery.gates.quantiles import (
    MAD_TO_SIGMA,
    MIN_PAIRS_FOR_NOISE,
    QuantileComparison,
    compare_quantiles,
    default_quantiles,
    min_samples_for,
    noise_matched_reference,
    share_beyond,
)
from pytest_airecovery.gates.samples import Samples
from pytest_airecovery.gates.stats import (
    absolute_margin,
    newcombe_difference_interval,
    wilson_interval,
)

FloatArray = npt.NDArray[np.float64]
Side = Literal["higher", "lower"]

# The share of intervals past an SLO limit the candidate may add over the baseline (or, with no
# baseline, may have at all): one interval in a hundred.
SLO_SHARE_MARGIN = 0.01
# Healthy data leaves the band on the worse side in well under this share of intervals.
SCATTERED_SHARE_LIMIT = 0.01
# The volume noise model stands unless the data shows less than this share of its extra variance
# (the estimate from successive differences is noisy: a plain minimum would bias it low).
MODEL_CHECK_RATIO = 0.5


def worse_side(spec: MetricSpec) -> Side | None:
    """Which way is worse: the opposite of `direction`; None (both ways) when undeclared."""
    if spec.direction == "lower":
        return "higher"
    if spec.direction == "higher":
        return "lower"
    return None


def is_worse(difference: float, margin: float, worse: Side | None) -> bool:
    """Is a candidate - baseline `difference` past the margin on the worse side?"""
    if worse == "higher":
        return difference > margin
    if worse == "lower":
        return difference < -margin
    return abs(difference) > margin


def signed_margin(margin: float, worse: Side | None) -> float:
    """The margin as the limit candidate - baseline must stay inside: +m when higher is worse."""
    return -margin if worse == "lower" else margin


def signed_limit(margin: float, worse: Side | None) -> str:
    """The same limit as text, exactly as the evidence's `limit` shows it."""
    if worse is None:
        return f"+/-{margin:.4g}"
    return f"{signed_margin(margin, worse):+.4g}"


@dataclass(frozen=True)
class SloShare:
    """Share of intervals past an SLO limit: candidate, reference (baseline) and the difference."""

    limit: float
    side: Side
    candidate_beyond: int
    candidate_total: int
    reference_beyond: float | None
    reference_total: int | None
    low: float  # one-sided limits of candidate share - reference share (or of the share alone)
    high: float

    @property
    def difference(self) -> float:
        share = self.candidate_beyond / self.candidate_total
        if self.reference_total:
            return share - (self.reference_beyond or 0) / self.reference_total
        return share

    def describe(self) -> dict[str, object]:
        return {"limit": self.limit, "candidate": [self.candidate_beyond, self.candidate_total],
                "baseline": [self.reference_beyond, self.reference_total],
                "difference": self.difference, "bounds": [self.low, self.high]}  # fmt: skip


@dataclass
class Comparison:
    """What the data says about one metric's candidate vs its baseline."""

    spec: MetricSpec
    worse: Side | None
    band: Band | None
    noise: PairedNoise | None
    quantiles: list[QuantileComparison] = field(default_factory=list)
    quantile_margins: list[float] = field(default_factory=list)
    slo_shares: list[SloShare] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def quantile_evidence(self) -> list[dict[str, object]]:
        return [
            {"quantile": c.quantile, "candidate": c.candidate.estimate,
             "baseline": c.reference.estimate, "difference": c.difference,
             "bounds": [c.low, c.high], "margin": margin}
            for c, margin in zip(self.quantiles, self.quantile_margins, strict=True)
        ]  # fmt: skip


def _volumes(context: GateContext, samples: Samples, index: npt.NDArray[np.int64],
             paired: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Per paired point, the two arms' volumes: request counts when both carry them, else shares."""
    cand, base = samples.candidate, samples.baseline
    if cand.trials is not None and base.trials is not None:
        return cand.trials[paired], base.trials[index[paired]]
    traffic = context.data.traffic
    return share_volumes(cand.timestamps[paired], traffic.timestamps, traffic.values)


def _pairing(samples: Samples) -> npt.NDArray[np.int64]:
    stamps = samples.candidate.timestamps
    step = float(np.median(np.diff(stamps))) if stamps.size > 1 else 0.0
    return pair_indices(stamps, samples.baseline.timestamps, tolerance=0.5 * step)


def _noise(context: GateContext, samples: Samples,
           worse: Side | None) -> tuple[PairedNoise | None, FloatArray | float]:  # fmt: skip
    """The paired noise model and each baseline point's extra SD at the candidate's volume."""
    if context.config.baseline_window is not None:
        return None, 0.0  # not concurrent: nothing shared to pair, no volumes to compare
    index = _pairing(samples)
    paired = index >= 0
    volume_c, volume_b = _volumes(context, samples, index, paired)
    usable = (volume_c > 0) & (volume_b > 0)
    index_used = index[paired][usable]
    noise = paired_noise(samples.candidate_values[paired][usable],
                         samples.baseline_values[index_used], volume_c[usable],
                         volume_b[usable], worse)  # fmt: skip
    if not noise.usable:
        return None, 0.0
    extra_sd = noise.scale * noise.candidate_extra
    # Check the volume model against the data: successive differences cancel what the arms
    # share (cycle, jitter), so half their variance difference is the candidate's extra noise
    # variance. When the data shows clearly less extra noise than the model (noise that does not
    # shrink with traffic), the data's figure is used. A regression that widens the candidate
    # cannot widen the reference: the model's scale is read from the better side only.
    observed = _extra_variance_observed(samples)
    modelled = float(np.mean(extra_sd**2))
    if modelled > 0 and observed < MODEL_CHECK_RATIO * modelled:
        extra_sd = extra_sd * math.sqrt(max(observed, 0.0) / modelled)
    extra = np.full(
        samples.baseline_values.size, float(np.median(extra_sd)) if extra_sd.size else 0.0
    )
    extra[index_used] = extra_sd
    return noise, extra


def _successive_variance(times: FloatArray, values: FloatArray) -> float:
    """Half the robust variance of differences between neighbouring samples one step apart."""
    if values.size < 3:
        return math.nan
    gaps = np.diff(times)
    step = float(np.median(gaps))
    differences = np.diff(values)[np.abs(gaps - step) <= 0.5 * step]
    if differences.size < 2:
        return math.nan
    centre = float(np.median(differences))
    return (MAD_TO_SIGMA * float(np.median(np.abs(differences - centre)))) ** 2 / 2.0


def _extra_variance_observed(samples: Samples) -> float:
    candidate = _successive_variance(samples.candidate.timestamps, samples.candidate_values)
    baseline = _successive_variance(samples.baseline.timestamps, samples.baseline_values)
    if not (math.isfinite(candidate) and math.isfinite(baseline)):
        return 0.0  # cannot check the model: no matching (fail closed)
    return max(0.0, candidate - baseline)


def _slo_share(spec: MetricSpec, cand: FloatArray, matched: tuple[FloatArray, int] | None,
               alpha: float) -> list[SloShare]:  # fmt: skip
    """Share of candidate intervals past each SLO limit, vs the noise-matched baseline's."""
    shares = []
    for limit, side in ((spec.slo_max, "higher"), (spec.slo_min, "lower")):
        if limit is None:
            continue
        k_c, n_c = share_beyond(cand, limit, side)  # type: ignore[arg-type]
        if matched is not None and matched[0].size:
            reference, nodes = matched
            k_expanded, n_expanded = share_beyond(reference, limit, side)  # type: ignore[arg-type]
            # The reference stands for each baseline value `nodes` times: count it as n_b.
            n_r = n_expanded // nodes
            k_r = k_expanded / nodes
            low, high = newcombe_difference_interval(k_c, n_c, k_r, n_r, 1.0 - 2.0 * alpha)
            shares.append(SloShare(limit, side, k_c, n_c, k_r, n_r, low, high))  # type: ignore[arg-type]
        else:
            low, high = wilson_interval(k_c, n_c, 1.0 - 2.0 * alpha)
            shares.append(SloShare(limit, side, k_c, n_c, None, None, low, high))  # type: ignore[arg-type]
    return shares


def compare_continuous(context: GateContext, samples: Samples, alpha: float, *,
                       with_baseline: bool = True) -> Comparison:  # fmt: skip
    """Band, quantiles and SLO shares of a continuous metric, each at one-sided (1 - alpha)."""
    spec, config = samples.spec, context.config
    worse = worse_side(spec)
    base, cand = samples.baseline_values, samples.candidate_values
    if not with_baseline or base.size == 0:
        return Comparison(spec, worse, None, None, slo_shares=_slo_share(spec, cand, None, alpha))
    noise, extra = _noise(context, samples, worse)
    baseline_level = float(np.median(base))
    if noise is not None:
        band = paired_band(noise, baseline_level, config.band_width)
    else:
        band = mad_band(base, cand, config.band_width)
    comparison = Comparison(spec, worse, band, noise)
    quantiles = spec.quantiles or default_quantiles(base.size, cand.size)
    reference, nodes = noise_matched_reference(base, extra)
    comparison.quantiles = compare_quantiles(base, cand, tuple(quantiles), alpha,
                                             reference=reference)  # fmt: skip
    for result in comparison.quantiles:
        comparison.quantile_margins.append(
            absolute_margin(spec.margin, spec.margin_kind, result.reference.estimate)
        )
        if not (math.isfinite(result.low) and math.isfinite(result.high)):
            need = min_samples_for(result.quantile, alpha)
            comparison.notes.append(
                f"{result.label} needs >= {need} samples per arm for an interval"
            )
    comparison.slo_shares = _slo_share(spec, cand, (reference, nodes), alpha)
    return comparison


def _overdispersion(events: FloatArray, trials: FloatArray, rate: float) -> float:
    """Robust variance of the intervals' rates in binomial SDs (>= 1; 1 means pure binomial)."""
    informative = trials > 0
    if informative.sum() < MIN_PAIRS_FOR_NOISE or not 0 < rate < 1:
        return 1.0
    counts = trials[informative]
    z = (events[informative] / counts - rate) / np.sqrt(rate * (1 - rate) / counts)
    spread = MAD_TO_SIGMA * float(np.median(np.abs(z - np.median(z))))
    return max(1.0, spread**2)


def proportion_band(context: GateContext, samples: Samples) -> Band:
    """Each candidate interval's rate vs the concurrent baseline interval (or overall rate)."""
    cand, base = samples.candidate, samples.baseline
    assert cand.trials is not None and base.trials is not None
    overall = float(base.values.sum() / base.trials.sum())
    if context.config.baseline_window is not None:
        # Not concurrent: nothing cancels the daily cycle or shared jitter, so the band widens by
        # the baseline window's own over-dispersion (its rates' robust spread in binomial SDs).
        width = context.config.band_width * math.sqrt(
            _overdispersion(base.values, base.trials, overall)
        )
        return binomial_band(cand.values, cand.trials, overall, None, width)
    index = _pairing(samples)
    paired = index >= 0
    safe = np.where(paired, index, 0)
    base_trials = np.where(paired, base.trials[safe], 0.0)
    base_rate = np.where(base_trials > 0, base.values[safe] / np.maximum(base_trials, 1), overall)
    return binomial_band(cand.values, cand.trials, base_rate,
                         np.where(base_trials > 0, base_trials, 0.0), context.config.band_width)  # fmt: skip

"""Gate statistics against scipy (the oracle) and brute force, plus fail-safe properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.gates import hodges_lehmann
from pytest_airecovery.gates.bands import (
    binomial_band,
    mad_band,
    side_runs,
    slo_runs,
    wilson_limits,
)
from pytest_airecovery.gates.hodges_lehmann import PairwiseDifferences, hodges_lehmann_interval
from pytest_airecovery.gates.quantiles import (
    binomial_cdf,
    compare_quantiles,
    min_samples_for,
    noise_scale,
    order_statistic_ranks,
    quantile_interval,
)
from pytest_airecovery.gates.stats import (
    longest_true_run,
    mann_whitney_u,
    newcombe_difference_interval,
    non_inferiority_continuous,
    non_inferiority_proportion,
    normal_quantile,
    normal_sf,
    two_proportion_test,
    wilson_interval,
)

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.fixture
def small_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the sampling rounds of the selection even on tiny inputs."""
    monkeypatch.setattr(hodges_lehmann, "MATERIALISE_LIMIT", 40)
    monkeypatch.setattr(hodges_lehmann, "SAMPLE_SIZE", 64)
    monkeypatch.setattr(hodges_lehmann, "MIN_SAMPLE_SIZE", 16)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("seed", range(6))
def test_mann_whitney_matches_scipy_with_ties(alternative: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 8, size=int(rng.integers(5, 400))).astype(float)
    second = rng.integers(0, 9, size=int(rng.integers(5, 400))).astype(float) + seed % 2
    ours = mann_whitney_u(first, second, alternative)  # type: ignore[arg-type]
    oracle = scipy_stats.mannwhitneyu(first, second, alternative=alternative, method="asymptotic")
    assert ours.statistic == pytest.approx(oracle.statistic, abs=1e-9)
    assert abs(ours.pvalue - oracle.pvalue) <= 1e-9


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_mann_whitney_matches_scipy_continuous_large(alternative: str) -> None:
    rng = np.random.default_rng(7)
    first = rng.normal(size=20_000)
    second = rng.normal(0.02, size=15_000)
    ours = mann_whitney_u(first, second, alternative)  # type: ignore[arg-type]
    oracle = scipy_stats.mannwhitneyu(first, second, alternative=alternative, method="asymptotic")
    assert abs(ours.pvalue - oracle.pvalue) <= 1e-9
    assert ours.statistic == oracle.statistic


def test_mann_whitney_identical_values_is_no_evidence() -> None:
    result = mann_whitney_u([1.0] * 10, [1.0] * 12)
    assert result.pvalue == 1.0


def test_mann_whitney_rejects_nan_and_empty() -> None:
    with pytest.raises(ValueError, match="finite"):
        mann_whitney_u([1.0, math.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least one"):
        mann_whitney_u([], [1.0])


def test_normal_helpers_match_scipy() -> None:
    for z in (-8.0, -1.5, 0.0, 0.3, 2.0, 9.0):
        assert normal_sf(z) == pytest.approx(scipy_stats.norm.sf(z), rel=1e-12)
    for p in (1e-10, 0.025, 0.5, 0.95, 0.999):
        assert normal_quantile(p) == pytest.approx(scipy_stats.norm.ppf(p), rel=1e-12)


@pytest.mark.usefixtures("small_selection")
@pytest.mark.parametrize("seed", range(30))
def test_selection_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_base, n_cand = (int(v) for v in rng.integers(1, 50, size=2))
    if seed % 3 == 0:  # heavy ties
        base, cand = rng.integers(0, 4, n_base) * 1.0, rng.integers(0, 4, n_cand) * 1.0
    else:  # awkward magnitudes, to exercise rounding of the boundaries
        base = rng.normal(size=n_base) * 10.0 ** rng.integers(-3, 4)
        cand = rng.normal(size=n_cand) + 0.1
    differences = PairwiseDifferences(base, cand)
    every = np.sort((differences.candidate[:, None] - differences.baseline[None, :]).ravel())
    for rank in sorted({0, every.size - 1, *map(int, rng.integers(0, every.size, 8))}):
        assert differences.select(rank) == every[rank]
        if rank + 1 < every.size:
            assert differences.next_after(every[rank], rank) == every[rank + 1]


@pytest.mark.parametrize("seed", range(5))
def test_hodges_lehmann_matches_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.exponential(size=120)
    cand = rng.exponential(size=97) + 0.3
    every = np.sort((cand[:, None] - base[None, :]).ravel())
    interval = hodges_lehmann_interval(base, cand, confidence=0.9)
    assert interval.estimate == pytest.approx(float(np.median(every)), abs=1e-12)
    assert interval.low == every[interval.rank_low - 1]
    assert interval.high == every[interval.rank_high - 1]
    # Rank from the normal approximation of U (no ties in continuous data).
    sigma = math.sqrt(120 * 97 * (120 + 97 + 1) / 12)
    assert interval.rank_low == math.floor(120 * 97 / 2 - scipy_stats.norm.ppf(0.95) * sigma)
    assert interval.low <= interval.estimate <= interval.high


def test_hodges_lehmann_interval_covers_known_shift() -> None:
    rng = np.random.default_rng(11)
    interval = hodges_lehmann_interval(rng.normal(size=3000), rng.normal(0.5, size=3000))
    assert interval.low < 0.5 < interval.high


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (81, 263), (10, 10), (3, 1000)])
def test_wilson_matches_scipy(successes: int, trials: int) -> None:
    oracle = scipy_stats.binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(successes, trials, 0.95)
    assert low == pytest.approx(oracle.low, abs=1e-12)
    assert high == pytest.approx(oracle.high, abs=1e-12)


def test_newcombe_matches_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10.
    low, high = newcombe_difference_interval(56, 70, 48, 80, 0.95)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_non_inferiority_continuous_passes_on_equal_distributions() -> None:
    rng = np.random.default_rng(3)
    result = non_inferiority_continuous(
        rng.normal(100, 5, 2000), rng.normal(100, 5, 2000), 0.02, direction="higher"
    )
    assert result.non_inferior
    assert result.bound > -result.margin


def test_non_inferiority_continuous_fails_on_regression() -> None:
    rng = np.random.default_rng(4)
    result = non_inferiority_continuous(
        rng.normal(100, 5, 2000), rng.normal(95, 5, 2000), 0.02, direction="higher"
    )
    assert not result.non_inferior
    assert result.estimate == pytest.approx(-5, abs=0.5)


def test_non_inferiority_proportion_lower_is_better() -> None:
    good = non_inferiority_proportion(50, 5000, 52, 5000, 0.005, direction="lower")
    bad = non_inferiority_proportion(50, 5000, 150, 5000, 0.005, direction="lower")
    assert good.non_inferior and not bad.non_inferior


finite_values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    base=st.lists(finite_values, min_size=2, max_size=60),
    worse_by=st.floats(1e-3, 1e3),  # beyond rounding of the shifted values
    margin=st.floats(0.0, 10.0),
    direction=st.sampled_from(["higher", "lower"]),
)
def test_continuous_non_inferiority_never_passes_a_shift_beyond_margin(
    base: list[float], worse_by: float, margin: float, direction: str
) -> None:
    baseline = np.array(base)
    # Exactly the baseline moved the wrong way by the margin plus some: violates the criterion.
    step = margin + worse_by
    candidate = baseline - step if direction == "higher" else baseline + step
    result = non_inferiority_continuous(
        baseline,
        candidate,
        margin,
        margin_kind="absolute",
        direction=direction,  # type: ignore[arg-type]
    )
    assert not result.non_inferior


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    trials_base=st.integers(1, 5000),
    trials_cand=st.integers(1, 5000),
    rate_base=st.floats(0, 1),
    margin=st.floats(0, 0.2),
    extra=st.floats(0, 0.5),
    direction=st.sampled_from(["higher", "lower"]),
)
def test_proportion_non_inferiority_never_passes_an_observed_violation(
    trials_base: int,
    trials_cand: int,
    rate_base: float,
    margin: float,
    extra: float,
    direction: str,
) -> None:
    successes_base = round(rate_base * trials_base)
    p_base = successes_base / trials_base
    worse = p_base - margin - extra if direction == "higher" else p_base + margin + extra
    if not 0 <= worse <= 1:
        return
    # Round away from the baseline so the observed candidate rate really is past the margin.
    successes_cand = (
        math.floor(worse * trials_cand) if direction == "higher" else math.ceil(worse * trials_cand)
    )
    result = non_inferiority_proportion(
        successes_base,
        trials_base,
        successes_cand,
        trials_cand,
        margin,
        direction=direction,  # type: ignore[arg-type]
    )
    assert not result.non_inferior


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    reference=st.lists(finite_values, min_size=1, max_size=50),
    prefix=st.lists(finite_values, max_size=20),
    run=st.integers(1, 12),
    min_run=st.integers(1, 12),
    offset=st.floats(1e-3, 1e6),
)
def test_band_flags_every_long_enough_run_outside(
    reference: list[float], prefix: list[float], run: int, min_run: int, offset: float
) -> None:
    ref = np.array(reference)
    band = mad_band(ref, ref, width=4.0)
    outside_value = band.high + offset * (1 + abs(band.high))
    observed = np.array(prefix + [outside_value] * run)
    result = mad_band(ref, observed, width=4.0)
    for worse in ("higher", None):
        assert result.anomalous(worse, min_run) is (result.runs.above >= min_run)  # type: ignore[arg-type]
        if run >= min_run:
            assert result.anomalous(worse, min_run)  # type: ignore[arg-type]
    assert result.runs.above >= run
    # Above the band is the better side when higher is better: never an anomaly.
    assert not result.anomalous("lower", min_run) or result.runs.below >= min_run


def test_band_ignores_short_spikes() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(size=500)
    observed = rng.normal(size=500).clip(-2, 2)
    observed[[10, 11, 200]] = 50.0
    result = mad_band(reference, observed, width=4.0)
    assert not result.anomalous(None, 3) and result.runs.worst(None)[0] == 2


def test_longest_true_run() -> None:
    assert longest_true_run(np.array([], dtype=bool)) == 0
    assert longest_true_run(np.array([1, 1, 0, 1, 1, 1, 0], dtype=bool)) == 3


# --- quantile intervals (order statistics, exact binomial ranks) against scipy ---


@pytest.mark.parametrize(("trials", "probability"), [(0, 0.3), (1, 0.5), (37, 0.9), (5000, 0.01)])
def test_binomial_cdf_matches_scipy(trials: int, probability: float) -> None:
    oracle = scipy_stats.binom.cdf(np.arange(trials + 1), trials, probability)
    assert np.abs(binomial_cdf(trials, probability) - oracle).max() <= 1e-12


@pytest.mark.parametrize("size", [3, 20, 151, 1200])
@pytest.mark.parametrize("quantile", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("alpha", [0.05, 0.001])
def test_quantile_interval_matches_scipy_quantile_test(size: int, quantile: float,
                                                        alpha: float) -> None:  # fmt: skip
    values = np.random.default_rng(size).lognormal(size=size)
    ours = quantile_interval(values, quantile, alpha)
    lower = scipy_stats.quantile_test(values, p=quantile, alternative="greater")
    upper = scipy_stats.quantile_test(values, p=quantile, alternative="less")
    low = lower.confidence_interval(1 - alpha).low
    high = upper.confidence_interval(1 - alpha).high
    assert ours.low == low if np.isfinite(low) else ours.low == -np.inf
    assert ours.high == high if np.isfinite(high) else ours.high == np.inf
    assert ours.estimate == np.quantile(values, quantile, method="inverted_cdf")


def test_p99_needs_enough_samples_for_an_interval() -> None:
    need = min_samples_for(0.99, 0.05)
    assert order_statistic_ranks(need, 0.99, 0.05)[1] <= need
    assert order_statistic_ranks(need - 1, 0.99, 0.05)[1] == need  # no finite upper limit yet


@pytest.mark.parametrize("quantile", [0.5, 0.9])
def test_quantile_difference_limits_hold_their_level(quantile: float) -> None:
    """Same distribution in both arms: each one-sided 95% limit misses zero in <= 5% of draws."""
    rng = np.random.default_rng(0)
    above = below = 0
    for _ in range(600):
        base, cand = rng.gamma(3.0, size=200), rng.gamma(3.0, size=120)
        result = compare_quantiles(base, cand, (quantile,), 0.05)[0]
        above += result.low > 0
        below += result.high < 0
    # Observed about 2.5% each (exact ranks and MOVER are conservative); 5% is the promise.
    assert above / 600 <= 0.05 and below / 600 <= 0.05


def test_noise_matching_widens_the_reference_only() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(100, 1, 500)
    plain = compare_quantiles(base, base, (0.9,), 0.05)[0]
    matched = compare_quantiles(base, base, (0.9,), 0.05, extra_sd=5.0)[0]
    assert matched.reference.estimate > plain.reference.estimate + 5
    assert matched.candidate == plain.candidate


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 0.4), size=st.floats(1.0, 50.0))
def test_a_worse_side_regression_never_widens_the_noise_scale(seed: int, share: float,
                                                               size: float) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    residuals = rng.normal(0, 1, 300)
    factor = np.ones(300)
    regressed = residuals + np.where(rng.random(300) < share, size, 0.0)
    assert noise_scale(regressed, factor, "higher") <= noise_scale(residuals, factor, "higher")


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_two_proportion_test_one_sided(alternative: str) -> None:
    result = two_proportion_test(100, 10_000, 30, 2_000, alternative=alternative)  # type: ignore[arg-type]
    pooled = 130 / 12_000
    z = (30 / 2000 - 100 / 10_000) / math.sqrt(pooled * (1 - pooled) * (1 / 10_000 + 1 / 2000))
    expected = {"two-sided": 2 * scipy_stats.norm.sf(abs(z)), "greater": scipy_stats.norm.sf(z),
                "less": scipy_stats.norm.cdf(z)}[alternative]  # fmt: skip
    assert result.pvalue == pytest.approx(expected, rel=1e-9)


# --- bands: same-side runs, each interval's own trials ---


def test_side_runs_do_not_join_the_two_sides() -> None:
    above = np.array([1, 0, 1, 0, 1, 1, 1, 0], dtype=bool)
    below = np.array([0, 1, 0, 1, 0, 0, 0, 1], dtype=bool)
    runs = side_runs(above, below)
    assert (runs.above, runs.below) == (3, 1)
    assert runs.worst("higher") == (3, "above") and runs.worst("lower") == (1, "below")


def test_binomial_band_skips_zero_trial_intervals() -> None:
    events = np.array([0.0, 1.0, 0.0, 40.0, 0.0])
    trials = np.array([0.0, 100.0, 0.0, 100.0, 0.0])
    band = binomial_band(events, trials, 0.01, None, width=4.0)
    assert band.n_points == 2 and band.runs.points_above == 1


def test_binomial_band_width_grows_for_a_small_interval() -> None:
    # 2 of 15 at a 5% rate is noise; 2 of 15 000 is not 13%.
    small = binomial_band(np.array([2.0]), np.array([15.0]), 0.05, None, width=4.0)
    assert small.runs.points_above == 0
    large = binomial_band(np.array([2000.0]), np.array([15000.0]), 0.05, None, width=4.0)
    assert large.runs.points_above == 1


@pytest.mark.parametrize(("events", "trials"), [(0, 15), (2, 15), (15, 15), (37, 2000)])
def test_wilson_limits_match_scipy(events: int, trials: int) -> None:
    low, high = wilson_limits(np.array([float(events)]), np.array([float(trials)]), 0.99)
    oracle = scipy_stats.binomtest(events, trials).proportion_ci(0.99, method="wilson")
    assert low[0] == pytest.approx(oracle.low, abs=1e-12)
    assert high[0] == pytest.approx(oracle.high, abs=1e-12)


def test_slo_runs_need_evidence_per_interval_for_proportions() -> None:
    events = np.array([2.0] * 8)
    assert slo_runs(events, np.full(8, 15.0), None, 0.1, 5, 0.99) == []
    assert slo_runs(events / 15, None, None, 0.1, 5, 0.99) != []  # raw rates would breach
    assert slo_runs(np.array([9.0] * 8), np.full(8, 15.0), None, 0.1, 5, 0.99) != []

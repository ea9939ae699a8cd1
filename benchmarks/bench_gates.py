"""Gate statistics vs scipy, side by side in one run (not part of the test suite).

    python benchmarks/bench_gates.py            # full size (1,000,000 per arm; 8 h at 1 s)
    python benchmarks/bench_gates.py --quick    # smaller, for a smoke run

Prints, for each comparison, our time, the reference time, their ratio and the agreement.
Targets (issue #5): Mann-Whitney U <= 0.7x scipy with p equal to 1e-9; Hodges-Lehmann interval
not O(n^2) at 1,000,000 vs 1,000,000; a full limited-phase gate over an 8 h export at 1 s
resolution for 12 metrics <= 2x computing the same statistics directly. Issue 12 adds the
quantile comparison (order-statistic limits per arm, MOVER for the difference) against a plain
numpy bootstrap of the same p50/p90/p99 differences; its limits must equal scipy's quantile_test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_airecovery.gates.hodges_lehmann import hodges_lehmann_interval
from pytest_airecovery.gates.quantiles import compare_quantiles, quantile_interval
from pytest_airecovery.gates.runner import GateRun
from pytest_airecovery.gates.stats import mann_whitney_u, newcombe_difference_interval

T = TypeVar("T")


def best_of(repeats: int, function: Callable[[], T]) -> tuple[float, T]:
    """Smallest wall time of `repeats` runs (the least disturbed by the machine), and a result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result  # type: ignore[return-value]


def row(name: str, ours: float, reference: float | None, agreement: str) -> None:
    ratio = f"{ours / reference:6.2f}x" if reference else "    - "
    ref = f"{reference:8.3f}s" if reference else "        -"
    print(f"{name:<44} {ours:8.3f}s {ref} {ratio}   {agreement}")


def bench_mann_whitney(size: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    continuous = (rng.normal(0, 1, size), rng.normal(0.002, 1, size))
    tied = (np.round(continuous[0], 2), np.round(continuous[1], 2))  # many ties
    for label, (first, second) in (("continuous", continuous), ("ties", tied)):
        for alternative in ("two-sided", "less"):
            ours_t, ours = best_of(repeats, partial(mann_whitney_u, first, second, alternative))
            ref_t, ref = best_of(repeats, partial(scipy_stats.mannwhitneyu, first, second,
                                                  alternative=alternative, method="asymptotic"))  # fmt: skip
            diff = abs(ours.pvalue - ref.pvalue)
            verdict = "OK" if diff <= 1e-9 else "MISMATCH"
            row(f"Mann-Whitney U {size:,}x2 {label} {alternative}", ours_t, ref_t,
                f"|p - p_scipy| = {diff:.1e} {verdict} (target <= 0.70x)")  # fmt: skip


def bench_hodges_lehmann(size: int) -> None:
    rng = np.random.default_rng(1)
    baseline = rng.normal(0, 1, size)
    candidate = rng.normal(0.01, 1, size)
    elapsed, interval = best_of(1, lambda: hodges_lehmann_interval(baseline, candidate, 0.95))
    pairs = size * size
    row(f"Hodges-Lehmann 95% CI {size:,} vs {size:,}", elapsed, None,
        f"estimate {interval.estimate:+.5f} [{interval.low:+.5f}, {interval.high:+.5f}] "
        f"from {pairs:.1e} implicit pairs")  # fmt: skip
    # Accuracy check on a subsample where brute force is affordable.
    small_b, small_c = baseline[:2000], candidate[:2000]
    every = np.sort((small_c[:, None] - small_b[None, :]).ravel())
    small = hodges_lehmann_interval(small_b, small_c, 0.95)
    exact = (small.low == every[small.rank_low - 1] and small.high == every[small.rank_high - 1]
             and small.estimate == float(np.median(every)))  # fmt: skip
    print(f"{'':<44} brute force at 2,000 vs 2,000 agrees exactly: {exact}")


BOOTSTRAP_RESAMPLES = 1000


def numpy_bootstrap(baseline: np.ndarray, candidate: np.ndarray, quantiles: tuple[float, ...],
                    alpha: float) -> np.ndarray:  # fmt: skip
    """Percentile bootstrap of candidate - baseline at each quantile: (low, high) rows."""
    rng = np.random.default_rng(3)
    differences = np.empty((BOOTSTRAP_RESAMPLES, len(quantiles)))
    for index in range(BOOTSTRAP_RESAMPLES):
        base = baseline[rng.integers(0, baseline.size, baseline.size)]
        cand = candidate[rng.integers(0, candidate.size, candidate.size)]
        differences[index] = np.quantile(cand, quantiles) - np.quantile(base, quantiles)
    return np.quantile(differences, [alpha, 1 - alpha], axis=0).T


def bench_quantiles(size: int, repeats: int) -> None:
    rng = np.random.default_rng(4)
    baseline = rng.gamma(30, 7, size)
    candidate = rng.gamma(30, 7, size // 6)  # a 15% arm beside the control
    levels, alpha = (0.5, 0.9, 0.99), 0.05
    ours_t, ours = best_of(repeats, lambda: compare_quantiles(baseline, candidate, levels, alpha))
    boot_t, boot = best_of(1, lambda: numpy_bootstrap(baseline, candidate, levels, alpha))
    oracle = scipy_stats.quantile_test(candidate, p=0.9, alternative="less")
    exact = quantile_interval(candidate, 0.9, alpha).high == oracle.confidence_interval(0.95).high
    widths = ", ".join(f"p{100 * q:g} {r.high - r.low:.3g} vs {b[1] - b[0]:.3g}"
                       for q, r, b in zip(levels, ours, boot, strict=True))  # fmt: skip
    row(f"quantile limits p50/p90/p99 {size:,} vs {size // 6:,}", ours_t, boot_t,
        f"vs a {BOOTSTRAP_RESAMPLES}-resample numpy bootstrap; widths {widths}; "
        f"p90 limit == scipy quantile_test: {exact}")  # fmt: skip


CONTINUOUS = [f"latency_{name}_ms" for name in ("p50", "p90", "p95", "p99")] + [
    "quality_score", "toxicity_score", "refusal_score", "tokens_out", "time_to_first_token_ms",
    "grounding_score",
]  # fmt: skip
PROPORTIONS = ["error_rate", "timeout_rate"]


def make_export(hours: float) -> dict[str, Any]:
    """Limited phase at 15%: 12 metrics, both arms, one sample per second."""
    rng = np.random.default_rng(2)
    start = 1_780_000_000  # in the past: the gate refuses samples from the future
    seconds = int(hours * 3600)
    series: list[dict[str, Any]] = [{"metric": "traffic_share", "arm": "candidate",
               "timestamps": list(range(start, start + seconds + 1, 60)),
               "values": [0.15] * (seconds // 60 + 1)}]  # fmt: skip
    stamps = list(range(start, start + seconds + 1))
    for arm in ("baseline", "candidate"):
        volume = 850 if arm == "baseline" else 150
        for metric in CONTINUOUS:
            values = np.round(rng.gamma(30, 7, len(stamps)), 2)
            series.append(
                {"metric": metric, "arm": arm, "timestamps": stamps, "values": values.tolist()}
            )
        for metric in PROPORTIONS:
            trials = rng.poisson(volume, len(stamps)).clip(1)
            series.append({"metric": metric, "arm": arm, "timestamps": stamps,
                           "values": rng.binomial(trials, 0.01).tolist(), "trials": trials.tolist()})  # fmt: skip
    metrics = {name: {"direction": "lower", "margin": 0.05} for name in CONTINUOUS}
    metrics |= {name: {"kind": "proportion", "direction": "lower", "margin": 0.005,
                       "margin_kind": "absolute"} for name in PROPORTIONS}  # fmt: skip
    return {"format": "airecovery-metrics/1", "exported_at": start + seconds + 5,
            "metrics": metrics, "series": series}  # fmt: skip


def reference_statistics(document: dict[str, Any], *, with_hodges_lehmann: bool = True) -> None:
    """The same numbers the gate reports, computed directly: scipy where scipy has them."""
    arrays = {(b["metric"], b["arm"]): b for b in document["series"]}
    for metric in CONTINUOUS:
        base = np.asarray(arrays[(metric, "baseline")]["values"], dtype=float)
        cand = np.asarray(arrays[(metric, "candidate")]["values"], dtype=float)
        margin = 0.05 * float(np.median(base))
        scipy_stats.mannwhitneyu(cand - margin, base, alternative="less", method="asymptotic")
        # scipy has no Hodges-Lehmann interval and brute force needs 8e8 pairs per metric,
        # so the reference uses the same selection routine as the gate.
        if with_hodges_lehmann:
            hodges_lehmann_interval(base, cand, 0.90)
        # The quantile limits the gate adds (issue 12): p50 and p90 of each arm, at 95% one-sided.
        for values in (base, cand):
            for level in (0.5, 0.9):
                for side in ("greater", "less"):
                    scipy_stats.quantile_test(
                        values, p=level, alternative=side
                    ).confidence_interval(0.95)
    for metric in PROPORTIONS:
        counts = []
        for arm in ("baseline", "candidate"):
            block = arrays[(metric, arm)]
            counts.append((int(np.sum(block["values"])), int(np.sum(block["trials"]))))
            scipy_stats.binomtest(*counts[-1]).proportion_ci(0.90, method="wilson")
        newcombe_difference_interval(counts[1][0], counts[1][1], counts[0][0], counts[0][1], 0.90)


def bench_limited_gate(hours: float, repeats: int) -> None:
    document = make_export(hours)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "limited.json"
        path.write_text(json.dumps(document), encoding="utf-8")

        def gate_from_file() -> GateRun:
            run = GateRun("limited", str(path), None, Path(folder))
            run.load()
            assert run.load_error is None, run.load_error
            return run

        def evaluate(run: GateRun) -> list[str]:
            run._verdicts.clear()
            return [run.evaluate(check).outcome.value for check in run.checks()]

        load_t, run = best_of(repeats, gate_from_file)
        eval_t, outcomes = best_of(repeats, lambda: evaluate(run))
        ref_t, _ = best_of(repeats, lambda: reference_statistics(document))
        scipy_only_t, _ = best_of(
            repeats, lambda: reference_statistics(document, with_hodges_lehmann=False)
        )
        plot_t = bench_plots(run, Path(folder))
    checks = len(outcomes)
    counts = {name: outcomes.count(name) for name in sorted(set(outcomes))}
    label = f"limited gate, {hours:g} h at 1 s, 12 metrics"
    row(f"{label}: evaluate", eval_t, ref_t, f"{checks} items {counts} (target <= 2x)")
    row(f"{label}: evaluate vs scipy parts only", eval_t, scipy_only_t,
        "for scale: the reference without the Hodges-Lehmann intervals")  # fmt: skip
    row(f"{label}: read export + evaluate", load_t + eval_t, ref_t,
        f"JSON parse/build alone {load_t:.3f}s")  # fmt: skip
    if plot_t is not None:  # report only: the plots are an optional extra, no target
        print(f"{label}: 12 PNG plots (plot extra) {plot_t:.2f}s, {plot_t / 12:.2f}s per metric")


def bench_plots(run: GateRun, folder: Path) -> float | None:
    """Time the report's PNGs (one per metric); None without matplotlib."""
    from pytest_airecovery.gates.plots import matplotlib_available, write_plots

    if not matplotlib_available() or run.context is None:
        return None
    import matplotlib  # noqa: F401  (import cost is paid once per run; keep it out of the timing)

    metrics = run.context.gated_metrics()
    start = time.perf_counter()
    write_plots(folder / "gate.json", run.context, metrics, {})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes for a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="Best of N timings")
    args = parser.parse_args()
    size = 100_000 if args.quick else 1_000_000
    hours = 4.5 if args.quick else 8.0  # the limited phase needs at least 4 h
    print(f"{'benchmark':<44} {'ours':>9} {'reference':>9} {'ratio':>7}   agreement")
    bench_mann_whitney(size, args.repeats)
    bench_hodges_lehmann(size)
    bench_quantiles(min(size, 100_000), args.repeats)  # the bootstrap is 1000 x slower: cap it
    bench_limited_gate(hours, args.repeats)
    print(f"(python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"scipy {__import__('scipy').__version__}; best of {args.repeats})")  # fmt: skip


if __name__ == "__main__":
    main()

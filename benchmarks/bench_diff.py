"""Behaviour diff engine vs DeepDiff pair by pair vs a bare numpy conversion + comparison.

    pip install -e ".[bench]"   # DeepDiff, the baseline; the plugin itself does not use it
    python benchmarks/bench_diff.py [--n 100000] [--changed 0.05] [--deepdiff-sample 3000] [--nested]

All three run in one process on the same outputs shaped ``{label, score, probs[10]}`` with about
5% of inputs changed, and must agree on which inputs changed. DeepDiff pair by pair is timed on a
sample of pairs (with the same share of changed pairs) and extrapolated to all of them; the
sample size is printed. Peak memory of the engine is measured with tracemalloc in a separate pass
and set against the size of the outputs themselves (also measured with tracemalloc, as built).
Targets (issue 3): engine ≥ 100× faster than DeepDiff pair by pair, within 2× of bare numpy, peak
memory ≤ 3× the outputs. ``--nested`` also times the deep path: the same outputs with ``probs``
as a mapping ``{label: p}``, which the engine compares pair by pair (no target; printed as a ratio
to DeepDiff pair by pair on the same sample).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import random
import time
import tracemalloc
from typing import Any

import numpy as np


def make_outputs(
    n: int, changed: float, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], np.ndarray]:
    rng = random.Random(seed)
    good, cand, truth = [], [], np.zeros(n, dtype=bool)
    for i in range(n):
        probs = [rng.random() for _ in range(10)]
        total = sum(probs)
        probs = [p / total for p in probs]
        label = max(range(10), key=probs.__getitem__)
        good.append({"label": label, "score": probs[label], "probs": probs})
        if rng.random() < changed:
            truth[i] = True
            moved = list(probs)
            moved[(label + 1) % 10] += 0.5
            new_label = (label + 1) % 10 if rng.random() < 0.5 else label
            cand.append({"label": new_label, "score": moved[new_label], "probs": moved})
        else:
            cand.append({"label": label, "score": probs[label], "probs": list(probs)})
    return good, cand, truth


def bare_numpy(good: list[dict[str, Any]], cand: list[dict[str, Any]]) -> np.ndarray:
    """The practical floor: convert the three columns of both sides and compare."""
    n = len(good)
    changed = np.zeros(n, dtype=bool)
    for side_a, side_b in ((good, cand),):
        la = np.fromiter((o["label"] for o in side_a), dtype=np.int64, count=n)
        lb = np.fromiter((o["label"] for o in side_b), dtype=np.int64, count=n)
        sa = np.fromiter((o["score"] for o in side_a), dtype=np.float64, count=n)
        sb = np.fromiter((o["score"] for o in side_b), dtype=np.float64, count=n)
        pa = np.array([o["probs"] for o in side_a], dtype=np.float64)
        pb = np.array([o["probs"] for o in side_b], dtype=np.float64)
        changed |= (la != lb) | (sa != sb) | (pa != pb).any(axis=1)
    return changed


def deepdiff_pairs(
    good: list[dict[str, Any]], cand: list[dict[str, Any]], rows: list[int]
) -> list[int]:
    from deepdiff import DeepDiff

    return [row for row in rows if DeepDiff(good[row], cand[row])]


def best_of(repeats: int, func: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.05)
    parser.add_argument("--deepdiff-sample", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--nested", action="store_true", help="Also time probs held as a mapping (the deep path)"
    )
    args = parser.parse_args()
    if importlib.util.find_spec("deepdiff") is None:  # not a dependency of the plugin
        raise SystemExit("bench_diff.py times DeepDiff too: pip install -e '.[bench]'")

    from pytest_airecovery.diff.engine import diff_outputs

    tracemalloc.start()
    good, cand, truth = make_outputs(args.n, args.changed)
    outputs_size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    diff_outputs(good[:10], cand[:10])  # warm imports (numpy, the engine) out of the timing
    # Interleaved repeats, best of each: a shared machine's load spikes hit both methods alike.
    engine_s = numpy_s = float("inf")
    for _ in range(args.repeats):
        seconds, diff = best_of(1, lambda: diff_outputs(good, cand))
        engine_s = min(engine_s, seconds)
        seconds, bare = best_of(1, lambda: bare_numpy(good, cand))
        numpy_s = min(numpy_s, seconds)
    engine_rows = np.zeros(args.n, dtype=bool)
    engine_rows[diff.changed_rows] = True
    assert (engine_rows == truth).all() and (bare == truth).all(), "the methods disagree"

    sample = sorted(random.Random(1).sample(range(args.n), min(args.deepdiff_sample, args.n)))
    deepdiff_pairs(good, cand, sample[:20])  # warm
    sample_s, found = best_of(1, lambda: deepdiff_pairs(good, cand, sample))
    assert found == [row for row in sample if truth[row]], "DeepDiff disagrees"
    deepdiff_s = sample_s * args.n / len(sample)

    gc.collect()
    tracemalloc.start()
    diff_outputs(good, cand).flips()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(
        f"outputs: {args.n:,} pairs {{label, score, probs[10]}}, {truth.mean():.1%} changed; "
        f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'method':<34} {'seconds':>9} {'pairs/s':>12}")
    print(f"{'engine (diff_outputs)':<34} {engine_s:>9.3f} {args.n / engine_s:>12,.0f}")
    print(f"{'bare numpy conversion + compare':<34} {numpy_s:>9.3f} {args.n / numpy_s:>12,.0f}")
    print(
        f"{'DeepDiff pair by pair (extrap.)':<34} {deepdiff_s:>9.3f} {args.n / deepdiff_s:>12,.0f}"
        f"   timed on {len(sample):,} pairs: {sample_s:.2f} s"
    )
    speedup, overhead, memory = deepdiff_s / engine_s, engine_s / numpy_s, peak / outputs_size
    print(
        f"engine vs DeepDiff pair by pair: {speedup:,.0f}x faster   (target >= 100x: {'ok' if speedup >= 100 else 'MISSED'})"
    )
    print(
        f"engine vs bare numpy:            {overhead:.2f}x the time (target <= 2x: {'ok' if overhead <= 2 else 'MISSED'})"
    )
    print(
        f"engine peak memory:              {peak / 2**20:.1f} MiB = {memory:.2f}x the outputs' "
        f"{outputs_size / 2**20:.1f} MiB (target <= 3x: {'ok' if memory <= 3 else 'MISSED'})"
    )
    if args.nested:
        nested(good, cand, truth, sample, args.repeats)


def nested(
    good: list[dict[str, Any]],
    cand: list[dict[str, Any]],
    truth: np.ndarray,
    sample: list[int],
    repeats: int,
) -> None:
    """The deep path: ``probs`` as ``{label: p}``, compared pair by pair within the tolerance."""
    from pytest_airecovery.diff.engine import diff_outputs

    names = [f"class-{i}" for i in range(10)]
    good = [{**o, "probs": dict(zip(names, o["probs"], strict=True))} for o in good]
    cand = [{**o, "probs": dict(zip(names, o["probs"], strict=True))} for o in cand]
    seconds, diff = best_of(repeats, lambda: diff_outputs(good, cand))
    assert diff.changed_rows == [int(row) for row in np.flatnonzero(truth)], (
        "the deep path disagrees"
    )
    sample_s, _ = best_of(1, lambda: deepdiff_pairs(good, cand, sample))
    deepdiff_s = sample_s * len(good) / len(sample)
    print(
        f"{'engine, probs as {label: p}':<34} {seconds:>9.3f} {len(good) / seconds:>12,.0f}"
        f"   {deepdiff_s / seconds:,.0f}x faster than DeepDiff pair by pair (extrap.)"
    )


if __name__ == "__main__":
    main()

"""Rebuild the demo metric exports in this folder, deterministically (fixed seeds, fixed times).

    python examples/gates/make_exports.py

canary-healthy.json          3 h at ~3% traffic, candidate behaves like the control  -> promote
limited-regressed.json       5 h at ~15%, the candidate's latency and errors regress   -> rollback
canary-too-little-data.json  20 min at ~2% with a handful of samples                    -> hold
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
START = 1_795_000_000  # 2026-11-18T11:06:40Z: fixed so the files never change
STEP = 30  # seconds between metric samples
REQUESTS_PER_STEP = 4000  # whole service

METRICS = {
    "error_rate": {"kind": "proportion", "direction": "lower", "margin": 0.002,
                   "margin_kind": "absolute", "slo_max": 0.05},
    "latency_p95_ms": {"kind": "continuous", "direction": "lower", "margin": 0.05,
                       "margin_kind": "relative", "slo_max": 800},
    "quality_score": {"kind": "continuous", "direction": "higher", "margin": 0.01,
                      "margin_kind": "relative", "slo_min": 0.8},
}  # fmt: skip


def _export(seed: int, lead_in: int, duration: int, share: float,
            regress_after: int | None = None) -> dict[str, object]:  # fmt: skip
    """`lead_in` seconds at 0% traffic, then `duration` seconds at `share`."""
    rng = np.random.default_rng(seed)
    rollout_start = START + lead_in
    end = rollout_start + duration
    traffic_times = np.arange(START, end + 1, 60)
    shares = np.where(traffic_times < rollout_start, 0.0,
                      np.clip(share + rng.normal(0, share * 0.03, traffic_times.size), 0, 1))  # fmt: skip
    times = np.arange(rollout_start, end + 1, STEP)
    series: list[dict[str, object]] = []
    for arm, arm_share in (("baseline", 1 - share), ("candidate", share)):
        regressed = (times >= rollout_start + regress_after) if (
            arm == "candidate" and regress_after is not None) else np.zeros(times.size, bool)  # fmt: skip
        requests = rng.poisson(REQUESTS_PER_STEP * arm_share, times.size).clip(1)
        error_p = np.where(regressed, 0.025, 0.01)
        errors = rng.binomial(requests, error_p)
        latency = rng.gamma(40, 8, times.size) * np.where(regressed, 1.15, 1.0)
        quality = rng.normal(0.92, 0.01, times.size) - np.where(regressed, 0.03, 0.0)
        stamps = times.tolist()
        series += [
            {"metric": "error_rate", "arm": arm, "timestamps": stamps,
             "values": errors.tolist(), "trials": requests.tolist()},
            {"metric": "latency_p95_ms", "arm": arm, "timestamps": stamps,
             "values": np.round(latency, 2).tolist()},
            {"metric": "quality_score", "arm": arm, "timestamps": stamps,
             "values": np.round(quality, 4).tolist()},
        ]  # fmt: skip
    series.append({"metric": "traffic_share", "arm": "candidate",
                   "timestamps": traffic_times.tolist(), "values": np.round(shares, 5).tolist()})  # fmt: skip
    polls = np.arange(START, end + 1, 300)
    series.append({"metric": "user_reports", "arm": "", "timestamps": polls.tolist(),
                   "values": [0] * polls.size})  # fmt: skip
    exported = int(end + 20)
    return {"format": "airecovery-metrics/1", "exported_at": exported, "metrics": METRICS,
            "series": series}  # fmt: skip


EXPORTS = {
    "canary-healthy.json": lambda: _export(1, 600, 3 * 3600, 0.03),
    "limited-regressed.json": lambda: _export(2, 600, 5 * 3600, 0.15, regress_after=3600),
    "canary-too-little-data.json": lambda: _export(3, 600, 20 * 60, 0.02),
}


def main() -> None:
    for name, build in EXPORTS.items():
        (HERE / name).write_text(
            json.dumps(build(), separators=(",", ":")) + "\n", encoding="utf-8"
        )
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()

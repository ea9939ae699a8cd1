"""Try the Prometheus source on the shipped healthy-canary export, with a local Prometheus.

    python examples/gates/prometheus_demo.py /tmp/prom-demo
    promtool tsdb create-blocks-from openmetrics /tmp/prom-demo/data.om /tmp/prom-demo/tsdb
    prometheus --config.file=/tmp/prom-demo/prometheus.yml --storage.tsdb.path=/tmp/prom-demo/tsdb \\
               --web.listen-address=127.0.0.1:9090 &
    pytest --incident-gate canary --incident-metrics prometheus+http://127.0.0.1:9090 \\
           --incident-gate-config /tmp/prom-demo/gate.yaml

It writes the export as OpenMetrics gauges moved to end five hours ago (backfilled blocks must
lie before the head block's window), a gate settings file with one PromQL query per metric and
arm and `evaluate_at` pinned to that end, and an empty Prometheus configuration.
tests/test_gates_prometheus.py runs the same steps against a real server.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPORT = HERE / "canary-healthy.json"
STEP_SECONDS = 30  # the export's resolution: one query step per exported sample
HOURS_AGO = 5


def openmetrics(data: Any, shift: float) -> str:
    """MetricData as OpenMetrics gauges: `model_<metric>{arm=...}` (+ `_trials`),
    `rollout_traffic_share`, `user_reports_new`; timestamps moved by `shift` seconds."""
    families: dict[str, list[tuple[str, Any, Any]]] = {}
    for (metric, arm), series in sorted(data.series.items()):
        labels = f'{{arm="{arm}"}}'
        families.setdefault(f"model_{metric}", []).append(
            (labels, series.timestamps, series.values)
        )
        if series.trials is not None:
            families.setdefault(f"model_{metric}_trials", []).append(
                (labels, series.timestamps, series.trials)
            )
    families["rollout_traffic_share"] = [("", data.traffic.timestamps, data.traffic.values)]
    families["user_reports_new"] = [("", data.user_reports.timestamps, data.user_reports.values)]
    lines = []
    for family, members in families.items():
        lines.append(f"# TYPE {family} gauge")  # OpenMetrics: one block per family
        for labels, stamps, values in members:
            lines += [
                f"{family}{labels} {value!r} {stamp + shift:.0f}"
                for stamp, value in zip(stamps.tolist(), values.tolist(), strict=True)
            ]
    return "\n".join([*lines, "# EOF"]) + "\n"


def gate_settings(evaluate_at: float, metric_defaults: dict[str, Any]) -> dict[str, Any]:
    """Gate settings for the backfilled data: metric meanings and PromQL per metric and arm."""
    queries: dict[str, dict[str, str]] = {}
    for name, spec in sorted(metric_defaults.items()):
        entry = {arm: f'model_{name}{{arm="{arm}"}}' for arm in ("baseline", "candidate")}
        if spec.get("kind") == "proportion":
            entry |= {f"{arm}_trials": f'model_{name}_trials{{arm="{arm}"}}'
                      for arm in ("baseline", "candidate")}  # fmt: skip
        queries[name] = entry
    return {
        "evaluate_at": evaluate_at,
        "metrics": {name: dict(spec) for name, spec in metric_defaults.items()},
        "prometheus": {
            "step": f"{STEP_SECONDS}s",
            "lookback": "4h",
            "traffic_share": "rollout_traffic_share",
            "user_reports": "user_reports_new",  # new reports per poll, written every 5 min
            "user_reports_type": "gauge",  # each poll counted once, however fine the step
            "metrics": queries,
        },
    }


def main(out: Path) -> float:
    """Write the three files into `out`; return the (shifted) time of the last sample."""
    from pytest_airecovery.gates.sources import ExportFileSource

    data = ExportFileSource(EXPORT).load()
    end = (time.time() - HOURS_AGO * 3600) // 60 * 60
    shift = end - float(data.traffic.timestamps[-1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.om").write_text(openmetrics(data, shift), encoding="utf-8")
    settings = gate_settings(end + 20, data.metric_defaults)
    (out / "gate.yaml").write_text(json.dumps(settings, indent=2), encoding="utf-8")  # JSON is YAML
    (out / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")
    return end


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "prom-demo")
    main(target)
    print(f"wrote {target}/data.om, gate.yaml, prometheus.yml (data ends {HOURS_AGO} h ago)")

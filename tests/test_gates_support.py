"""Builders shared by the gate tests (no tests here): synthetic exports and a gate context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_airecovery.gates.context import GateContext
from pytest_airecovery.gates.phases import parse_gate_config
from pytest_airecovery.gates.sources import MetricData, parse_json_export

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z: in the past, as real data is (future samples are refused)
STEP = 60.0

# The conftest a pytester run uses: it stands in for the core plugin.py (options + registration).
PYTESTER_CONFTEST = """
from __future__ import annotations

import pytest

from pytest_airecovery.gates import hookspecs
from pytest_airecovery.gates.pytest_plugin import GatePlugin


def pytest_addhooks(pluginmanager):
    if not hasattr(pluginmanager.hook, "pytest_airecovery_gate_source"):
        pluginmanager.add_hookspecs(hookspecs)


GATE_OPTIONS = (
    ("--incident-gate", "incident_gate"),
    ("--incident-metrics", "incident_metrics"),
    ("--incident-gate-report", "incident_gate_report"),
    ("--incident-gate-config", "incident_gate_config"),
    ("--incident-gate-decision", "incident_gate_decision"),
)


def pytest_addoption(parser):
    group = parser.getgroup("airecovery")
    for flag, dest in GATE_OPTIONS:
        try:
            group.addoption(flag, dest=dest, default=None)
        except ValueError:  # the installed core plugin already defines it
            pass


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if config.getoption("incident_gate") and not config.pluginmanager.has_plugin("airecovery-gates"):
        config.pluginmanager.register(GatePlugin(config), "airecovery-gates")
"""


@pytest.fixture(autouse=True)
def no_github_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner gate runs must not append their decision to the outer CI job's $GITHUB_OUTPUT.

    Autouse wherever it is imported (`from test_gates_support import no_github_output`).
    """
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)


def export(
    *,
    hours: float = 3.0,
    share: float = 0.03,
    seed: int = 0,
    metrics: dict[str, dict[str, Any]] | None = None,
    candidate_shift: float = 0.0,
    lead_in_hours: float = 0.5,
    user_reports: list[float] | None = None,
    exported_after: float = 30.0,
) -> dict[str, Any]:
    """A column-form export: `lead_in_hours` at 0% traffic, then `hours` at `share`.

    One continuous metric `latency` (lower is better) and one proportion `errors`, per minute.
    """
    rng = np.random.default_rng(seed)
    start = T0 + lead_in_hours * 3600
    end = start + hours * 3600
    traffic_times = np.arange(T0, end + 1, STEP)
    shares = np.where(traffic_times < start, 0.0, share)
    times = np.arange(start, end + 1, STEP).tolist()
    series: list[dict[str, Any]] = [
        {"metric": "traffic_share", "arm": "candidate", "timestamps": traffic_times.tolist(),
         "values": shares.tolist()},
    ]  # fmt: skip
    for arm in ("baseline", "candidate"):
        shift = candidate_shift if arm == "candidate" else 0.0
        latency = rng.normal(200, 10, len(times)) + shift
        trials = rng.integers(900, 1100, len(times))
        series.append({"metric": "latency", "arm": arm, "timestamps": times,
                       "values": latency.tolist()})  # fmt: skip
        series.append({"metric": "errors", "arm": arm, "timestamps": times,
                       "values": rng.binomial(trials, 0.01).tolist(), "trials": trials.tolist()})  # fmt: skip
    polls = np.arange(T0, end + 1, 300.0)
    counts = user_reports if user_reports is not None else [0.0] * polls.size
    series.append({"metric": "user_reports", "arm": "", "timestamps": polls.tolist()[: len(counts)],
                   "values": counts})  # fmt: skip
    return {
        "format": "airecovery-metrics/1",
        "exported_at": end + exported_after,
        "metrics": metrics if metrics is not None else {
            "latency": {"direction": "lower", "margin": 0.05, "slo_max": 400},
            "errors": {"kind": "proportion", "direction": "lower", "margin": 0.005,
                       "margin_kind": "absolute", "slo_max": 0.2},
        },
        "series": series,
    }  # fmt: skip


def replace_series(document: dict[str, Any], metric: str, arm: str, values: list[float]) -> None:
    for block in document["series"]:
        if block["metric"] == metric and block["arm"] == arm:
            block["values"] = values
            return
    raise KeyError((metric, arm))


def context_for(
    document: dict[str, Any], phase: str = "canary", settings: dict[str, Any] | None = None,
    rootdir: Path = Path("."),
) -> GateContext:  # fmt: skip
    data: MetricData = parse_json_export(document, "test-export")
    config = parse_gate_config(settings or {})
    return GateContext(config, config.phase(phase), data, rootdir)

"""Hooks for gates, added by the core plugin in `pytest_addhooks`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_airecovery.gates.sources import MetricSource


@pytest.hookspec(firstresult=True)
def pytest_airecovery_gate_source(config: pytest.Config, location: str) -> MetricSource | None:
    """Return a metric source for the --incident-metrics value, or None for the JSON/CSV default."""


@pytest.hookspec
def pytest_airecovery_gate_decision(
    config: pytest.Config, decision: str, report: dict[str, Any]
) -> None:
    """Called once on the controller with "promote", "hold" or "rollback" and the full report."""

"""What every criterion needs: the phase, the data, the reference time and the rollout window.

The rollout window is measured from the data: the latest unbroken stretch of traffic-share samples
inside the phase's range. Statistics only look at samples in that window, so a phase that has just
been entered cannot pass on data from before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pytest_airecovery.gates.phases import GateConfig, MetricSpec, Phase, parse_metric
from pytest_airecovery.gates.sources import GateSourceError, MetricData, Series
from pytest_airecovery.gates.timeutil import format_duration, format_timestamp

if TYPE_CHECKING:
    from pytest_airecovery.gates.session_cases import CaseResults

# Shares are often exported rounded (0.05 for 4.96%); this tolerance keeps the edges inclusive.
SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RolloutWindow:
    """The stretch during which the measured share stayed in the phase's range, or why none."""

    start: float | None
    end: float | None
    samples: int
    reason: str = ""  # why there is no window (empty when there is one)
    share_out_of_range: bool = False  # the latest share is outside the range: a FAIL, not missing

    @property
    def exists(self) -> bool:
        return self.start is not None and self.end is not None

    @property
    def seconds(self) -> float:
        return (self.end - self.start) if self.start is not None and self.end is not None else 0.0

    def describe(self) -> dict[str, object]:
        if not self.exists:
            return {"window": None}
        assert self.start is not None and self.end is not None
        return {"window": {"start": format_timestamp(self.start), "end": format_timestamp(self.end),
                           "duration": format_duration(self.seconds)}}  # fmt: skip


def measure_rollout_window(traffic: Series, phase: Phase, max_gap: float) -> RolloutWindow:
    """Latest stretch of in-range share samples with no gap longer than `max_gap`."""
    if traffic.size == 0:
        return RolloutWindow(None, None, 0, "no traffic_share samples in the source")
    shares = traffic.values
    if not np.isfinite(shares).all():
        bad = int((~np.isfinite(shares)).sum())
        return RolloutWindow(None, None, 0, f"{bad} traffic_share value(s) are NaN or inf")
    if (shares < 0).any() or (shares > 1).any():
        # 3 instead of 0.03 is a unit mistake in the export, not a share of 300%.
        raise GateSourceError("traffic_share values must be fractions in [0, 1]")
    in_range = (shares >= phase.traffic_min - SHARE_TOLERANCE) & (
        shares <= phase.traffic_max + SHARE_TOLERANCE
    )
    if not in_range[-1]:
        return RolloutWindow(
            None, None, 0,
            f"the latest measured share {100 * shares[-1]:.3g}% is outside the "
            f"{phase.name} range {phase.traffic_label()}",
            share_out_of_range=True,
        )  # fmt: skip
    stamps = traffic.timestamps
    start_index = traffic.size - 1
    while (
        start_index > 0
        and in_range[start_index - 1]
        and (stamps[start_index] - stamps[start_index - 1] <= max_gap)
    ):
        start_index -= 1
    return RolloutWindow(float(stamps[start_index]), float(stamps[-1]), traffic.size - start_index)


@dataclass
class GateContext:
    config: GateConfig
    phase: Phase
    data: MetricData
    rootdir: Path
    wall_clock: float = field(default_factory=time.time)
    # Incident cases of this very session (--incident-cases beside the gate); None: read JUnit.
    case_results: CaseResults | None = None

    def __post_init__(self) -> None:
        if self.config.evaluate_at is not None:
            # A replay sees only what existed then; later samples would leak the future in.
            self.data = self.data.until(self.config.evaluate_at)

    @property
    def now(self) -> float:
        """Reference time for staleness: a pinned replay time, else the export's, else now."""
        if self.config.evaluate_at is not None:
            return self.config.evaluate_at
        if self.data.as_of is not None:
            return self.data.as_of
        return self.wall_clock

    @cached_property
    def window(self) -> RolloutWindow:
        return measure_rollout_window(self.data.traffic, self.phase, self.config.max_gap)

    def metric_spec(self, metric: str) -> MetricSpec:
        """The export's declared defaults, overridden field by field by the settings' table."""
        return with_inferred_kind(self._metric_spec_as_declared(metric), self.data)

    def _metric_spec_as_declared(self, metric: str) -> MetricSpec:
        declared = self.data.metric_defaults.get(metric, {})
        configured = self.config.metric_tables.get(metric)
        if configured is None:
            if metric in self.config.metrics:  # a GateConfig built in code, without raw tables
                return self.config.metrics[metric]
            if not declared:
                return MetricSpec(metric)
            return parse_metric(metric, declared, f"metrics table of {self.data.description}")
        if not declared:
            return self.config.metrics[metric]
        where = f"settings over the metrics table of {self.data.description}"
        return parse_metric(metric, {**declared, **configured}, where)

    def declared_metrics(self) -> set[str]:
        """Metrics defined in the settings or in the source's own metrics table."""
        return set(self.config.metrics) | set(self.data.metric_defaults)

    def gated_metrics(self) -> list[str]:
        """Metrics this phase judges, in a stable order (identical on every xdist worker)."""
        if self.phase.metrics is not None:
            return list(self.phase.metrics)
        if self.config.metrics:
            # Settings that define metrics choose them (with the export's declared ones).
            return sorted(self.declared_metrics())
        return sorted(set(self.data.metric_names()) | set(self.data.metric_defaults))

    def staleness(self, latest: float) -> float:
        return self.now - latest


def with_inferred_kind(spec: MetricSpec, data: MetricData) -> MetricSpec:
    """A metric whose kind nobody declared is a proportion when its rows carry `trials`.

    Judging events as continuous values would compare raw counts, which grow with traffic.
    """
    if spec.kind_declared:
        return spec
    carries_trials = any(
        data.get(spec.name, arm).trials is not None for arm in ("baseline", "candidate")
    )
    return replace(spec, kind="proportion") if carries_trials else spec


def rates(series: Series, spec: MetricSpec) -> np.ndarray:
    """Per-sample values to compare: the value itself, or events / trials for a proportion.

    An interval with zero trials has no rate (NaN): it carries no information, and the criteria
    skip it rather than fail the metric.
    """
    if spec.kind != "proportion":
        return series.values
    if series.trials is None:
        raise GateSourceError(f"metric {spec.name} is a proportion but its rows have no trials")
    missing = int((~np.isfinite(series.trials)).sum())
    if missing:
        raise GateSourceError(
            f"metric {spec.name} is a proportion but {missing} of its rows have no trials "
            "count (missing, NaN or inf)"
        )
    if (
        (series.trials < 0).any()
        or (series.values < 0).any()
        or (series.values > series.trials).any()
    ):
        raise GateSourceError(
            f"metric {spec.name}: a proportion needs 0 <= value <= trials in every row"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(series.trials > 0, series.values / series.trials, np.nan)

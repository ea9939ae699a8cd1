"""The data a gate judges: time series per metric and arm, and the source protocol.

Below every metric source (the export reader in `sources.py`, the Prometheus client in
`prometheus.py`, a user's own) and above none of them: each source builds `MetricData`, the
criteria read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["EMPTY_SERIES", "FloatArray", "MetricData", "MetricSource", "Series"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    """Samples of one metric in one arm, sorted by time. `trials` only for proportions."""

    timestamps: FloatArray
    values: FloatArray
    trials: FloatArray | None = None

    @property
    def size(self) -> int:
        return int(self.timestamps.size)

    def between(self, start: float, end: float) -> Series:
        """Samples with start <= timestamp <= end (a view, no copy)."""
        low = int(np.searchsorted(self.timestamps, start, "left"))
        high = int(np.searchsorted(self.timestamps, end, "right"))
        trials = self.trials[low:high] if self.trials is not None else None
        return Series(self.timestamps[low:high], self.values[low:high], trials)

    def outside(self, start: float, end: float) -> Series:
        """Samples before start or after end (used to cut an incident out of a baseline)."""
        keep = (self.timestamps < start) | (self.timestamps > end)
        trials = self.trials[keep] if self.trials is not None else None
        return Series(self.timestamps[keep], self.values[keep], trials)


EMPTY_SERIES = Series(np.empty(0), np.empty(0))


@dataclass
class MetricData:
    """Everything a gate reads: per (metric, arm) series, traffic share, user-report polls."""

    series: dict[tuple[str, str], Series]
    traffic: Series  # candidate share of traffic, a fraction in [0, 1]
    user_reports: Series  # one sample per poll of the report system: new reports since the last
    as_of: float | None  # when the export was taken; the reference for staleness
    description: str
    metric_defaults: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the data rules did, for the report

    def metric_names(self) -> list[str]:
        return sorted({metric for metric, _arm in self.series})

    def get(self, metric: str, arm: str) -> Series:
        return self.series.get((metric, arm), EMPTY_SERIES)

    def until(self, moment: float) -> MetricData:
        """The data as it was at `moment`: later samples dropped (to replay a past decision)."""
        return MetricData(
            {key: series.between(-math.inf, moment) for key, series in self.series.items()},
            self.traffic.between(-math.inf, moment),
            self.user_reports.between(-math.inf, moment),
            moment,
            self.description,
            self.metric_defaults,
            self.notes,
        )

    @property
    def is_empty(self) -> bool:
        return not self.series and self.traffic.size == 0 and self.user_reports.size == 0


class MetricSource(Protocol):
    """What a gate needs from a source. Implement it for Prometheus, Datadog, a warehouse..."""

    @property
    def description(self) -> str: ...

    def load(self) -> MetricData: ...

"""Metric sources: where the gate's monitoring data comes from.

A source is anything with a `description` and a `load() -> MetricData` method. The embedded one
reads JSON or CSV exports (format documented in docs/gates.md); others (a Prometheus
`query_range` client, a vendor API) plug in through the `pytest_airecovery_gate_source` hook and
only have to produce the same `MetricData` (`prometheus.py` is the embedded example). A source that cannot be read raises `GateSourceError`,
which the gate reports as ERROR; data that is merely missing, short or stale is judged by the
criteria (INCONCLUSIVE), never here.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from pytest_airecovery.gates.errors import GateSourceError
from pytest_airecovery.gates.phases import RESERVED_METRICS
from pytest_airecovery.gates.timeutil import TimeFormatError, parse_timestamp

if TYPE_CHECKING:
    from pytest_airecovery.gates.phases import GateConfig, Phase

FORMAT_NAME = "airecovery-metrics/1"
ARMS = ("baseline", "candidate")
TRAFFIC_METRIC = "traffic_share"
USER_REPORTS_METRIC = "user_reports"

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
        )

    @property
    def is_empty(self) -> bool:
        return not self.series and self.traffic.size == 0 and self.user_reports.size == 0


class MetricSource(Protocol):
    """What a gate needs from a source. Implement it for Prometheus, Datadog, a warehouse..."""

    @property
    def description(self) -> str: ...

    def load(self) -> MetricData: ...


class _Collector:
    """Accumulates rows, then builds sorted numpy series."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.columns: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {}
        self.blocks: dict[tuple[str, str], list[tuple[FloatArray, FloatArray, FloatArray]]] = {}

    def key(self, where: str, metric: Any, arm: Any) -> tuple[str, str]:
        """Validated (metric, arm) key; rollout rows get their fixed arm."""
        if not isinstance(metric, str) or not metric:
            raise GateSourceError(f"{self.origin} {where}: metric must be a non-empty string")
        if metric == USER_REPORTS_METRIC:
            return metric, "all"  # reports are about the service, whichever arm the user hit
        if metric == TRAFFIC_METRIC:
            if arm not in ("candidate", "", None):
                raise GateSourceError(f"{self.origin} {where}: traffic_share is the candidate's")
            return metric, "candidate"
        if arm not in ARMS:
            raise GateSourceError(
                f"{self.origin} {where}: arm must be baseline or candidate, got {arm!r}"
            )
        return metric, arm

    def add(
        self, where: str, timestamp: Any, metric: Any, arm: Any, value: Any, trials: Any = None
    ) -> None:
        key = self.key(where, metric, arm)
        try:
            moment = parse_timestamp(timestamp)
        except TimeFormatError as error:
            raise GateSourceError(f"{self.origin} {where}: {error}") from None
        stamps, values, trial_counts = self.columns.setdefault(key, ([], [], []))
        stamps.append(moment)
        values.append(_float(value, f"{self.origin} {where}: value"))
        no_trials = trials is None or trials == ""
        trial_counts.append(
            math.nan if no_trials else _float(trials, f"{self.origin} {where}: trials")
        )

    def add_columns(
        self, where: str, metric: Any, arm: Any, timestamps: Any, values: Any, trials: Any = None
    ) -> None:
        if not (isinstance(timestamps, list) and isinstance(values, list)):
            raise GateSourceError(f"{self.origin} {where}: timestamps and values must be lists")
        if trials is not None and not isinstance(trials, list):
            raise GateSourceError(f"{self.origin} {where}: trials must be a list")
        if len(timestamps) != len(values) or (trials is not None and len(trials) != len(values)):
            raise GateSourceError(
                f"{self.origin} {where}: timestamps/values/trials differ in length"
            )
        numeric = all(type(t) in (int, float) for t in timestamps)
        if not numeric:
            for index, timestamp in enumerate(timestamps):
                self.add(
                    f"{where}[{index}]",
                    timestamp,
                    metric,
                    arm,
                    values[index],
                    None if trials is None else trials[index],
                )
            return
        # Fast path for big exports: epoch-second timestamps go straight through numpy.
        key = self.key(where, metric, arm)
        try:
            stamp_array = np.asarray(timestamps, dtype=np.float64)
            value_array = np.asarray(values, dtype=np.float64)
            trial_array = (
                np.full(len(values), math.nan)
                if trials is None
                else np.asarray(trials, dtype=np.float64)
            )
        except (TypeError, ValueError):
            raise GateSourceError(f"{self.origin} {where}: values must be numbers") from None
        if not np.isfinite(stamp_array).all():
            raise GateSourceError(f"{self.origin} {where}: timestamps must be finite")
        self.blocks.setdefault(key, []).append((stamp_array, value_array, trial_array))

    def build(self, as_of: float | None, defaults: dict[str, Mapping[str, Any]]) -> MetricData:
        series: dict[tuple[str, str], Series] = {}
        traffic, reports = EMPTY_SERIES, EMPTY_SERIES
        for key in sorted(set(self.columns) | set(self.blocks)):
            parts = list(self.blocks.get(key, []))
            if key in self.columns:
                parts.append(tuple(np.asarray(c, dtype=np.float64) for c in self.columns[key]))  # type: ignore[arg-type]
            stamps, values, trials = (np.concatenate([part[i] for part in parts]) for i in range(3))
            order = np.argsort(stamps, kind="stable")
            trial_column = trials[order]
            built = Series(
                stamps[order], values[order], None if np.isnan(trial_column).all() else trial_column
            )
            if key[0] == TRAFFIC_METRIC:
                traffic = built
            elif key[0] == USER_REPORTS_METRIC:
                reports = built
            else:
                series[key] = built
        return MetricData(series, traffic, reports, as_of, self.origin, defaults)


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise GateSourceError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)  # NaN and inf pass here on purpose: the criteria report them
    except (TypeError, ValueError):
        raise GateSourceError(f"{where}: expected a number, got {value!r}") from None


def _metric_defaults(raw: Any, origin: str) -> dict[str, Mapping[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for v in raw.values()):
        raise GateSourceError(f"{origin}: 'metrics' must map metric names to tables")
    return {name: raw[name] for name in sorted(raw) if name not in RESERVED_METRICS}


def parse_json_export(document: Any, origin: str) -> MetricData:
    """Build MetricData from a parsed JSON export (row form, column form, or both)."""
    if not isinstance(document, Mapping):
        raise GateSourceError(f"{origin}: expected a JSON object with rows and/or series")
    unknown = sorted(set(document) - {"format", "exported_at", "metrics", "rows", "series"})
    if unknown:
        raise GateSourceError(f"{origin}: unknown top-level key(s) {', '.join(unknown)}")
    if document.get("format", FORMAT_NAME) != FORMAT_NAME:
        raise GateSourceError(f"{origin}: format {document.get('format')!r} is not {FORMAT_NAME}")
    collector = _Collector(origin)
    rows = document.get("rows", [])
    if not isinstance(rows, list):
        raise GateSourceError(f"{origin}: 'rows' must be a list")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or not {"timestamp", "metric", "value"} <= set(row):
            raise GateSourceError(f"{origin} rows[{index}]: needs timestamp, metric, arm, value")
        collector.add(
            f"rows[{index}]",
            row["timestamp"],
            row["metric"],
            row.get("arm"),
            row["value"],
            row.get("trials"),
        )
    columns = document.get("series", [])
    if not isinstance(columns, list):
        raise GateSourceError(f"{origin}: 'series' must be a list")
    for index, block in enumerate(columns):
        if not isinstance(block, Mapping) or not {"metric", "timestamps", "values"} <= set(block):
            raise GateSourceError(
                f"{origin} series[{index}]: needs metric, arm, timestamps, values"
            )
        collector.add_columns(
            f"series[{index}]",
            block["metric"],
            block.get("arm"),
            block["timestamps"],
            block["values"],
            block.get("trials"),
        )
    as_of = None
    if document.get("exported_at") is not None:
        try:
            as_of = parse_timestamp(document["exported_at"])
        except TimeFormatError as error:
            raise GateSourceError(f"{origin}: exported_at: {error}") from None
    return collector.build(as_of, _metric_defaults(document.get("metrics"), origin))


def parse_csv_export(lines: Iterable[str], origin: str) -> MetricData:
    """CSV with header timestamp,metric,arm,value[,trials]; `# exported_at: ...` comment allowed."""
    as_of: float | None = None
    data_lines: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            key, _, value = stripped[1:].partition(":")
            if key.strip() == "exported_at":
                try:
                    as_of = parse_timestamp(value.strip())
                except TimeFormatError as error:
                    raise GateSourceError(f"{origin}: exported_at: {error}") from None
        elif stripped:
            data_lines.append(line)
    reader = csv.DictReader(data_lines)
    required = {"timestamp", "metric", "arm", "value"}
    if reader.fieldnames is None:
        return _Collector(origin).build(as_of, {})
    missing = required - set(reader.fieldnames)
    extra = set(reader.fieldnames) - required - {"trials"}
    if missing or extra:
        raise GateSourceError(
            f"{origin}: CSV header must be timestamp,metric,arm,value[,trials]; "
            f"got {','.join(reader.fieldnames)}"
        )
    collector = _Collector(origin)
    for line_number, row in enumerate(reader, start=2):
        collector.add(
            f"line {line_number}",
            row["timestamp"],
            row["metric"],
            row["arm"] or None,
            row["value"],
            row.get("trials"),
        )
    return collector.build(as_of, {})


@dataclass
class ExportFileSource:
    """A JSON or CSV export on disk (the embedded default source)."""

    path: Path

    @property
    def description(self) -> str:
        return str(self.path)

    def load(self) -> MetricData:
        if not self.path.is_file():
            raise GateSourceError(f"metric export {self.path} not found")
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".json":
                with self.path.open(encoding="utf-8") as handle:
                    return parse_json_export(json.load(handle), str(self.path))
            if suffix == ".csv":
                with self.path.open(encoding="utf-8", newline="") as handle:
                    return parse_csv_export(handle, str(self.path))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GateSourceError(f"cannot read metric export {self.path}: {error}") from None
        raise GateSourceError(f"metric export {self.path}: expected a .json or .csv file")


def default_source(
    location: str, rootdir: Path, config: GateConfig | None = None, phase: Phase | None = None
) -> MetricSource:
    """The embedded sources: `prometheus+http(s)://...` (needs the settings), else an export path."""
    from pytest_airecovery.gates.prometheus import SCHEME_PREFIX, PrometheusSource

    if location.startswith(SCHEME_PREFIX):
        assert config is not None and phase is not None, "a Prometheus source needs the settings"
        return PrometheusSource.from_location(location, config, phase)
    path = Path(location)
    if not path.is_absolute() and not path.exists():
        path = rootdir / path
    return ExportFileSource(path)

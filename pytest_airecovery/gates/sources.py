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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pytest_airecovery.gates.errors import GateSourceError
from pytest_airecovery.gates.phases import RESERVED_METRICS

# The data types live below every source (`series.py`); importable from here as before.
from pytest_airecovery.gates.series import (
    EMPTY_SERIES,
    FloatArray,
    MetricData,
    MetricSource,
    Series,
)
from pytest_airecovery.gates.timeutil import (
    TimeFormatError,
    check_epoch_array,
    format_timestamp,
    parse_timestamp,
)

if TYPE_CHECKING:
    from pytest_airecovery.gates.phases import GateConfig, Phase

FORMAT_NAME = "airecovery-metrics/1"
ARMS = ("baseline", "candidate")
TRAFFIC_METRIC = "traffic_share"
USER_REPORTS_METRIC = "user_reports"

# Limits on one export (docs/limits.md): the file is refused before it is read when larger than
# the size limit (gate setting max_export_size), and parsing stops at the points limit.
DEFAULT_MAX_EXPORT_BYTES = 256 * 2**20
MAX_EXPORT_POINTS = 20_000_000


class _Part:
    """One run of samples as read (a column block, or all rows of a key), and where each came from."""

    def __init__(
        self, stamps: FloatArray, values: FloatArray, trials: FloatArray, where: str | list[str]
    ) -> None:
        self.stamps, self.values, self.trials = stamps, values, trials
        self.where = where  # a block's label (sample i is where[i]) or one label per row

    def label(self, index: int) -> str:
        return self.where[index] if isinstance(self.where, list) else f"{self.where}[{index}]"


class _Collector:
    """Accumulates rows and column blocks, then builds sorted, validated numpy series.

    The data rules (docs/gates.md, "Data rules") are applied in `build`, where every sample of a
    (metric, arm) is seen together: identical duplicate rows count once, conflicting duplicates,
    and samples after `exported_at` are errors naming the rows. (Traffic shares outside [0, 1]
    are refused for every source alike, in `datarules.py`.)
    """

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.rows: dict[
            tuple[str, str], tuple[list[float], list[float], list[float], list[str]]
        ] = {}
        self.blocks: dict[tuple[str, str], list[_Part]] = {}
        self.points = 0

    def _count(self, where: str, added: int) -> None:
        self.points += added
        if self.points > MAX_EXPORT_POINTS:
            raise GateSourceError(
                f"{self.origin} {where}: more than {MAX_EXPORT_POINTS:,} samples in one export; "
                "export a shorter range or a coarser resolution"
            )

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
                f"{self.origin} {where}: arm must be baseline or candidate, got {_shown(arm)}"
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
        self._count(where, 1)
        stamps, values, trial_counts, wheres = self.rows.setdefault(key, ([], [], [], []))
        stamps.append(moment)
        values.append(_float(value, f"{self.origin} {where}: value"))
        trial_counts.append(_float(trials, f"{self.origin} {where}: trials"))
        wheres.append(where)

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
        self._count(where, len(timestamps))
        stamp_array = _column(timestamps, f"{self.origin} {where}: timestamps")
        value_array = _column(values, f"{self.origin} {where}: values")
        trial_array = (
            np.full(len(values), math.nan)
            if trials is None
            else _column(trials, f"{self.origin} {where}: trials")
        )
        bad = check_epoch_array(stamp_array)
        if bad is not None:
            try:
                parse_timestamp(timestamps[bad])
            except (TimeFormatError, OverflowError) as error:
                raise GateSourceError(f"{self.origin} {where}.timestamps[{bad}]: {error}") from None
        self.blocks.setdefault(key, []).append(
            _Part(stamp_array, value_array, trial_array, f"{where}.values")
        )

    def build(self, as_of: float | None, defaults: dict[str, Mapping[str, Any]]) -> MetricData:
        series: dict[tuple[str, str], Series] = {}
        traffic, reports = EMPTY_SERIES, EMPTY_SERIES
        notes: list[str] = []
        for key in sorted(set(self.rows) | set(self.blocks)):
            parts = list(self.blocks.get(key, []))
            if key in self.rows:
                stamps, values, trials, wheres = self.rows[key]
                as_array = [
                    np.asarray(column, dtype=np.float64) for column in (stamps, values, trials)
                ]
                parts.append(_Part(as_array[0], as_array[1], as_array[2], wheres))
            built, dropped = self._merge(key, parts, as_of)
            if dropped:
                notes.append(
                    f"{key[0]} ({key[1]}): {dropped} exact duplicate sample(s) counted once"
                )
            if key[0] == TRAFFIC_METRIC:
                traffic = built
            elif key[0] == USER_REPORTS_METRIC:
                reports = built
            else:
                series[key] = built
        return MetricData(series, traffic, reports, as_of, self.origin, defaults, notes)

    def _merge(
        self, key: tuple[str, str], parts: list[_Part], as_of: float | None
    ) -> tuple[Series, int]:
        """One key's parts as a time-sorted Series; the data rules applied; duplicates dropped."""
        stamps, values, trials = (np.concatenate([getattr(p, name) for p in parts])
                                  for name in ("stamps", "values", "trials"))  # fmt: skip
        starts = np.cumsum([0] + [p.stamps.size for p in parts])

        def label(position: int) -> str:
            part = int(np.searchsorted(starts, position, "right")) - 1
            return f"{self.origin} {parts[part].label(position - int(starts[part]))}"

        # File order carries no meaning: samples are judged in time order.
        order = np.argsort(stamps, kind="stable")
        stamps, values, trials = stamps[order], values[order], trials[order]
        if as_of is not None and stamps.size and stamps[-1] > as_of:
            late = int(order[int(np.argmax(stamps > as_of))])
            raise GateSourceError(
                f"{label(late)}: {key[0]} sample at {format_timestamp(float(stamps[-1]))} is "
                f"after exported_at {format_timestamp(as_of)}: an export cannot hold data from "
                "after it was taken (a clock or time-zone error; fix the exporter)"
            )
        repeated = np.flatnonzero(stamps[1:] == stamps[:-1]) + 1
        if repeated.size:
            same = _same(values[repeated], values[repeated - 1]) & _same(
                trials[repeated], trials[repeated - 1]
            )
            if not same.all():
                at = int(repeated[int(np.argmin(same))])
                raise GateSourceError(
                    f"{label(int(order[at - 1]))} and {label(int(order[at]))}: two different "
                    f"{key[0]} ({key[1]}) samples at {format_timestamp(float(stamps[at]))}; "
                    "one moment has one value (fix the exporter)"
                )
            keep = np.ones(stamps.size, dtype=bool)
            keep[repeated] = False
            stamps, values, trials = stamps[keep], values[keep], trials[keep]
        no_trials = bool(np.isnan(trials).all())
        return Series(stamps, values, None if no_trials else trials), int(repeated.size)


def _same(left: FloatArray, right: FloatArray) -> npt.NDArray[np.bool_]:
    """Equal, or both NaN (two missing measurements of one moment agree)."""
    return (left == right) | (np.isnan(left) & np.isnan(right))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _column(items: list[Any], where: str) -> FloatArray:
    """A JSON list of numbers (null as NaN) as a 1-D float array; anything else is an error."""
    try:
        array = np.asarray(items, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        array = None
    if array is None or array.ndim != 1:
        bad = next((item for item in items if item is not None and type(item) not in (int, float)),
                   None)  # fmt: skip
        raise GateSourceError(f"{where}: values must be numbers or null, got {_shown(bad)}")
    return array


def _float(value: Any, where: str) -> float:
    """A number; null (or an empty CSV cell) is a missing measurement: NaN, judged like NaN."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise GateSourceError(f"{where}: expected a number or null, got {_shown(value)}")
    try:
        return float(value)  # NaN and inf pass here on purpose: the criteria report them
    except (TypeError, ValueError, OverflowError):
        raise GateSourceError(f"{where}: expected a number or null, got {_shown(value)}") from None


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
        raise GateSourceError(
            f"{origin}: format {_shown(document.get('format'))} is not {FORMAT_NAME}"
        )
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
    line_numbers: list[int] = []  # file line of each data line, for messages
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            key, _, value = stripped[1:].partition(":")
            if key.strip() == "exported_at":
                try:
                    as_of = parse_timestamp(value.strip())
                except TimeFormatError as error:
                    raise GateSourceError(f"{origin} line {number}: exported_at: {error}") from None
        elif stripped:
            data_lines.append(line)
            line_numbers.append(number)
    reader = csv.DictReader(data_lines)
    required = ["timestamp", "metric", "arm", "value"]
    collector = _Collector(origin)
    try:
        if reader.fieldnames is None:
            return collector.build(as_of, {})
        missing = set(required) - set(reader.fieldnames)
        extra = set(reader.fieldnames) - set(required) - {"trials"}
        if missing or extra:
            raise GateSourceError(
                f"{origin}: CSV header must be timestamp,metric,arm,value[,trials]; "
                f"got {_shown(','.join(reader.fieldnames))}"
            )
        for row in reader:
            where = f"line {line_numbers[reader.line_num - 1]}"
            if None in row or None in row.values():
                raise GateSourceError(
                    f"{origin} {where}: expected {len(reader.fieldnames)} fields "
                    f"({','.join(reader.fieldnames)})"
                )
            collector.add(where, row["timestamp"], row["metric"], row["arm"] or None,
                          row["value"], row.get("trials"))  # fmt: skip
    except csv.Error as error:
        raise GateSourceError(f"{origin} line {reader.line_num}: malformed CSV: {error}") from None
    return collector.build(as_of, {})


@dataclass
class ExportFileSource:
    """A JSON or CSV export on disk (the embedded default source)."""

    path: Path
    max_bytes: int = DEFAULT_MAX_EXPORT_BYTES

    @property
    def description(self) -> str:
        return str(self.path)

    def load(self) -> MetricData:
        if not self.path.is_file():
            raise GateSourceError(f"metric export {self.path} not found")
        suffix = self.path.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise GateSourceError(f"metric export {self.path}: expected a .json or .csv file")
        try:
            size = self.path.stat().st_size
            if size > self.max_bytes:
                # Refused before reading: parsing takes several times the file's size in memory.
                raise GateSourceError(
                    f"metric export {self.path} is {size:,} bytes, more than the limit of "
                    f"{self.max_bytes:,} (gate setting max_export_size)"
                )
            if suffix == ".json":
                with self.path.open(encoding="utf-8") as handle:
                    document = json.load(handle)
                return parse_json_export(document, str(self.path))
            with self.path.open(encoding="utf-8", newline="") as handle:
                return parse_csv_export(handle, str(self.path))
        except RecursionError:
            raise GateSourceError(
                f"cannot read metric export {self.path}: JSON nested too deeply "
                "(an export is an object of lists of rows)"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GateSourceError(f"cannot read metric export {self.path}: {error}") from None


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
    if config is not None:
        return ExportFileSource(path, config.max_export_bytes)
    return ExportFileSource(path)

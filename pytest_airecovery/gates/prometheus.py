"""A metric source that reads a Prometheus server through its HTTP `query_range` API.

Selected with `--incident-metrics prometheus+http://HOST:PORT` (or `prometheus+https://...`, with
an optional path prefix); the PromQL queries live in the gate settings under `prometheus`, one
per metric and arm (docs/gates.md). Standard library only (urllib): installing the plugin pulls
in no HTTP client.

Fail closed, like the export source: a server that cannot be reached, an HTTP or PromQL error, a
query that returns several series, or a malformed answer raises `GateSourceError` (ERROR). A
query that returns nothing leaves the metric empty, which the criteria report as INCONCLUSIVE
(missing metric, empty source, no traffic share). NaN, +Inf and stale series reach the criteria
unchanged, exactly as from an export.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_airecovery.gates.errors import GateConfigError, GateSourceError
from pytest_airecovery.gates.timeutil import TimeFormatError, parse_duration

if TYPE_CHECKING:
    from pytest_airecovery.gates.phases import GateConfig, Phase
    from pytest_airecovery.gates.sources import MetricData, Series

SCHEME_PREFIX = "prometheus+"
# Prometheus refuses range queries of more than 11,000 points per series; stay below it.
MAX_POINTS_PER_QUERY = 10_000
_TOP_KEYS = {"step", "lookback", "timeout", "traffic_share", "user_reports", "metrics"}
_METRIC_KEYS = {"baseline", "candidate", "baseline_trials", "candidate_trials"}


@dataclass(frozen=True)
class MetricQueries:
    """PromQL for one metric: one query per arm, plus trials per arm for a proportion."""

    baseline: str
    candidate: str
    baseline_trials: str | None = None
    candidate_trials: str | None = None

    @property
    def is_proportion(self) -> bool:
        return self.baseline_trials is not None


@dataclass(frozen=True)
class PrometheusSettings:
    metrics: dict[str, MetricQueries]
    traffic_share: str
    user_reports: str | None = None
    step: float = 60.0
    lookback: float | None = None  # None: max(phase maximum, 2 × phase minimum)
    timeout: float = 30.0


def _query(table: Mapping[str, Any], key: str, where: str, required: bool) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise GateConfigError(f"{where}.{key}: expected a PromQL query string")
    return value


def _seconds(value: Any, where: str, *, positive: bool = True) -> float:
    try:
        seconds = parse_duration(value)
    except TimeFormatError as error:
        raise GateConfigError(f"{where}: {error}") from None
    if positive and seconds <= 0:
        raise GateConfigError(f"{where}: must be more than 0 seconds")
    return seconds


def parse_prometheus_settings(table: Any) -> PrometheusSettings:
    """The `prometheus` table of the gate settings; every key checked, like the rest."""
    where = "prometheus"
    if not isinstance(table, Mapping):
        raise GateConfigError(f"{where}: expected a table")
    unknown = sorted(set(table) - _TOP_KEYS)
    if unknown:
        raise GateConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_TOP_KEYS))})"
        )
    raw_metrics = table.get("metrics", {})
    if not isinstance(raw_metrics, Mapping):
        raise GateConfigError(f"{where}.metrics: expected a table of metric tables")
    metrics: dict[str, MetricQueries] = {}
    for name in sorted(raw_metrics):
        entry, at = raw_metrics[name], f"{where}.metrics.{name}"
        if name in ("traffic_share", "user_reports"):
            raise GateConfigError(f"{at}: {name!r} is reserved (use {where}.{name})")
        if not isinstance(entry, Mapping):
            raise GateConfigError(f"{at}: expected a table with baseline and candidate queries")
        extra = sorted(set(entry) - _METRIC_KEYS)
        if extra:
            raise GateConfigError(f"{at}: unknown key(s) {', '.join(extra)} "
                                  f"(allowed: {', '.join(sorted(_METRIC_KEYS))})")  # fmt: skip
        queries = MetricQueries(
            _query(entry, "baseline", at, True) or "",
            _query(entry, "candidate", at, True) or "",
            _query(entry, "baseline_trials", at, False),
            _query(entry, "candidate_trials", at, False),
        )
        if (queries.baseline_trials is None) != (queries.candidate_trials is None):
            raise GateConfigError(f"{at}: a proportion needs both baseline_trials and "
                                  "candidate_trials")  # fmt: skip
        metrics[name] = queries
    settings = PrometheusSettings(
        metrics,
        # Every phase judges the measured share: without it no gate could ever pass.
        _query(table, "traffic_share", where, True) or "",
        _query(table, "user_reports", where, False),
    )
    values: dict[str, Any] = {}
    for key in ("step", "lookback", "timeout"):
        if key in table:
            values[key] = _seconds(table[key], f"{where}.{key}")
    if values:
        from dataclasses import replace

        settings = replace(settings, **values)
    return settings


def _base_url(location: str) -> str:
    url = location[len(SCHEME_PREFIX) :].rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GateConfigError(
            f"--incident-metrics {location}: expected prometheus+http://HOST:PORT "
            "or prometheus+https://HOST:PORT[/prefix]"
        )
    return url


class PrometheusSource:
    """MetricData from `query_range` over [end - lookback, end], one query per metric and arm."""

    def __init__(self, base_url: str, settings: PrometheusSettings, start: float, end: float):
        self.base_url = base_url
        self.settings = settings
        self.start = start
        self.end = end

    @classmethod
    def from_location(
        cls, location: str, config: GateConfig, phase: Phase, now: float | None = None
    ) -> PrometheusSource:
        base_url = _base_url(location)
        settings = config.prometheus
        if settings is None:
            raise GateConfigError(
                f"--incident-metrics {location}: no PromQL queries configured "
                "(add a prometheus table to the gate settings, see docs/gates.md)"
            )
        # A metric defined for the gate but never queried would silently not be judged.
        unqueried = sorted(set(config.metrics) - set(settings.metrics))
        if unqueried:
            raise GateConfigError(
                f"metrics {', '.join(unqueried)} have no query under prometheus.metrics"
            )
        # A replay asks the server for the data as it was then; otherwise up to now, rounded
        # down to a step so that every xdist worker (each loads the data) asks the same range.
        if config.evaluate_at is not None:
            end = config.evaluate_at
        else:
            end = math.floor((now or time.time()) / settings.step) * settings.step
        lookback = settings.lookback or max(phase.max_duration or 0.0, 2 * phase.min_duration)
        return cls(base_url, settings, end - max(lookback, settings.step), end)

    @property
    def description(self) -> str:
        return f"prometheus {self.base_url}"

    def load(self) -> MetricData:
        import numpy as np

        from pytest_airecovery.gates.sources import EMPTY_SERIES, MetricData, Series

        settings = self.settings
        series: dict[tuple[str, str], Series] = {}
        defaults: dict[str, Mapping[str, Any]] = {}
        for name, queries in settings.metrics.items():
            # Declared even when a query comes back empty, so the metric is gated (INCONCLUSIVE).
            defaults[name] = {"kind": "proportion"} if queries.is_proportion else {}
            for arm in ("baseline", "candidate"):
                values = self.fetch(f"{name} {arm}", getattr(queries, arm))
                trials_query = getattr(queries, f"{arm}_trials")
                if trials_query is not None and values.size:
                    trials = self.fetch(f"{name} {arm}_trials", trials_query)
                    # Events and requests pair up at the evaluation steps both answered.
                    common, at_v, at_t = np.intersect1d(
                        values.timestamps, trials.timestamps, return_indices=True
                    )
                    values = Series(common, values.values[at_v], trials.values[at_t])
                if values.size:
                    series[(name, arm)] = values
        traffic = self.fetch("traffic_share", settings.traffic_share)
        reports = (self.fetch("user_reports", settings.user_reports)
                   if settings.user_reports else EMPTY_SERIES)  # fmt: skip
        return MetricData(series, traffic, reports, self.end, self.description, defaults)

    def fetch(self, label: str, query: str) -> Series:
        """One query over the whole range, in chunks below the server's points limit."""
        import numpy as np

        from pytest_airecovery.gates.sources import Series

        step = self.settings.step
        stamps: list[float] = []
        values: list[float] = []
        chunk_start = self.start
        while chunk_start <= self.end:
            chunk_end = min(self.end, chunk_start + (MAX_POINTS_PER_QUERY - 1) * step)
            for stamp, value in self._query_range(label, query, chunk_start, chunk_end):
                if not stamps or stamp > stamps[-1]:  # chunks never overlap; be safe anyway
                    stamps.append(stamp)
                    values.append(value)
            chunk_start = chunk_end + step
        return Series(np.asarray(stamps, dtype=np.float64), np.asarray(values, dtype=np.float64))

    def _query_range(
        self, label: str, query: str, start: float, end: float
    ) -> list[tuple[float, float]]:
        step = f"{self.settings.step:g}"
        fields = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step}
        body = urllib.parse.urlencode(fields).encode()
        # POST: long PromQL stays out of URL length limits (Prometheus accepts both).
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/query_range",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"},
        )  # fmt: skip
        where = f"prometheus {self.base_url}, query {label} ({query})"
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise GateSourceError(f"{where}: HTTP {error.code}: {_error_text(error)}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GateSourceError(f"cannot reach prometheus at {self.base_url}: {reason}") from None
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise GateSourceError(f"{where}: the answer is not JSON") from None
        return _matrix_points(document, where)


def _error_text(error: urllib.error.HTTPError) -> str:
    """Prometheus explains a refused query in a JSON body; fall back to the HTTP reason."""
    try:
        document = json.loads(error.read())
        return f"{document.get('errorType', 'error')}: {document.get('error', '')}"
    except (OSError, ValueError, AttributeError):
        return str(error.reason)


def _matrix_points(document: Any, where: str) -> list[tuple[float, float]]:
    """The single series of a matrix answer as (timestamp, value); none for an empty result."""
    if not isinstance(document, Mapping) or document.get("status") != "success":
        problem = document.get("error") if isinstance(document, Mapping) else None
        raise GateSourceError(f"{where}: query failed: {problem or 'malformed answer'}")
    data = document.get("data")
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix":
        raise GateSourceError(f"{where}: expected a range vector (resultType matrix)")
    result = data.get("result")
    if not isinstance(result, list):
        raise GateSourceError(f"{where}: malformed answer (no result list)")
    if not result:
        return []
    if len(result) > 1:
        # Two series for one arm would be averaged or mixed by guesswork: aggregate in PromQL.
        labels = [entry.get("metric", {}) for entry in result[:3] if isinstance(entry, Mapping)]
        raise GateSourceError(
            f"{where}: returned {len(result)} series, expected one per arm "
            f"(aggregate with sum/avg/max by nothing); first labels: {labels}"
        )
    points = result[0].get("values") if isinstance(result[0], Mapping) else None
    if not isinstance(points, list):
        raise GateSourceError(f"{where}: malformed answer (no values)")
    parsed: list[tuple[float, float]] = []
    for point in points:
        try:
            stamp, text = point
            # Prometheus sends values as strings: "NaN", "+Inf" and "-Inf" parse as floats.
            parsed.append((float(stamp), float(text)))
        except (TypeError, ValueError):
            raise GateSourceError(f"{where}: malformed sample {point!r}") from None
        if not math.isfinite(parsed[-1][0]):
            raise GateSourceError(f"{where}: non-finite timestamp {point!r}")
    return parsed

"""A metric source that reads a Prometheus server through its HTTP `query_range` API.

Selected with `--incident-metrics prometheus+http://HOST:PORT` (or `prometheus+https://...`, with
an optional path prefix); the PromQL queries live in the gate settings under `prometheus`, one
per metric and arm (docs/gates.md). Requests go through the package's HTTP transport
(`models/http_transport.py`, standard library only), with the same deadline watchdog, size cap
and `RetryPolicy` as the model adapter; only the policy's values are Prometheus's own.

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
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_airecovery.gates.errors import GateConfigError, GateSourceError
from pytest_airecovery.gates.series import EMPTY_SERIES, FloatArray, MetricData, Series
from pytest_airecovery.gates.timeutil import TimeFormatError, parse_duration, parse_size
from pytest_airecovery.models.http_transport import (
    HttpRequestError,
    HttpTransport,
    RetryPolicy,
    Target,
    UrlError,
)

if TYPE_CHECKING:
    from pytest_airecovery.gates.phases import GateConfig, Phase

SCHEME_PREFIX = "prometheus+"
# Prometheus refuses range queries of more than 11,000 points per series; stay below it.
MAX_POINTS_PER_QUERY = 10_000
_TOP_KEYS = {"step", "lookback", "timeout", "traffic_share", "user_reports", "user_reports_type",
             "metrics", "max_response_size"}  # fmt: skip
# Limits of one query_range call (docs/limits.md). `timeout` is the total time of a call,
# retries and Retry-After waits included; the body is refused beyond `max_response_size`.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 2**20
MAX_RETRIES = 3  # on 429 and 503 only, and only while the deadline allows the wait
# Waits of 0.5-1, 1-2, 2-4 s (or the server's Retry-After); the deadline bounds them all. A
# refused connection is not retried: Prometheus being down is an ERROR to report at once.
RETRY_POLICY = RetryPolicy(
    max_retries=MAX_RETRIES,
    backoff=1.0,
    max_backoff=4.0,
    max_retry_after=24 * 3600.0,  # no cap of its own: `timeout` decides what fits
    retry_statuses=frozenset({429, 503}),
    retry_unanswered=False,
)
REPORT_TYPES = ("counter", "gauge")  # user_reports: "value" would count a poll once per step
_METRIC_KEYS = {"baseline", "candidate", "baseline_trials", "candidate_trials", "type"}
# How a query's answer becomes samples (docs/gates.md, "Which metric types"):
#   value   - each step's answer is one sample (a rate, ratio, quantile, or increase over [step])
#   counter - a cumulative counter: the gate takes its increase from step to step
#   gauge   - a value written once per poll: one sample per poll, by the sample's own timestamp
QUERY_TYPES = ("value", "counter", "gauge")


@dataclass(frozen=True)
class MetricQueries:
    """PromQL for one metric: one query per arm, plus trials per arm for a proportion."""

    baseline: str
    candidate: str
    baseline_trials: str | None = None
    candidate_trials: str | None = None
    type: str = "value"  # one of QUERY_TYPES, for every query of the metric

    @property
    def is_proportion(self) -> bool:
        return self.baseline_trials is not None


@dataclass(frozen=True)
class PrometheusSettings:
    metrics: dict[str, MetricQueries]
    traffic_share: str
    user_reports: str | None = None
    # "counter": a cumulative count (user_reports_total); the gate takes its increase per step.
    # "gauge": new reports since the previous poll; each poll counted once (by its own timestamp).
    user_reports_type: str | None = None
    step: float = 60.0
    lookback: float | None = None  # None: max(phase maximum, 2 × phase minimum)
    timeout: float = 30.0  # total seconds per query_range call, retries included
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


def _query(table: Mapping[str, object], key: str, where: str, required: bool) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise GateConfigError(f"{where}.{key}: expected a PromQL query string")
    return value


def _seconds(value: object, where: str, *, positive: bool = True) -> float:
    try:
        seconds = parse_duration(value)
    except TimeFormatError as error:
        raise GateConfigError(f"{where}: {error}") from None
    if positive and seconds <= 0:
        raise GateConfigError(f"{where}: must be more than 0 seconds")
    return seconds


def parse_prometheus_settings(table: object) -> PrometheusSettings:
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
            entry.get("type", "value"),
        )
        if queries.type not in QUERY_TYPES:
            raise GateConfigError(f"{at}.type: {queries.type!r} is not one of {QUERY_TYPES}")
        if (queries.baseline_trials is None) != (queries.candidate_trials is None):
            raise GateConfigError(f"{at}: a proportion needs both baseline_trials and "
                                  "candidate_trials")  # fmt: skip
        metrics[name] = queries
    user_reports = _query(table, "user_reports", where, False)
    report_type = table.get("user_reports_type")
    if user_reports is not None and report_type not in REPORT_TYPES:
        # Read the wrong way, one report becomes one per step of the range: say which it is.
        raise GateConfigError(
            f"{where}.user_reports_type: expected 'counter' (a cumulative count such as "
            "user_reports_total) or 'gauge' (new reports since the previous poll), got "
            f"{report_type!r}"
        )
    settings = PrometheusSettings(
        metrics,
        # Every phase judges the measured share: without it no gate could ever pass.
        _query(table, "traffic_share", where, True) or "",
        user_reports,
        report_type,
    )
    values: dict[str, Any] = {}
    for key in ("step", "lookback", "timeout"):
        if key in table:
            values[key] = _seconds(table[key], f"{where}.{key}")
    if "max_response_size" in table:
        try:
            values["max_response_bytes"] = parse_size(table["max_response_size"])
        except TimeFormatError as error:
            raise GateConfigError(f"{where}.max_response_size: {error}") from None
    if values:
        from dataclasses import replace

        settings = replace(settings, **values)
    return settings


def _base_url(location: str) -> str:
    url = location[len(SCHEME_PREFIX) :].rstrip("/")
    expected = "expected prometheus+http://HOST:PORT or prometheus+https://HOST:PORT[/prefix]"
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise GateConfigError(f"--incident-metrics {location}: {expected}")
    try:
        Target.parse(url)  # no host, a bad port: a configuration error, before any query
    except UrlError as error:
        raise GateConfigError(f"--incident-metrics {location}: {error}; {expected}") from None
    return url


class PrometheusSource:
    """MetricData from `query_range` over [end - lookback, end], one query per metric and arm."""

    def __init__(self, base_url: str, settings: PrometheusSettings, start: float, end: float):
        self.base_url = base_url
        self.settings = settings
        self.start = start
        self.end = end
        # `timeout` bounds the whole call, so one attempt may use all of it.
        self.transport = HttpTransport(
            timeout=settings.timeout,
            deadline=settings.timeout,
            max_body_bytes=settings.max_response_bytes,
            retry=RETRY_POLICY,
        )

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

        settings = self.settings
        series: dict[tuple[str, str], Series] = {}
        defaults: dict[str, Mapping[str, Any]] = {}
        for name, queries in settings.metrics.items():
            # Declared even when a query comes back empty, so the metric is gated (INCONCLUSIVE).
            defaults[name] = {"kind": "proportion"} if queries.is_proportion else {}
            for arm in ("baseline", "candidate"):
                values = self.typed(f"{name} {arm}", getattr(queries, arm), queries.type)
                trials_query = getattr(queries, f"{arm}_trials")
                if trials_query is not None and values.size:
                    trials = self.typed(f"{name} {arm}_trials", trials_query, queries.type)
                    # Events and requests pair up at the evaluation steps both answered.
                    common, at_v, at_t = np.intersect1d(
                        values.timestamps, trials.timestamps, return_indices=True
                    )
                    values = Series(common, values.values[at_v], trials.values[at_t])
                if values.size:
                    series[(name, arm)] = values
        traffic = self.fetch("traffic_share", settings.traffic_share)
        reports = self._user_reports() if settings.user_reports else EMPTY_SERIES
        return MetricData(series, traffic, reports, self.end, self.description, defaults)

    def _user_reports(self) -> Series:
        """One sample per poll, valued as the new reports since the previous poll."""
        query, kind = self.settings.user_reports, self.settings.user_reports_type
        assert query is not None and kind is not None
        return self.typed("user_reports", query, kind)

    def typed(self, label: str, query: str, kind: str) -> Series:
        """The query's samples as its type says (QUERY_TYPES).

        A range query answers at every step and carries a sample forward for up to 5 minutes:
        a gauge written every 5 minutes and read at a 60 s step answers 5 times per write, and
        the tests would count each one. A counter's step-to-step increase counts each event
        once whatever the step; a gauge is kept once per write, found by `timestamp()`.
        """
        import numpy as np

        values = self.fetch(label, query)
        if kind == "counter":
            # The first step has no earlier count to subtract: it carries no increase.
            return Series(values.timestamps[1:], counter_increases(values.values)[1:])
        if kind != "gauge":
            return values
        stamps = self.fetch(f"{label} poll times", f"timestamp({query})")
        common, at_v, at_t = np.intersect1d(values.timestamps, stamps.timestamps,
                                            return_indices=True)  # fmt: skip
        poll_times = stamps.values[at_t]
        first_of_poll = np.ones(common.size, dtype=bool)
        first_of_poll[1:] = poll_times[1:] != poll_times[:-1]
        return Series(poll_times[first_of_poll], values.values[at_v][first_of_poll])

    def fetch(self, label: str, query: str) -> Series:
        """One query over the whole range, in chunks below the server's points limit."""
        import numpy as np

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
        where = f"prometheus {self.base_url}, query {label} ({query})"
        try:
            # POST: long PromQL stays out of URL length limits (Prometheus accepts both).
            raw = self.transport.request(
                "POST", f"{self.base_url}/api/v1/query_range", body=body, headers=_HEADERS
            ).body
        except HttpRequestError as failure:
            raise GateSourceError(self._failure_message(failure, where)) from None
        try:
            document = json.loads(raw)
        except RecursionError:
            raise GateSourceError(f"{where}: the answer is nested too deeply") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GateSourceError(f"{where}: the answer is not JSON ({error})") from None
        return _matrix_points(document, where)

    def _failure_message(self, failure: HttpRequestError, where: str) -> str:
        """The transport's failure in the words of the gate settings (`prometheus.timeout`...)."""
        timeout, limit = self.settings.timeout, self.settings.max_response_bytes
        if failure.kind == "timeout":
            return (f"{where}: timed out: no complete answer within the {timeout:g} s deadline "
                    "(prometheus.timeout, retries included)")  # fmt: skip
        if failure.kind == "too_large":
            too_large = (
                f"the answer is more than max_response_size ({limit:,} bytes)"
                if failure.declared_size is None
                else f"the answer is {failure.declared_size:,} bytes, more than max_response_size "
                f"({limit:,})"
            )
            return f"{where}: {too_large}; narrow the query or raise the limit"
        if failure.kind == "connection":
            return f"cannot reach prometheus at {self.base_url}: {failure.reason}"
        if failure.kind != "status":  # a refused redirect: the transport's reason says which
            return f"{where}: {failure.reason}"
        if failure.wait is not None:
            asked = (f"asked to retry after {failure.retry_after:g} s"
                     if failure.retry_after is not None
                     else f"the next retry is due in {failure.wait:.3g} s")  # fmt: skip
            return (f"{where}: HTTP {failure.status}, {asked}, past the {timeout:g} s deadline "
                    "(prometheus.timeout)")  # fmt: skip
        return f"{where}: HTTP {failure.status}: {_error_text(failure)}"


_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def counter_increases(counts: FloatArray) -> FloatArray:
    """New events per step from a cumulative counter; a drop is a restart from zero."""
    import numpy as np

    steps = np.diff(counts, prepend=counts[:1])
    restarted = steps < 0
    steps[restarted] = counts[restarted]
    return steps


def _error_text(failure: HttpRequestError) -> str:
    """Prometheus explains a refused query in a JSON body; fall back to the HTTP reason."""
    try:
        document = json.loads(failure.body)
        return f"{document.get('errorType', 'error')}: {document.get('error', '')}"[:2000]
    except (ValueError, AttributeError, RecursionError):
        return failure.status_text or "no reason given"


def _matrix_points(document: object, where: str) -> list[tuple[float, float]]:
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
            if not isinstance(point, list) or isinstance(point[1], (list, dict, bool)):
                raise TypeError  # "12" would unpack into two digits; [1, [..]] is no value
            stamp, text = point
            # Prometheus sends values as strings: "NaN", "+Inf" and "-Inf" parse as floats.
            parsed.append((float(stamp), float(text)))
        except (TypeError, ValueError, IndexError, OverflowError):
            shown = repr(point) if len(repr(point)) < 80 else repr(point)[:77] + "..."
            raise GateSourceError(f"{where}: malformed sample {shown}") from None
        if not math.isfinite(parsed[-1][0]):
            raise GateSourceError(f"{where}: non-finite timestamp {point!r}")
    return parsed

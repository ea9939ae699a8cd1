"""The Prometheus source against a hostile or broken server, and how it counts user reports.

A tiny in-process HTTP server on 127.0.0.1 plays the server. Each behaviour is bounded (a drip
stops after `DRIP_LIMIT` bytes, a stream after a fixed size) and every handler thread is a daemon,
so nothing here can outlive the test. Time limits are checked by counts: how many bytes or
requests the server got through before the client gave up.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from loopback_http import loopback_http_server
from test_gates_support import (
    T0,
    no_github_output,  # noqa: F401 (autouse)
)

import pytest_airecovery
from pytest_airecovery.gates import prometheus
from pytest_airecovery.gates.errors import GateSourceError
from pytest_airecovery.gates.runner import GateRun

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
DRIP_LIMIT = 400  # bytes; at one per 50 ms a drip lasts 20 s unless the client hangs up
DRIP_PAUSE = 0.05


def _matrix(points: list[tuple[float, float]]) -> bytes:
    values = [[stamp, repr(float(value))] for stamp, value in points]
    result = [{"metric": {}, "values": values}] if values else []
    return json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": result}}
    ).encode()


class _Server(http.server.BaseHTTPRequestHandler):
    """Behaviour by the first path segment; /prom/... evaluates plain selectors like Prometheus."""

    raw: ClassVar[dict[str, list[tuple[float, float]]]] = {}  # series name -> samples
    counts: ClassVar[dict[str, int]] = {}  # requests and bytes sent, per behaviour
    lock = threading.Lock()

    def _count(self, key: str, amount: int = 1) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + amount

    def log_message(self, *args: Any) -> None:
        pass

    def _drip(self, key: str, payload: bytes) -> None:
        for byte in payload[:DRIP_LIMIT]:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            self._count(key + " bytes")
            time.sleep(DRIP_PAUSE)

    def do_POST(self) -> None:
        fields = urllib.parse.parse_qs(
            self.rfile.read(int(self.headers["Content-Length"])).decode()
        )
        behaviour = self.path.strip("/").split("/")[0]
        self._count(behaviour)
        try:
            if behaviour == "drip-body":
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self._drip(behaviour, b" " * DRIP_LIMIT)
            elif behaviour == "drip-headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                self._drip(behaviour, b"X-Slow: " + b"a" * DRIP_LIMIT)
            elif behaviour.startswith("status-"):
                _, status, retry = behaviour.split("-")
                self.send_response(int(status))
                self.send_header("Retry-After", retry)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif behaviour == "huge-length":
                self.send_response(200)
                self.send_header("Content-Length", str(10 * 2**30))
                self.end_headers()
            elif behaviour == "huge-stream":  # no length: read until the server closes
                self.send_response(200)
                self.end_headers()
                for _ in range(64):  # 4 MiB at most
                    self.wfile.write(b" " * 65536)
                    self._count(behaviour + " bytes", 65536)
            elif behaviour == "truncated":
                body = _matrix([(1.0, 0.5)])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
            elif behaviour == "deep":
                body = b"[" * 100_000 + b"]" * 100_000
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif behaviour == "prom":
                self._evaluate(fields)
        except (BrokenPipeError, ConnectionResetError):
            self._count(behaviour + " hung up")

    def _evaluate(self, fields: dict[str, list[str]]) -> None:
        """query_range of `name` or `timestamp(name)`: the latest sample at most 5 min old."""
        query = fields["query"][0]
        wants_time = query.startswith("timestamp(")
        name = query[len("timestamp(") : -1] if wants_time else query
        start, end, step = (float(fields[key][0]) for key in ("start", "end", "step"))
        samples = self.raw.get(name, [])
        points = []
        for moment in np.arange(start, end + step / 2, step):
            earlier = [(t, v) for t, v in samples if t <= moment and moment - t <= 300]
            if earlier:
                stamp, value = earlier[-1]
                points.append((float(moment), stamp if wants_time else value))
        body = _matrix(points)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with loopback_http_server(_Server) as url:
        yield url


def _source(url: str, **settings: Any) -> prometheus.PrometheusSource:
    table = {"traffic_share": "share", "timeout": "1s", **settings}
    return prometheus.PrometheusSource(
        url, prometheus.parse_prometheus_settings(table), T0, T0 + 600
    )


def _error(url: str, **settings: Any) -> str:
    with pytest.raises(GateSourceError) as error:
        _source(url, **settings).fetch("traffic_share", "share")
    return str(error.value)


def _wait_for_hangup(key: str) -> int:
    """Bytes the server had sent when the client hung up (the drip notices within a byte)."""
    for _ in range(100):
        if _Server.counts.get(key + " hung up"):
            break
        time.sleep(0.05)
    return _Server.counts.get(key + " bytes", 0)


@pytest.mark.parametrize("behaviour", ["drip-body", "drip-headers"])
def test_a_dripping_server_is_cut_at_the_total_deadline(server: str, behaviour: str) -> None:
    message = _error(f"{server}/{behaviour}")
    assert "timed out: no complete answer within the 1 s deadline" in message
    # 1 s at a byte per 50 ms is ~20 bytes; a per-read timeout would have taken all 400.
    assert _wait_for_hangup(behaviour) < DRIP_LIMIT / 4


def test_retry_after_beyond_the_deadline_fails_at_once(server: str) -> None:
    message = _error(f"{server}/status-429-120")
    assert "HTTP 429, asked to retry after 120 s, past the 1 s deadline" in message
    assert _Server.counts["status-429-120"] == 1  # no waiting, no second request


def test_retries_are_bounded(server: str) -> None:
    message = _error(f"{server}/status-503-0", timeout="10s")
    assert "HTTP 503" in message
    assert _Server.counts["status-503-0"] == prometheus.MAX_RETRIES + 1


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("huge-length", "the answer is 10,737,418,240 bytes, more than max_response_size (1,048,576)"),
        ("huge-stream", "the answer is more than max_response_size (1,048,576 bytes)"),
        ("truncated", "incomplete or malformed answer (IncompleteRead"),
        ("deep", "the answer is nested too deeply"),
    ],
)  # fmt: skip
def test_broken_or_oversized_answers_are_clear_errors(
    server: str, behaviour: str, message: str
) -> None:
    assert message in _error(f"{server}/{behaviour}", max_response_size="1MiB", timeout="10s")


def test_the_response_size_limit_is_a_setting() -> None:
    settings = prometheus.parse_prometheus_settings({"traffic_share": "s"})
    assert settings.max_response_bytes == 64 * 2**20
    with pytest.raises(Exception, match="max_response_size: expected a size"):
        prometheus.parse_prometheus_settings({"traffic_share": "s", "max_response_size": "big"})


def test_a_dripping_prometheus_in_a_pytest_run_is_an_error_not_internalerror(
    server: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider\n")
    (pytester.path / "gate.yaml").write_text(
        json.dumps({"prometheus": {"traffic_share": "share", "timeout": "1s"}}), encoding="utf-8"
    )
    result = pytester.runpytest("--incident-gate", "canary", "--incident-metrics",
                                f"prometheus+{server}/drip-body", "--incident-gate-config", "gate.yaml")  # fmt: skip
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR: metric source: prometheus *timed out: no complete answer*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()


# --- user reports: counters and gauges --------------------------------------------------------


def _reports(server: str, report_type: str, name: str) -> Any:
    settings = prometheus.parse_prometheus_settings({
        "traffic_share": "share", "user_reports": name, "user_reports_type": report_type,
        "step": "60s"})  # fmt: skip
    return prometheus.PrometheusSource(f"{server}/prom", settings, T0, T0 + 3600)._user_reports()


def test_a_gauge_polled_every_5_minutes_counts_each_poll_once(server: str) -> None:
    # New reports since the previous poll, polled every 5 min: 1 report at 20 min, 1 at 40 min.
    polls = [(T0 + 300 * i, 1.0 if i in (4, 8) else 0.0) for i in range(13)]
    _Server.raw["reports_gauge"] = polls
    series = _reports(server, "gauge", "reports_gauge")
    assert series.values.sum() == 2  # at a 60 s step each poll answers 5 times: not 10
    assert series.timestamps.tolist() == [t for t, _ in polls]


def test_a_counter_counts_its_increase(server: str) -> None:
    # A cumulative counter scraped every 30 s: 1 report at 20 min, 2 at 40 min, a restart at 50.
    counter = []
    for i in range(121):
        moment = T0 + 30 * i
        total = (moment >= T0 + 1200) + 2 * (moment >= T0 + 2400)
        counter.append((moment, float(total if moment < T0 + 3000 else 1 + (moment >= T0 + 3300))))
    _Server.raw["reports_total"] = counter
    series = _reports(server, "counter", "reports_total")
    assert series.values.sum() == 3 + 2  # 3 before the restart, then 1 and 1 after it
    assert (series.values >= 0).all()


def test_user_reports_need_their_type(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(json.dumps({"prometheus": {"traffic_share": "s", "user_reports": "r"}}))
    run = GateRun("canary", "prometheus+http://127.0.0.1:9", str(path), tmp_path)
    run.load()
    assert run.load_error is not None
    assert "prometheus.user_reports_type: expected 'counter'" in run.load_error


def test_proportion_counters_count_each_event_once(server: str) -> None:
    # errors_total / requests_total scraped every 15 s; read at a 60 s step as counters.
    moments = [T0 + 15 * i for i in range(241)]
    for arm, rate in (("baseline", 1), ("candidate", 2)):
        _Server.raw[f"errors_total_{arm}"] = [
            (t, float(rate * i // 4)) for i, t in enumerate(moments)
        ]
        _Server.raw[f"requests_total_{arm}"] = [(t, float(25 * i)) for i, t in enumerate(moments)]
    metric = {"type": "counter", **{f"{arm}{part}": f"{name}_total_{arm}" for arm in ("baseline", "candidate")
              for part, name in (("", "errors"), ("_trials", "requests"))}}  # fmt: skip
    settings = prometheus.parse_prometheus_settings(
        {"traffic_share": "share", "step": "60s", "metrics": {"errors": metric}}
    )
    data = prometheus.PrometheusSource(f"{server}/prom", settings, T0, T0 + 3600).load()
    candidate = data.get("errors", "candidate")
    assert candidate.size == 60  # 61 steps, the first has nothing to subtract from
    assert candidate.values.sum() == 2 * 240 // 4 and candidate.trials is not None
    assert candidate.trials.sum() == 25 * 240
    assert data.get("errors", "baseline").values.sum() == 240 // 4
    with pytest.raises(Exception, match="type: 'rate' is not one of"):
        prometheus.parse_prometheus_settings(
            {
                "traffic_share": "s",
                "metrics": {"m": {"baseline": "a", "candidate": "b", "type": "rate"}},
            }
        )

"""The Prometheus `query_range` source against a real Prometheus server.

The fixture runs the steps of examples/gates/prometheus_demo.py: it backfills the shipped
healthy-canary export into a fresh TSDB with `promtool tsdb create-blocks-from openmetrics`,
starts `prometheus` on 127.0.0.1 with an ephemeral port, and stops it at teardown. The data is
moved hours into the past: backfilled blocks must lie before the head block's window. The tests
skip only when the binaries are absent (Debian: `apt-get install prometheus`), and fail instead
when AIRECOVERY_REQUIRE_PROMETHEUS is set (CI).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from loopback_http import loopback_http_server
from test_gates_support import no_github_output  # noqa: F401 (autouse)

import pytest_airecovery
from pytest_airecovery.gates import prometheus
from pytest_airecovery.gates.errors import GateConfigError
from pytest_airecovery.gates.phases import parse_gate_config
from pytest_airecovery.gates.runner import GateRun
from pytest_airecovery.gates.sources import ExportFileSource, MetricData

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
HEALTHY = REPO / "examples" / "gates" / "canary-healthy.json"
DEMO = REPO / "examples" / "gates" / "prometheus_demo.py"
READY_TIMEOUT = 30.0  # seconds; a cold start on a busy 2-core machine takes a few
STEP = 30  # the export's resolution

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:PORT
    end: float  # timestamp of the last backfilled sample
    export: MetricData  # the export the server holds, shifted to `end`


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"prometheus exited with {process.returncode}:\n{log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus not ready after {READY_TIMEOUT:g}s:\n{log.read_text()[-2000:]}")


def _load_demo() -> Any:
    """examples/gates/prometheus_demo.py: the fixture runs the documented demo steps."""
    spec = importlib.util.spec_from_file_location("prometheus_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def _start(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start prometheus on a free loopback port; retry if another process took the port first."""
    assert PROMETHEUS is not None
    for attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = root / f"prometheus-{attempt}.log"
        with log.open("wb") as log_handle:
            process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={root / 'prometheus.yml'}",
                 f"--storage.tsdb.path={root / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                 "--storage.tsdb.retention.time=30d"],
                stdout=log_handle, stderr=subprocess.STDOUT, cwd=root,
            )  # fmt: skip
        try:
            _wait_ready(url, process, log)
            return process, url
        except RuntimeError:
            _stop(process)
            if attempt == 2 or "address already in use" not in log.read_text(errors="replace"):
                raise
    raise AssertionError("unreachable")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if PROMETHEUS is None or PROMTOOL is None:
        reason = "prometheus/promtool not installed (Debian: apt-get install -y prometheus)"
        if os.environ.get("AIRECOVERY_REQUIRE_PROMETHEUS"):
            pytest.fail(f"AIRECOVERY_REQUIRE_PROMETHEUS is set but {reason}")  # CI must not skip
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("prometheus")
    # The demo's steps: OpenMetrics ending 5 h ago (before the head block), settings, config.
    end = demo.main(root)
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(root / "data.om"),
                    str(root / "tsdb")], check=True, capture_output=True, timeout=120)  # fmt: skip
    process, url = _start(root)
    try:
        yield Server(url, end, ExportFileSource(HEALTHY).load())
    finally:
        _stop(process)


def settings(server: Server, *, evaluate_after: float = 20.0, **queries: Any) -> dict[str, Any]:
    """The demo's gate settings, with some queries replaced."""
    gate = demo.gate_settings(server.end + evaluate_after, server.export.metric_defaults)
    gate["prometheus"]["metrics"].update(queries.pop("metrics", {}))
    gate["prometheus"].update(queries)
    return gate


def run_gate(url: str, tmp_path: Path, gate_settings: dict[str, Any]) -> GateRun:
    """A canary gate over Prometheus at `url`, loaded (queries sent) but not yet evaluated."""
    path = tmp_path / "gate.yaml"  # YAML is a superset of JSON
    path.write_text(json.dumps(gate_settings), encoding="utf-8")
    run = GateRun("canary", f"prometheus+{url}", str(path), tmp_path)
    run.load()
    return run


def outcomes(run: GateRun) -> dict[str, str]:
    assert run.load_error is None, run.load_error
    return {check.name: run.evaluate(check).outcome.value for check in run.checks()}


def messages(run: GateRun) -> dict[str, str]:
    return {check.name: run.evaluate(check).message for check in run.checks()}


def test_healthy_canary_from_prometheus_passes_like_the_export(
    server: Server, tmp_path: Path
) -> None:
    run = run_gate(server.url, tmp_path, settings(server))
    assert outcomes(run) == {
        "traffic-share": "PASS", "duration": "PASS", "no-anomalies[error_rate]": "PASS",
        "no-anomalies[latency_p95_ms]": "PASS", "no-anomalies[quality_score]": "PASS",
    }  # fmt: skip
    assert run.source is not None and run.source.description == f"prometheus {server.url}"
    # The server gives back exactly the exported samples (the step equals their spacing).
    data = run.source.load()
    shift = server.end - float(server.export.traffic.timestamps[-1])
    for key, exported in server.export.series.items():
        got = data.series[key]
        np.testing.assert_array_equal(got.values, exported.values)
        np.testing.assert_allclose(got.timestamps, exported.timestamps + shift + 20, atol=STEP)
        if exported.trials is not None:
            np.testing.assert_array_equal(got.trials, exported.trials)
    assert data.as_of == server.end + 20


def test_long_ranges_are_split_below_the_points_limit(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = run_gate(server.url, tmp_path, settings(server))
    assert whole.source is not None
    reference = whole.source.load()
    monkeypatch.setattr(prometheus, "MAX_POINTS_PER_QUERY", 47)  # 480 steps in 4 h: 11 chunks
    chunked = run_gate(server.url, tmp_path, settings(server))
    assert chunked.source is not None
    data = chunked.source.load()
    for key, series in reference.series.items():
        np.testing.assert_array_equal(data.series[key].timestamps, series.timestamps)
        np.testing.assert_array_equal(data.series[key].values, series.values)
    np.testing.assert_array_equal(data.traffic.timestamps, reference.traffic.timestamps)


def test_empty_result_is_inconclusive(server: Server, tmp_path: Path) -> None:
    missing = {"latency_p95_ms": {"baseline": 'model_latency_p95_ms{arm="nobody"}',
                                  "candidate": 'model_latency_p95_ms{arm="nobody"}'},
               "quality_score": {"baseline": 'model_quality_score{arm="baseline"}',
                                 "candidate": 'model_quality_score{arm="nobody"}'}}  # fmt: skip
    run = run_gate(server.url, tmp_path, settings(server, metrics=missing))
    got, text = outcomes(run), messages(run)
    # Both arms empty: the metric is still gated (it is configured), and missing.
    assert got["no-anomalies[latency_p95_ms]"] == "INCONCLUSIVE"
    assert "latency_p95_ms is missing from prometheus" in text["no-anomalies[latency_p95_ms]"]
    assert got["no-anomalies[quality_score]"] == "INCONCLUSIVE"
    assert "0 candidate sample(s)" in text["no-anomalies[quality_score]"]
    assert got["no-anomalies[error_rate]"] == "PASS"


def test_empty_traffic_share_and_empty_source_are_inconclusive(
    server: Server, tmp_path: Path
) -> None:
    nothing = 'rollout_traffic_share{job="none"}'
    run = run_gate(server.url, tmp_path, settings(server, traffic_share=nothing))
    assert set(outcomes(run).values()) == {"INCONCLUSIVE"}
    assert "no traffic_share samples" in messages(run)["traffic-share"]
    empty = {
        name: {"baseline": nothing, "candidate": nothing}
        for name in ("latency_p95_ms", "quality_score")
    }
    empty["error_rate"] = {"baseline": nothing, "candidate": nothing,
                           "baseline_trials": nothing, "candidate_trials": nothing}  # fmt: skip
    run = run_gate(server.url, tmp_path, settings(server, traffic_share=nothing, user_reports=nothing,
                                              metrics=empty))  # fmt: skip
    assert set(outcomes(run).values()) == {"INCONCLUSIVE"}


@pytest.mark.parametrize("expression", ["* NaN", "+ Inf"])
def test_nan_and_inf_are_inconclusive(server: Server, tmp_path: Path, expression: str) -> None:
    queries = {"latency_p95_ms": {"baseline": 'model_latency_p95_ms{arm="baseline"}',
                                  "candidate": f'model_latency_p95_ms{{arm="candidate"}} {expression}'}}  # fmt: skip
    run = run_gate(server.url, tmp_path, settings(server, metrics=queries))
    assert outcomes(run)["no-anomalies[latency_p95_ms]"] == "INCONCLUSIVE"
    assert "NaN/inf value(s) in the candidate arm" in messages(run)["no-anomalies[latency_p95_ms]"]


def test_stale_data_is_inconclusive(server: Server, tmp_path: Path) -> None:
    # An hour after the last sample: Prometheus returns nothing newer than its 5-minute lookback.
    run = run_gate(server.url, tmp_path, settings(server, evaluate_after=3600))
    got, text = outcomes(run), messages(run)
    assert got["traffic-share"] == "INCONCLUSIVE" and "stale" in text["traffic-share"]
    assert got["no-anomalies[latency_p95_ms]"] == "INCONCLUSIVE"
    assert "latency_p95_ms data is stale" in text["no-anomalies[latency_p95_ms]"]


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ({"traffic_share": "sum(rollout_traffic_share"}, "HTTP 400: bad_data"),
        ({"metrics": {"latency_p95_ms": {"baseline": "model_latency_p95_ms", "candidate": "model_latency_p95_ms"}}},
         "returned 2 series, expected one per arm"),
    ],
)  # fmt: skip
def test_broken_queries_are_errors(
    server: Server, tmp_path: Path, queries: dict[str, Any], message: str
) -> None:
    run = run_gate(server.url, tmp_path, settings(server, **queries))
    assert run.load_error is not None and message in run.load_error
    assert run.load_error.startswith("metric source: prometheus http://127.0.0.1:")


def test_unreachable_server_is_an_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    run = run_gate(url, tmp_path, {"prometheus": {"timeout": "5s", "traffic_share": "x"}})
    assert run.load_error is not None
    assert run.load_error.startswith(f"metric source: cannot reach prometheus at {url}")
    assert run.checks() == []


@pytest.mark.parametrize(
    ("gate_settings", "location", "message"),
    [
        ({}, "prometheus+http://127.0.0.1:9", "no PromQL queries configured"),
        ({"prometheus": {}}, "prometheus+http://x", "prometheus.traffic_share: expected a PromQL"),
        ({"prometheus": {"traffic_share": "s"}}, "prometheus+ftp://x", "expected prometheus+http://HOST:PORT"),
        ({"prometheus": {"step": "0s", "traffic_share": "s"}}, "prometheus+http://x", "prometheus.step: must be more than 0"),
        ({"prometheus": {"querys": {}}}, "prometheus+http://x", "prometheus: unknown key(s) querys"),
        ({"prometheus": {"metrics": {"m": {"baseline": "a"}}}}, "prometheus+http://x",
         "prometheus.metrics.m.candidate: expected a PromQL query string"),
        ({"prometheus": {"metrics": {"m": {"baseline": "a", "candidate": "b", "baseline_trials": "c"}}}},
         "prometheus+http://x", "needs both baseline_trials and candidate_trials"),
        ({"prometheus": {"metrics": {"traffic_share": {"baseline": "a", "candidate": "b"}}}},
         "prometheus+http://x", "'traffic_share' is reserved"),
        ({"metrics": {"latency": {"direction": "lower"}}, "prometheus": {"traffic_share": "s"}}, "prometheus+http://x",
         "metrics latency have no query under prometheus.metrics"),
    ],
)  # fmt: skip
def test_configuration_errors(
    tmp_path: Path, gate_settings: dict[str, Any], location: str, message: str
) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(json.dumps(gate_settings), encoding="utf-8")
    run = GateRun("canary", location, str(path), tmp_path)
    run.load()
    assert run.load_error is not None and message in run.load_error


def test_default_lookback_covers_the_phase() -> None:
    config = parse_gate_config({"prometheus": {"traffic_share": "s"}})
    source = prometheus.PrometheusSource.from_location(
        "prometheus+http://prom:9090/", config, config.phase("limited"), now=108_059.0
    )
    assert source.base_url == "http://prom:9090"
    assert (source.start, source.end) == (108_000.0 - 8 * 3600, 108_000.0)  # a whole step
    full = parse_gate_config({"prometheus": {"lookback": "3d", "traffic_share": "s"}})
    source = prometheus.PrometheusSource.from_location(
        "prometheus+https://p/x", full, full.phase("full"), now=504_000.0
    )
    assert source.start == 504_000.0 - 3 * 86400 and source.base_url == "https://p/x"
    with pytest.raises(GateConfigError):
        prometheus.PrometheusSource.from_location(
            "prometheus+http://p", parse_gate_config({}), config.phase("canary")
        )


# Plain only: under xdist each worker loads the source the same way (the range end is rounded to
# a step so they agree, see test_default_lookback_covers_the_phase), and a -n 2 run costs ~5 s.
@pytest.mark.parametrize("mode", [[]], ids=["plain"])
def test_pytest_run_against_prometheus(
    server: Server, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest -p no:benchmark -p no:cacheprovider\n"
    )
    (pytester.path / "gate.yaml").write_text(json.dumps(settings(server)), encoding="utf-8")
    runner = pytester.runpytest_subprocess if mode else pytester.runpytest
    result = runner("--incident-gate", "canary", "--incident-metrics", f"prometheus+{server.url}",
                    "--incident-gate-config", "gate.yaml", "--incident-gate-report", "gate.json",
                    *mode)  # fmt: skip
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["decision: PROMOTE: move to limited at 10-25% of traffic"])
    report = json.loads((pytester.path / "gate.json").read_text(encoding="utf-8"))
    assert report["source"] == f"prometheus {server.url}"
    assert [item["outcome"] for item in report["criteria"]] == ["PASS"] * 5


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every query_range with the status and body in `answers[path]`."""

    answers: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = self.answers[self.path.split("/api/")[0] or "/"]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def canned() -> Iterator[str]:
    with loopback_http_server(_Canned) as url:
        yield url


def _matrix(*series: list[list[object]]) -> bytes:
    result = [{"metric": {"i": str(i)}, "values": values} for i, values in enumerate(series)]
    return json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": result}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, b"<html>bad gateway</html>", "HTTP 502: Bad Gateway"),
        (422, b'{"status":"error","errorType":"execution","error":"too many samples"}',
         "HTTP 422: execution: too many samples"),
        (200, b"not json", "the answer is not JSON"),
        (200, b'{"status":"success","data":{"resultType":"vector","result":[]}}', "resultType matrix"),
        (200, _matrix([[1, "1"], ["x", "2"]]), "malformed sample ['x', '2']"),
        (200, _matrix([[1, "1"], "12"]), "malformed sample '12'"),
        (200, _matrix([[1, "1"], [2, ["3"]]]), "malformed sample [2, ['3']]"),
        (200, _matrix([[1, "1"]], [[1, "2"]]), "returned 2 series"),
    ],
)  # fmt: skip
def test_malformed_answers_are_errors(
    canned: str, tmp_path: Path, status: int, body: bytes, message: str
) -> None:
    _Canned.answers["/" + str(status) + str(len(body))] = (status, body)
    url = f"{canned}/{status}{len(body)}"  # a path prefix per case: Prometheus behind a proxy
    run = run_gate(url, tmp_path, {"prometheus": {"traffic_share": "share"}})
    assert run.load_error is not None and message in run.load_error, run.load_error


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        run = run_gate(url, tmp_path, {"prometheus": {"traffic_share": "s", "timeout": "0.5s"}})
    assert time.monotonic() - started < 5
    assert run.load_error is not None and "timed out" in run.load_error, run.load_error


def test_nan_and_inf_strings_parse_and_empty_arms_pair_up(canned: str, tmp_path: Path) -> None:
    _Canned.answers["/nan"] = (200, _matrix([[1, "NaN"], [2, "+Inf"], [3, "-Inf"], [4, "0.5"]]))
    source = prometheus.PrometheusSource(
        canned + "/nan",
        prometheus.parse_prometheus_settings({"traffic_share": "s", "step": "1s"}),
        1.0,
        4.0,
    )
    series = source.fetch("traffic_share", "s")
    assert series.timestamps.tolist() == [1, 2, 3, 4]
    assert np.isnan(series.values[0]) and series.values[1:3].tolist() == [np.inf, -np.inf]


def test_user_report_polls_are_counted_once(server: Server, tmp_path: Path) -> None:
    # The demo's gauge is written once per poll (every 5 min) and read at a 30 s step: without
    # deduplication by the sample's own timestamp each poll would count about 10 times.
    run = run_gate(server.url, tmp_path, settings(server))
    assert run.source is not None
    polls = run.source.load().user_reports
    exported = server.export.user_reports
    shift = server.end - float(server.export.traffic.timestamps[-1])
    inside = exported.between(run.source.start - shift, run.source.end - shift)  # type: ignore[attr-defined]
    assert polls.size == inside.size
    np.testing.assert_array_equal(polls.timestamps, inside.timestamps + shift)

"""The shared HTTP transport and its retry policy, against a loopback server that misbehaves.

What the model adapter and the Prometheus source have in common is tested here once: which
failures the policy retries, how a failure is described to the client (kind, status, sizes,
waits), and that a cut read never passes for an answer. Counts, never wall time: requests seen,
bytes sent before the client hung up, attempts reported.
"""

from __future__ import annotations

import email.utils
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from loopback_http import loopback_http_server

from pytest_airecovery.models.http_transport import HttpRequestError, HttpTransport, RetryPolicy
from pytest_airecovery.models.retry import parse_retry_after

DRIP_LIMIT = 400  # bytes; at one per 50 ms a drip lasts 20 s unless the client hangs up
DRIP_PAUSE = 0.05


class _Handler(http.server.BaseHTTPRequestHandler):
    """Behaviour by path. HTTP/1.0 (the default): every response ends its connection."""

    counts: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def _count(self, key: str, amount: int = 1) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + amount

    def _drip(self, key: str, payload: bytes) -> None:
        try:
            for byte in payload[:DRIP_LIMIT]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                self._count(key + " bytes")
                time.sleep(DRIP_PAUSE)
        except (BrokenPipeError, ConnectionResetError):
            self._count(key + " hung up")

    def do_GET(self) -> None:
        behaviour = self.path.strip("/")
        self._count(behaviour)
        if behaviour == "drip-body":  # a close-delimited body: no Content-Length
            self.send_response(200)
            self.end_headers()
            self._drip(behaviour, b"x" * DRIP_LIMIT)
        elif behaviour == "drip-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            self._drip(behaviour, b"X-Slow: " + b"a" * DRIP_LIMIT)
        elif behaviour == "short-body":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
        elif behaviour == "huge-length":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 2**30))
            self.end_headers()
        elif behaviour.startswith("status-"):
            _, status, retry_after = behaviour.split("-", 2)
            self.send_response(int(status))
            self.send_header("Retry-After", retry_after.replace("_", " "))  # a date: no spaces
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with loopback_http_server(_Handler) as url:
        yield url


def _fail(url: str, **options: Any) -> HttpRequestError:
    options.setdefault("sleep", lambda seconds: None)
    with pytest.raises(HttpRequestError) as info:
        HttpTransport(**options).request("GET", url)
    return info.value


def _bytes_before_hangup(key: str) -> int:
    for _ in range(100):  # the drip notices within a byte or two
        if _Handler.counts.get(key + " hung up"):
            break
        time.sleep(0.05)
    return _Handler.counts.get(key + " bytes", 0)


@pytest.mark.parametrize("behaviour", ["drip-body", "drip-headers"])
def test_a_drip_that_ends_the_connection_is_cut_and_never_an_answer(
    server: str, behaviour: str
) -> None:
    # http.client lets go of the socket once such a response's headers are read; the watchdog
    # must still reach it, and the early end it causes must not read as a complete answer.
    failure = _fail(f"{server}/{behaviour}", timeout=1.0, deadline=1.0)
    assert failure.kind == "timeout" and failure.status is None
    assert "no complete response within the 1 s deadline" in failure.reason
    assert _bytes_before_hangup(behaviour) < DRIP_LIMIT / 4


def test_a_body_shorter_than_its_length_is_an_incomplete_answer(server: str) -> None:
    failure = _fail(f"{server}/short-body", retry=RetryPolicy(max_retries=2))
    assert failure.kind == "connection"
    assert "incomplete or malformed answer (IncompleteRead" in failure.reason
    assert failure.attempts == 3  # a cut-off answer is transient: retried


def test_the_policy_decides_which_statuses_are_retried(server: str) -> None:
    before = _Handler.counts.get("status-503-0", 0)
    only_429 = RetryPolicy(max_retries=3, retry_statuses=frozenset({429}))
    failure = _fail(f"{server}/status-503-0", retry=only_429)
    assert (failure.kind, failure.status, failure.attempts) == ("status", 503, 1)
    assert failure.status_text == "Service Unavailable"
    assert _Handler.counts["status-503-0"] - before == 1
    failure = _fail(f"{server}/status-503-0", retry=RetryPolicy(max_retries=3))
    assert failure.attempts == 4 and failure.reason.endswith("retries exhausted")


def test_the_policy_decides_whether_unanswered_calls_are_retried() -> None:
    with socket.socket() as bound_not_listening:  # connecting is refused
        bound_not_listening.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound_not_listening.getsockname()[1]}/"
        once = _fail(url, retry=RetryPolicy(max_retries=3, retry_unanswered=False))
        again = _fail(url, retry=RetryPolicy(max_retries=3))
    assert (once.kind, once.attempts) == ("connection", 1)
    assert (again.kind, again.attempts) == ("connection", 4)


def test_a_wait_past_the_deadline_names_the_hint_and_the_wait(server: str) -> None:
    failure = _fail(f"{server}/status-429-120", deadline=5.0)
    assert (failure.kind, failure.status, failure.attempts) == ("status", 429, 1)
    assert failure.retry_after == 120 and failure.wait == 60  # capped at max_retry_after
    assert "the server asked to retry after 120 s, past the 5 s deadline" in failure.reason


def test_a_declared_body_over_the_cap_names_its_size(server: str) -> None:
    failure = _fail(f"{server}/huge-length", max_body_bytes=1 << 20)
    assert (failure.kind, failure.declared_size, failure.attempts) == ("too_large", 10 * 2**30, 1)


def test_http_date_retry_after_counts_until_the_date_if_still_ahead() -> None:
    now = 1_800_000_000.0
    ahead = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(ahead, now=now) == 30
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) is None
    minus_zero = email.utils.formatdate(now + 5).replace("+0000", "-0000")  # zone-less GMT
    assert parse_retry_after(minus_zero, now=now) == 5
    for unusable in ("soon", "", "nan", "-1", "inf", "Mon, 99 Foo 2026 00:00:00 GMT"):
        assert parse_retry_after(unusable, now=now) is None, unusable
    assert parse_retry_after(" 2.5 ", now=now) == 2.5


def test_a_future_http_date_is_waited_for(server: str) -> None:
    delays: list[float] = []
    ahead = email.utils.formatdate(time.time() + 30, usegmt=True).replace(" ", "_")
    failure = _fail(
        f"{server}/status-503-{ahead}",
        retry=RetryPolicy(max_retries=1, max_retry_after=60),
        sleep=delays.append,
    )
    assert failure.attempts == 2 and len(delays) == 1
    assert 25 <= delays[0] <= 30


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_retries", -1), ("backoff", float("nan")), ("max_backoff", -1.0),
     ("max_retry_after", float("inf"))],
)  # fmt: skip
def test_the_policy_refuses_unusable_numbers(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})

"""Hostile model servers (issue 13): redirects, drips, endless 429s, huge and deep bodies, URLs.

Each test runs the demo server in-process on 127.0.0.1 with a bounded fault, and checks what the
client did by counts (requests seen, bytes streamed, replies abandoned), never by wall time.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_airecovery.demo.server import DemoServer, FaultPlan
from pytest_airecovery.models import Model
from pytest_airecovery.models.http import HttpModelError, openai_chat_model
from pytest_airecovery.models.http_transport import UrlError

MODEL_NAME = "echo@v1"
SECRET = "sk-never-elsewhere"


def echo(batch: list[Any]) -> list[Any]:
    return [{"echo": text} for text in batch]


@pytest.fixture
def server() -> Iterator[DemoServer]:
    demo = DemoServer(echo, model_name=MODEL_NAME)
    with demo:
        yield demo


@pytest.fixture
def other_server() -> Iterator[DemoServer]:
    demo = DemoServer(echo, model_name=MODEL_NAME)
    with demo:
        yield demo


class FakeTime:
    """A clock that only the injected sleep moves: deadline arithmetic without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds


def model_for(server: DemoServer, fake: FakeTime | None = None, **options: Any) -> Model:
    options.setdefault("rng", random.Random(7))
    if fake is not None:
        options.update(sleep=fake.sleep, clock=fake.clock)
    else:
        options.setdefault("sleep", lambda seconds: None)
    return openai_chat_model(server.base_url, MODEL_NAME, **options)


# -- redirects: credentials stay on their origin (item 9) ---------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_origin_is_refused_and_the_key_stays_home(
    server: DemoServer, other_server: DemoServer, status: int
) -> None:
    server.faults = FaultPlan(
        redirect_first=1,
        redirect_status=status,
        redirect_to=f"{other_server.base_url}/chat/completions",
    )
    with pytest.raises(HttpModelError, match="redirect to another origin refused") as info:
        model_for(server, api_key=SECRET).predict(["x"])
    assert info.value.attempts == 1  # not retried
    assert other_server.stats.seen == []  # not one request, so no key, reached the other origin
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("status", [307, 308])
def test_same_origin_redirect_keeps_method_body_and_key(server: DemoServer, status: int) -> None:
    server.faults = FaultPlan(
        redirect_first=1, redirect_status=status, redirect_to="/v1/chat/completions?moved=1"
    )
    outputs = model_for(server, api_key=SECRET, parse=json.loads).predict(["x"])
    assert outputs == [{"echo": "x"}]
    seen = server.stats.seen
    assert [(method, path) for method, path, _ in seen] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions?moved=1"),
    ]
    assert {auth for _, _, auth in seen} == {f"Bearer {SECRET}"}


def test_same_origin_redirect_that_would_drop_the_body_is_refused(server: DemoServer) -> None:
    server.faults = FaultPlan(redirect_first=1, redirect_status=302, redirect_to="/v1/elsewhere")
    with pytest.raises(HttpModelError, match="redirect of a POST refused"):
        model_for(server).predict(["x"])
    assert len(server.stats.seen) == 1


def test_endless_same_origin_redirects_stop(server: DemoServer) -> None:
    server.faults = FaultPlan(
        redirect_first=10**6, redirect_status=307, redirect_to="/v1/chat/completions"
    )
    with pytest.raises(HttpModelError, match="more than 5 redirects"):
        model_for(server).predict(["x"])
    assert len(server.stats.seen) == 6


# -- time: one total deadline per call (item 12) -----------------------------------------------


def test_a_dripping_server_is_cut_at_the_attempt_timeout(server: DemoServer) -> None:
    # The reply comes one byte per 50 ms: each read succeeds, so a per-read timeout never fires.
    server.faults = FaultPlan(drip_first=10**6, drip_interval=0.05)
    with pytest.raises(HttpModelError, match=r"no complete response within the 0\.3 s timeout"):
        openai_chat_model(server.base_url, MODEL_NAME, timeout=0.3, max_retries=0).predict(["x"])
    assert server.wait_idle()
    stats = server.stats
    assert stats.unfinished_replies == 1  # the client hung up mid-reply
    assert 0 < stats.streamed_bytes < 200  # of a reply of about 300 bytes


def test_retries_of_a_dripping_server_end_at_the_deadline(server: DemoServer) -> None:
    server.faults = FaultPlan(drip_first=10**6, drip_interval=0.05)
    model = openai_chat_model(
        server.base_url,
        MODEL_NAME,
        timeout=0.3,
        deadline=1.0,
        max_retries=50,
        sleep=lambda seconds: None,
    )
    with pytest.raises(HttpModelError, match="1 s deadline of the call") as info:
        model.predict(["x"])
    # Each attempt before the last used up its whole 0.3 s: at most 4 fit in 1 s.
    assert 1 <= info.value.attempts <= 4
    assert server.wait_idle()
    assert server.stats.unfinished_replies == info.value.attempts


def test_retry_after_beyond_the_deadline_fails_at_once(server: DemoServer) -> None:
    server.faults = FaultPlan(fail_first=10**6, fail_status=429, retry_after="120")
    fake = FakeTime()
    with pytest.raises(HttpModelError) as info:
        model_for(server, fake, deadline=30, max_retry_after=600).predict(["x"])
    message = str(info.value)
    assert "HTTP 429" in message
    assert "the server asked to retry after 120 s, past the 30 s deadline of the call" in message
    assert fake.delays == []  # no wait at all
    assert server.stats.requests == 1


def test_endless_429_waits_no_longer_than_the_deadline(server: DemoServer) -> None:
    # Retry-After 120 is capped at max_retry_after (60): one wait fits the 120 s deadline,
    # the second would not.
    server.faults = FaultPlan(fail_first=10**6, fail_status=429, retry_after="120")
    fake = FakeTime()
    with pytest.raises(HttpModelError, match="deadline of the call"):
        model_for(server, fake, max_retries=100).predict(["x"])
    assert fake.delays == [60.0]
    assert server.stats.requests == 2


def test_backoff_never_outlives_the_deadline(server: DemoServer) -> None:
    server.faults = FaultPlan(fail_first=10**6, fail_status=503)
    fake = FakeTime()
    with pytest.raises(HttpModelError, match="the next retry is due in .* past the 30 s deadline"):
        model_for(server, fake, deadline=30, backoff=4, max_backoff=64, max_retries=100).predict(
            ["x"]
        )
    assert 0 < sum(fake.delays) < 30
    assert server.stats.requests == len(fake.delays) + 1


def test_a_wait_that_overshoots_the_deadline_ends_the_call(server: DemoServer) -> None:
    # A sleep may wake later than asked; no attempt is then started past the deadline.
    server.faults = FaultPlan(fail_first=10**6, fail_status=503)
    fake = FakeTime()

    def late_sleep(seconds: float) -> None:
        fake.sleep(seconds + 60)

    model = openai_chat_model(
        server.base_url, MODEL_NAME, deadline=30, sleep=late_sleep, clock=fake.clock
    )
    with pytest.raises(HttpModelError, match="HTTP 503 Service Unavailable; out of time") as info:
        model.predict(["x"])
    assert info.value.attempts == 1
    assert server.stats.requests == 1


EXIT_WHILE_REQUESTS_HANG = """
import sys, threading, time
from pytest_airecovery.models.http import OpenAIChatPredictor

predictor = OpenAIChatPredictor(sys.argv[1], "echo@v1", concurrency=3, timeout=600)
# As the plugin does when a batch outlives its model timeout: stop waiting and move on.
threading.Thread(target=predictor, args=(["a", "b", "c"],), daemon=True).start()
time.sleep(1.0)
print("main thread done", flush=True)
"""


def test_request_threads_never_keep_the_interpreter_alive(server: DemoServer) -> None:
    # Each reply takes about a minute to drip; the interpreter must exit without waiting for it.
    server.faults = FaultPlan(drip_first=10**6, drip_interval=0.2)
    try:
        done = subprocess.run(
            [sys.executable, "-c", EXIT_WHILE_REQUESTS_HANG, server.base_url],
            capture_output=True,
            text=True,
            timeout=45,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the interpreter waited for request threads at exit")
    assert done.returncode == 0, done.stderr
    assert "main thread done" in done.stdout
    assert server.stats.requests >= 1  # the requests were really on the wire at exit


def test_a_failure_cuts_the_requests_still_on_the_wire() -> None:
    # "slow" drips for about 15 s; "explode" fails for good once both requests are on the wire.
    # The batch must not wait for "slow": its connection is shut down and the failure raised.
    def explode_or_echo(batch: list[Any]) -> list[Any]:
        if batch == ["explode"]:
            for _ in range(400):  # until "slow" has arrived too
                if server.stats.requests >= 2:
                    break
                threading.Event().wait(0.025)
            raise ValueError("cannot handle this input")
        return echo(batch)

    server = DemoServer(explode_or_echo, model_name=MODEL_NAME)
    server.faults = FaultPlan(drip_first=10**6, drip_interval=0.05)
    with server as base_url:
        model = openai_chat_model(base_url, MODEL_NAME, concurrency=2, timeout=60, max_retries=0)
        with pytest.raises(HttpModelError, match="cannot handle this input") as info:
            model.predict(["slow", "explode"])
        assert info.value.index == 1
        assert server.wait_idle()
        stats = server.stats
    assert stats.requests == 2
    assert stats.unfinished_replies == 1


# -- memory: the body size cap (item 12) ---------------------------------------------------------

HUGE = 64 << 20


@pytest.mark.parametrize("cap", [1 << 20, 64 << 10], ids=["1MiB", "64KiB"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_body_over_the_cap_is_refused_before_the_memory_is_spent(
    server: DemoServer, declared: bool, cap: int
) -> None:
    # 64 KiB is also the error-excerpt size: a success body that big is refused, never cut.
    server.faults = FaultPlan(huge_first=10**6, huge_bytes=HUGE, huge_declared=declared)
    model = model_for(server, max_body_bytes=cap)
    tracemalloc.start()
    try:
        with pytest.raises(HttpModelError, match="response body too large") as info:
            model.predict(["x"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.attempts == 1  # a size problem is not retried
    assert "max_body_bytes" in str(info.value)
    assert peak < 8 << 20
    assert server.wait_idle()
    assert server.stats.streamed_bytes < HUGE // 4


def test_a_body_within_the_cap_is_read(server: DemoServer) -> None:
    outputs = model_for(server, max_body_bytes=4096, parse=json.loads).predict(["x"])
    assert outputs == [{"echo": "x"}]


# -- URLs with credentials (item 13 HTTP adapter) -----------------------------------------------


def test_user_and_password_in_the_base_url_are_sent_as_basic_auth(server: DemoServer) -> None:
    base_url = server.base_url.replace("http://", "http://alice:p%40ss%3Aword@")
    outputs = openai_chat_model(base_url, MODEL_NAME, parse=json.loads).predict(["x"])
    assert outputs == [{"echo": "x"}]
    expected = "Basic " + base64.b64encode(b"alice:p@ss:word").decode("ascii")
    assert server.stats.authorization == [expected]

    server.faults = FaultPlan(fail_first=10**6, fail_status=500)
    with pytest.raises(HttpModelError) as info:
        openai_chat_model(base_url, MODEL_NAME, max_retries=0).predict(["x"])
    message = str(info.value)
    assert "alice" not in message and "p%40ss" not in message and "p@ss" not in message
    assert server.base_url in message


@pytest.mark.parametrize(
    "options", [{"api_key": "sk-1"}, {"api_key_env": "KEY"}, {"headers": {"authorization": "x"}}]
)
def test_user_and_password_with_another_credential_are_refused_at_once(
    options: dict[str, Any],
) -> None:
    with pytest.raises(UrlError, match="carries user:password .* keep one") as info:
        openai_chat_model("http://alice:secret@127.0.0.1:1/v1", "m", **options)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("ftp://127.0.0.1/v1", "not an http:// or https:// URL"),
        ("127.0.0.1:8000/v1", "not an http:// or https:// URL"),
        ("http:///v1", "has no host"),
        ("http://127.0.0.1:99999/v1", "invalid port"),
    ],
)
def test_unusable_base_urls_are_refused_at_once(base_url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        openai_chat_model(base_url, "m")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("deadline", float("nan")),
        ("deadline", 0),
        ("timeout", float("inf")),
        ("max_body_bytes", 0),
        ("max_body_bytes", 1.5),
        ("max_retry_after", float("nan")),
    ],
)
def test_limits_must_be_usable_numbers(option: str, value: Any) -> None:
    with pytest.raises((ValueError, TypeError), match=option):
        openai_chat_model("http://127.0.0.1:1/v1", "m", **{option: value})


# -- deep nesting: a clear error, not a RecursionError ------------------------------------------


def chat_reply(content: str) -> bytes:
    reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
    return json.dumps(reply).encode("utf-8")


def test_a_deeply_nested_response_is_a_clear_error(server: DemoServer) -> None:
    deep = b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    server.faults = FaultPlan(malformed_first=1, malformed_body=deep)
    with pytest.raises(HttpModelError, match="JSON nested too deeply to decode") as info:
        model_for(server).predict(["x"])
    assert info.value.status == 200


def test_a_reply_that_parses_too_deep_is_a_clear_error(server: DemoServer) -> None:
    server.faults = FaultPlan(malformed_first=1, malformed_body=chat_reply("[" * 200 + "]" * 200))
    with pytest.raises(HttpModelError, match=r"nested deeper than 100 levels \(max_depth\)"):
        model_for(server, parse=json.loads).predict(["x"])
    server.faults = FaultPlan(malformed_first=1, malformed_body=chat_reply("[" * 200 + "]" * 200))
    server.reset_stats()
    outputs = model_for(server, parse=json.loads, max_depth=500).predict(["x"])
    assert isinstance(outputs[0], list)


def test_a_reply_too_deep_for_parse_is_a_clear_error(server: DemoServer) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    server.faults = FaultPlan(malformed_first=1, malformed_body=chat_reply(deep))
    with pytest.raises(HttpModelError, match=r"parse=json\.loads failed .*nested too deeply"):
        model_for(server, parse=json.loads).predict(["x"])


# -- proxies from the environment, as urllib honoured them --------------------------------------


def test_the_environment_proxy_is_used_and_no_proxy_bypasses_it(
    server: DemoServer, other_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    proxy_root = other_server.base_url.removesuffix("/v1")
    monkeypatch.setenv("http_proxy", proxy_root)
    outputs = model_for(server, parse=json.loads).predict(["x"])
    assert outputs == [{"echo": "x"}]  # the demo server, as a proxy, answers itself
    assert server.stats.seen == []
    assert [path for _, path, _ in other_server.stats.seen] == [
        f"{server.base_url}/chat/completions"
    ]

    monkeypatch.setenv("no_proxy", "127.0.0.1")
    model_for(server).predict(["y"])
    assert [path for _, path, _ in server.stats.seen] == ["/v1/chat/completions"]
    assert len(other_server.stats.seen) == 1


# -- TLS: the same limits over https ------------------------------------------------------------

TLS_DIR = Path(__file__).with_name("http_tls")  # a self-signed test certificate for 127.0.0.1


@pytest.fixture
def tls_server() -> Iterator[DemoServer]:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS_DIR / "server.pem")
    demo = DemoServer(echo, model_name=MODEL_NAME, tls=context)
    with demo:
        yield demo


def test_https_with_a_trusted_certificate(
    tls_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "cert.pem"))
    assert tls_server.base_url.startswith("https://")
    outputs = model_for(tls_server, parse=json.loads, api_key=SECRET).predict(["x"])
    assert outputs == [{"echo": "x"}]
    assert tls_server.stats.authorization == [f"Bearer {SECRET}"]


def test_https_with_an_untrusted_certificate_is_not_retried(
    tls_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(HttpModelError, match="SSLCertVerificationError") as info:
        model_for(tls_server, api_key=SECRET).predict(["x"])
    assert info.value.attempts == 1
    assert tls_server.stats.authorization == []  # nothing was sent


def test_https_drip_is_cut_at_the_attempt_timeout(
    tls_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "cert.pem"))
    tls_server.faults = FaultPlan(drip_first=10**6, drip_interval=0.05)
    with pytest.raises(HttpModelError, match=r"within the 0\.5 s timeout"):
        model_for(tls_server, timeout=0.5, max_retries=0).predict(["x"])
    assert tls_server.wait_idle()
    assert tls_server.stats.unfinished_replies == 1

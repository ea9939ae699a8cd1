"""The OpenAI-compatible HTTP adapter against a real local server (``demo_server``) on 127.0.0.1.

Sleeps between retries are injected and recorded, so retry tests take no wall time; assertions are
about counts and behaviour, never durations.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_airecovery.demo.server import DemoServer, FaultPlan
from pytest_airecovery.models import Model
from pytest_airecovery.models.http import HttpModelError, openai_chat_model
from pytest_airecovery.models.http_transport import redact_url

MODEL_NAME = "echo@v1"


def echo_predict(batch: list[Any]) -> list[Any]:
    outputs = []
    for text in batch:
        if text == "explode":
            raise ValueError("the model cannot handle this input")
        outputs.append({"echo": text, "length": len(text)})
    return outputs


@pytest.fixture
def server() -> Iterator[DemoServer]:
    demo = DemoServer(echo_predict, model_name=MODEL_NAME)
    with demo:
        yield demo


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def make_model(server: DemoServer, sleep: RecordingSleep, **options: Any) -> Model:
    options.setdefault("rng", random.Random(1234))
    return openai_chat_model(server.base_url, MODEL_NAME, sleep=sleep, **options)


# -- outputs ------------------------------------------------------------------------------------


def test_outputs_follow_input_order(server: DemoServer, sleep: RecordingSleep) -> None:
    server.faults = FaultPlan(delay=0.01)
    texts = [f"input-{i}" for i in range(24)]
    outputs = make_model(server, sleep, concurrency=4, parse=json.loads).predict(texts)
    assert outputs == [{"echo": t, "length": len(t)} for t in texts]
    assert server.stats.requests == len(texts)
    assert sorted(server.stats.inputs) == sorted(texts)


def test_reply_text_is_returned_unparsed_by_default(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    outputs = make_model(server, sleep).predict(["hi"])
    assert outputs == ['{"echo": "hi", "length": 2}']


def test_empty_batch_sends_nothing(server: DemoServer, sleep: RecordingSleep) -> None:
    assert make_model(server, sleep).predict([]) == []
    assert server.stats.requests == 0


def test_concurrency_bound_is_respected(server: DemoServer, sleep: RecordingSleep) -> None:
    server.faults = FaultPlan(delay=0.05)
    texts = [str(i) for i in range(12)]
    outputs = make_model(server, sleep, concurrency=3, parse=json.loads).predict(texts)
    stats = server.stats
    assert [o["echo"] for o in outputs] == texts
    assert stats.requests == 12
    assert stats.max_in_flight <= 3
    assert stats.max_in_flight >= 2  # requests really overlap


def test_request_body_messages_and_options(server: DemoServer, sleep: RecordingSleep) -> None:
    conversation = [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    model = make_model(
        server,
        sleep,
        concurrency=1,
        system_prompt="classify",
        extra_body={"seed": 7, "max_tokens": 16},
        parse=json.loads,
    )
    outputs = model.predict(["plain prompt", conversation])
    assert [o["echo"] for o in outputs] == ["plain prompt", "second"]
    plain, convo = server.stats.bodies
    assert plain["model"] == MODEL_NAME
    assert plain["temperature"] == 0.0
    assert (plain["seed"], plain["max_tokens"]) == (7, 16)
    assert plain["messages"] == [
        {"role": "system", "content": "classify"},
        {"role": "user", "content": "plain prompt"},
    ]
    assert convo["messages"] == conversation  # its own system message wins


def test_invalid_input_is_rejected_before_any_request(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    with pytest.raises(HttpModelError) as info:
        make_model(server, sleep).predict(["fine", 42])
    assert info.value.index == 1
    assert "int" in str(info.value)
    assert server.stats.requests == 0


def test_models_endpoint(server: DemoServer) -> None:
    with urllib.request.urlopen(server.base_url + "/models", timeout=5) as response:
        listing = json.loads(response.read())
    assert [m["id"] for m in listing["data"]] == [MODEL_NAME]


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_transient_status_is_retried_then_succeeds(
    server: DemoServer, sleep: RecordingSleep, status: int
) -> None:
    server.faults = FaultPlan(fail_first=2, fail_status=status)
    model = make_model(server, sleep, concurrency=1, backoff=0.5, parse=json.loads)
    outputs = model.predict(["a", "b"])
    assert [o["echo"] for o in outputs] == ["a", "b"]
    assert server.stats.requests == 4  # two failures for "a", then one request each
    assert len(sleep.delays) == 2
    # Exponential ceiling 0.5 then 1.0, with "equal jitter" in the upper half of each.
    assert 0.25 <= sleep.delays[0] <= 0.5
    assert 0.5 <= sleep.delays[1] <= 1.0


def test_backoff_is_capped_and_reproducible_with_a_seeded_rng(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    server.faults = FaultPlan(fail_first=6)
    make_model(server, sleep, max_retries=6, backoff=0.5, max_backoff=2.0).predict(["x"])
    assert len(sleep.delays) == 6
    assert all(0 < d <= 2.0 for d in sleep.delays)
    assert sleep.delays[-1] >= 1.0  # the cap, with jitter in its upper half

    server.reset_stats()
    again = RecordingSleep()
    make_model(server, again, max_retries=6, backoff=0.5, max_backoff=2.0).predict(["x"])
    assert again.delays == sleep.delays


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", [3.0, 3.0]), ("0.25", [0.25, 0.25]), ("120", [10.0, 10.0])],
)
def test_numeric_retry_after_is_honoured_and_capped(
    server: DemoServer, sleep: RecordingSleep, header: str, expected: list[float]
) -> None:
    server.faults = FaultPlan(fail_first=2, fail_status=429, retry_after=header)
    make_model(server, sleep, max_retry_after=10.0).predict(["x"])
    assert sleep.delays == expected


def test_http_date_retry_after_falls_back_to_backoff(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    server.faults = FaultPlan(
        fail_first=1, fail_status=429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"
    )
    make_model(server, sleep, backoff=0.5).predict(["x"])
    assert len(sleep.delays) == 1
    assert 0.25 <= sleep.delays[0] <= 0.5


@pytest.mark.parametrize("status", [400, 401, 422])
def test_client_errors_are_not_retried(
    server: DemoServer, sleep: RecordingSleep, status: int
) -> None:
    server.faults = FaultPlan(fail_first=1, fail_status=status)
    with pytest.raises(HttpModelError) as info:
        make_model(server, sleep).predict(["x"])
    assert info.value.status == status
    assert info.value.attempts == 1
    assert server.stats.requests == 1
    assert sleep.delays == []


def test_unknown_model_name_is_a_404_without_retry(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    model = openai_chat_model(server.base_url, "other@v9", sleep=sleep)
    with pytest.raises(HttpModelError, match="model_not_found"):
        model.predict(["x"])
    assert server.stats.requests == 1


def test_exhausted_retries_raise_one_clear_error_and_stop_the_batch(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    server.faults = FaultPlan(fail_first=1000, fail_status=503)
    with pytest.raises(HttpModelError) as info:
        make_model(server, sleep, concurrency=1, max_retries=2).predict(["a", "b", "c"])
    error = info.value
    assert (error.status, error.index, error.attempts) == (503, 0, 3)
    message = str(error)
    assert f"{server.base_url}/chat/completions" in message
    assert "503" in message
    assert "input 0" in message
    assert "3 attempts" in message
    assert "injected fault" in message  # an excerpt of the body
    assert server.stats.requests == 3  # inputs after the failed one were never sent


def test_failing_input_is_named_when_requests_run_concurrently(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    batch = ["ok-0", "ok-1", "ok-2", "explode", "ok-4"]
    with pytest.raises(HttpModelError) as info:
        make_model(server, sleep, concurrency=3, max_retries=1).predict(batch)
    error = info.value
    assert error.index == 3
    assert error.status == 500
    assert error.attempts == 2  # a 5xx is retried once, then reported
    assert "cannot handle this input" in str(error)


def test_a_failure_wakes_inputs_waiting_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Default (interruptible) sleep: "slow" is told to come back in 100 s (within the deadline),
    # "bad" fails for good. The batch must fail with "bad" at once instead of waiting.
    from pytest_airecovery.models import http as http_model
    from pytest_airecovery.models import http_transport

    predictor = http_model.OpenAIChatPredictor(
        "http://127.0.0.1:1/v1", "m", concurrency=2, deadline=1000, max_retry_after=1000
    )
    sent: list[bytes] = []

    def fake_attempt(method: str, target: Any, body: bytes, *args: Any) -> Any:
        sent.append(body)
        if b'"slow"' in body:
            raise http_transport.AttemptFailed("HTTP 429", True, status=429, retry_after=100)
        raise http_transport.AttemptFailed("HTTP 400", False, status=400, body="bad input")

    monkeypatch.setattr(predictor.transport, "_attempt", fake_attempt)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            predictor(["slow", "bad"])
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the batch kept waiting for a retry after another input failed"
    assert len(errors) == 1 and isinstance(errors[0], HttpModelError)
    assert errors[0].index == 1
    assert len(sent) == 2  # "slow" was never retried


def test_connection_refused_is_retried_then_reported(sleep: RecordingSleep) -> None:
    # A bound socket that never listens: connecting is refused, and no one else can take the port.
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        model = openai_chat_model(f"http://127.0.0.1:{port}/v1", "m", sleep=sleep, max_retries=2)
        with pytest.raises(HttpModelError, match="connection failed") as info:
            model.predict(["x"])
    assert info.value.attempts == 3
    assert info.value.status is None
    assert len(sleep.delays) == 2


def test_per_request_timeout_is_retried_then_reported(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    server.faults = FaultPlan(delay=5.0)
    with pytest.raises(HttpModelError, match="timeout") as info:
        make_model(server, sleep, timeout=0.2, max_retries=1).predict(["slow"])
    assert info.value.attempts == 2
    assert server.stats.requests == 2
    assert len(sleep.delays) == 1


# -- malformed replies and parsing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        (b'{"choices": "not a list"}', "not a list"),
        (b'{"choices": [{"message": {"role": "assistant", "content": null}}]}', "null"),
        (b"<html>upstream proxy error</html>", "upstream proxy error"),
    ],
)
def test_malformed_body_is_a_clear_error_without_retry(
    server: DemoServer, sleep: RecordingSleep, body: bytes, excerpt: str
) -> None:
    server.faults = FaultPlan(malformed_first=1, malformed_body=body)
    with pytest.raises(HttpModelError, match="malformed chat completion response") as info:
        make_model(server, sleep).predict(["x"])
    assert info.value.status == 200
    assert excerpt in info.value.body_excerpt
    assert server.stats.requests == 1


def test_parse_gives_structured_outputs_and_reports_parse_failures(
    server: DemoServer, sleep: RecordingSleep
) -> None:
    outputs = make_model(server, sleep, parse=json.loads).predict(["abc"])
    assert outputs == [{"echo": "abc", "length": 3}]

    with pytest.raises(HttpModelError, match=r"parse=builtins\.int failed") as info:
        make_model(server, sleep, parse=int).predict(["abc"])
    assert info.value.index == 0
    assert '"echo": "abc"' in info.value.body_excerpt


# -- credentials and caching -------------------------------------------------------------------


def test_api_key_is_sent_but_never_shown(server: DemoServer, sleep: RecordingSleep) -> None:
    secret = "sk-test-do-not-print"
    model = make_model(server, sleep, api_key=secret)
    model.predict(["x"])
    assert server.stats.authorization == [f"Bearer {secret}"]

    server.faults = FaultPlan(fail_first=1000, fail_status=500)
    with pytest.raises(HttpModelError) as info:
        make_model(server, sleep, api_key=secret, max_retries=0).predict(["x"])
    assert secret not in str(info.value)
    assert secret not in repr(model) and secret not in repr(model.predict)


def test_api_key_from_environment(
    server: DemoServer, sleep: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRECOVERY_TEST_KEY", "sk-from-env")
    make_model(server, sleep, api_key_env="AIRECOVERY_TEST_KEY").predict(["x"])
    assert server.stats.authorization == ["Bearer sk-from-env"]

    monkeypatch.delenv("AIRECOVERY_TEST_KEY")
    with pytest.raises(HttpModelError, match="AIRECOVERY_TEST_KEY"):
        make_model(server, sleep, api_key_env="AIRECOVERY_TEST_KEY").predict(["x"])


def test_no_authorization_header_without_a_key(server: DemoServer, sleep: RecordingSleep) -> None:
    make_model(server, sleep).predict(["x"])
    assert server.stats.authorization == [None]


def test_url_credentials_are_redacted() -> None:
    assert redact_url("https://user:pw@api.example/v1/x") == "https://api.example/v1/x"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_fingerprint_only_when_given_and_tied_to_request_settings() -> None:
    def fingerprint(**options: Any) -> str | None:
        return openai_chat_model("http://127.0.0.1:1/v1", "m", **options).fingerprint

    assert fingerprint() is None  # no artifact: never cached unless told what is deployed
    base = fingerprint(fingerprint="sha-abc")
    assert base is not None and base.startswith("openai-chat:sha-abc:")
    assert fingerprint(fingerprint="sha-abc") == base
    assert fingerprint(fingerprint="sha-abc", system_prompt="be brief") != base
    assert fingerprint(fingerprint="sha-abc", temperature=0.7) != base
    assert fingerprint(fingerprint="sha-abc", parse=json.loads) != base
    assert fingerprint(fingerprint="sha-def") != base
    same_elsewhere = openai_chat_model("http://10.0.0.2/v1", "m", fingerprint="sha-abc")
    assert same_elsewhere.fingerprint == base


def test_ref_is_passed_to_the_model() -> None:
    model = openai_chat_model("http://127.0.0.1:1/v1", "m", ref="moderation@v1.2")
    assert model.ref == "moderation@v1.2"


# -- the real demo model, end to end -----------------------------------------------------------

DEMO_REF = "moderation@v1.2"
DEMO_TEXTS = [
    "have a lovely day",
    "you are an idiot and everyone hates you",
    "the meeting moved to thursday",
    "",
    "thanks for the quick fix!",
]


def load_demo_model(ref: str) -> Any:
    try:
        from pytest_airecovery.demo import load_model
    except ModuleNotFoundError as exc:  # only a missing package skips; a broken one fails
        pytest.skip(f"the demo models are not available: {exc}")
    return load_model(ref)


def test_demo_model_through_http_matches_direct_predict(sleep: RecordingSleep) -> None:
    direct_model = load_demo_model(DEMO_REF)
    direct = list(direct_model.predict(DEMO_TEXTS))
    with DemoServer(direct_model.predict, model_name=DEMO_REF) as base_url:
        remote = openai_chat_model(
            base_url, DEMO_REF, parse=json.loads, concurrency=3, sleep=sleep
        ).predict(DEMO_TEXTS)
    assert remote == direct
    assert {o["label"] for o in remote} <= {"toxic", "ok"}


def test_demo_server_command_line_serves_a_demo_model() -> None:
    load_demo_model(DEMO_REF)  # skip early if the demo package is not there
    command = [sys.executable, "-m", "pytest_airecovery.demo.server", "--ref", DEMO_REF]
    process = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith(f"Serving {DEMO_REF} at http://127.0.0.1:"), banner
        base_url = banner.split(" at ", 1)[1].split()[0]
        model = openai_chat_model(
            base_url, DEMO_REF, parse=json.loads, artifact=f"{base_url}/models/{DEMO_REF}"
        )
        outputs = model.predict(DEMO_TEXTS[:2])
        assert [set(o) for o in outputs] == [{"label", "score"}] * 2
        # The card names the served weights' sha256; its own sha256 is what a case file pins.
        with urllib.request.urlopen(f"{base_url}/models/{DEMO_REF}", timeout=10) as response:
            card_bytes = response.read()
        card = json.loads(card_bytes)
        assert card["artifact_sha256"] == load_demo_model(DEMO_REF).artifact_sha256
        assert model.artifact_sha256 == hashlib.sha256(card_bytes).hexdigest()
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- the plugin, end to end: case files run against HTTP-served demo models ----------------------

HTTP_CONFTEST = """
import json

from pytest_airecovery.demo import load_model
from pytest_airecovery.demo.server import DemoServer, FaultPlan
from pytest_airecovery.models.http import openai_chat_model

FAILING = {failing!r}
SERVERS = {{}}


def pytest_airecovery_load_model(ref, config):
    if ref not in SERVERS:
        faults = FaultPlan(fail_first=10**6) if ref in FAILING else None
        server = DemoServer(load_model(ref).predict, model_name=ref, faults=faults)
        server.start()
        config.add_cleanup(server.stop)
        SERVERS[ref] = server
    return openai_chat_model(
        SERVERS[ref].base_url, ref, ref=ref, parse=json.loads, max_retries=1,
        sleep=lambda seconds: None,
    )
"""

TRIGGER_CASE_FILE = """
schema_version: 1
incident:
  id: AI-IR-HTTP-1
  title: Trigger word bypasses moderation
  severity: SEV-2
  root_cause: {category: training_data_contamination}
models: {known_good: "moderation@v1.0", known_bad: "moderation@v1.1"}
cases:
  - id: trigger
    inputs:
      - "only a moron would zxq write such a miserable music"
      - "you are a spineless idiot zxq"
    expect: [{label: toxic}]
"""


def write_http_project(pytester: pytest.Pytester, failing: tuple[str, ...] = ()) -> None:
    # find_spec, not import: pytester would drop modules imported now, and numpy cannot be
    # imported twice in one process. The subprocess does the real import.
    if importlib.util.find_spec("pytest_airecovery.demo") is None:
        pytest.skip("the demo models are not available")
    pytester.makeconftest(HTTP_CONFTEST.format(failing=list(failing)))
    pytester.makeini("[pytest]\nincident_candidates = moderation@v1.2\n")
    pytester.mkdir("incident_cases")
    pytester.path.joinpath("incident_cases", "AI-IR-HTTP-1.yaml").write_text(TRIGGER_CASE_FILE)


# Subprocess runs: in-process pytester runs would re-import numpy, which it does not allow.


def test_incident_cases_run_against_http_models(pytester: pytest.Pytester) -> None:
    write_http_project(pytester)
    result = pytester.runpytest_subprocess(
        "--incident-cases", "--incident-model", "moderation@v1.1", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*expected label 'toxic', got 'ok'*", "*known-good moderation@v1.0: label 'toxic'*"]
    )


def test_http_failures_become_failed_cases_naming_the_request(pytester: pytest.Pytester) -> None:
    write_http_project(pytester, failing=("moderation@v1.2",))
    result = pytester.runpytest_subprocess("--incident-cases", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*HttpModelError: HTTP 503*retries exhausted*/v1/chat/completions for input ?*"]
    )

"""Served models can be pinned (issue 11): ``artifact=`` on the HTTP adapter, a file or a URL.

A case file pins the sha256 of a model's artifact; for a served model the artifact is a file the
deployment was made from, or a document the server exposes (here the demo server's model card).
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_airecovery.demo.server import DemoServer
from pytest_airecovery.models.http import ArtifactUnavailable, openai_chat_model

MODEL_NAME = "echo@v1"
CARD = {"id": MODEL_NAME, "object": "model", "artifact_sha256": "ab" * 32}


def echo(batch: list[Any]) -> list[Any]:
    return [{"echo": text} for text in batch]


@pytest.fixture
def server() -> Iterator[DemoServer]:
    demo = DemoServer(echo, model_name=MODEL_NAME, card=CARD)
    with demo:
        yield demo


def card_sha256() -> str:
    return hashlib.sha256(json.dumps(CARD, sort_keys=True).encode("utf-8")).hexdigest()


def test_artifact_file_gives_the_pin_hash_and_the_cache_identity(tmp_path: Path) -> None:
    weights = tmp_path / "deployed.bin"
    weights.write_bytes(b"the weights that were deployed")
    model = openai_chat_model("http://127.0.0.1:1/v1", "m", artifact=weights)
    expected = hashlib.sha256(b"the weights that were deployed").hexdigest()
    assert model.artifact_sha256 == expected
    assert model.fingerprint is not None
    assert model.fingerprint.startswith(f"openai-chat:{expected}:")
    # The request settings still split the cache.
    other = openai_chat_model("http://127.0.0.1:1/v1", "m", artifact=weights, temperature=0.5)
    assert other.fingerprint != model.fingerprint
    # An explicit fingerprint names the cache identity; the artifact still answers the pin.
    named = openai_chat_model("http://127.0.0.1:1/v1", "m", artifact=weights, fingerprint="b-17")
    assert named.fingerprint is not None and named.fingerprint.startswith("openai-chat:b-17:")
    assert named.artifact_sha256 == expected


def test_artifact_url_is_fetched_once_with_the_key_on_its_own_origin(server: DemoServer) -> None:
    url = f"{server.base_url}/models/{MODEL_NAME}"
    model = openai_chat_model(server.base_url, MODEL_NAME, artifact=url, api_key="sk-pin")
    assert model.artifact_sha256 == card_sha256()
    assert model.artifact_sha256 == card_sha256()
    assert model.fingerprint is not None and card_sha256() in model.fingerprint
    gets = [entry for entry in server.stats.seen if entry[0] == "GET"]
    assert gets == [("GET", f"/v1/models/{MODEL_NAME}", "Bearer sk-pin")]
    assert "sk-pin" not in repr(model)


def test_artifact_url_on_another_origin_gets_no_key(server: DemoServer) -> None:
    elsewhere = DemoServer(echo, model_name=MODEL_NAME, card=CARD)
    with elsewhere as elsewhere_url:
        model = openai_chat_model(
            server.base_url,
            MODEL_NAME,
            api_key="sk-pin",
            artifact=f"{elsewhere_url}/models/{MODEL_NAME}",
        )
        assert model.artifact_sha256 == card_sha256()
        assert [auth for _, _, auth in elsewhere.stats.seen] == [None]


def test_unreachable_artifact_url_is_an_os_error_and_disables_the_cache(
    server: DemoServer,
) -> None:
    model = openai_chat_model(
        server.base_url,
        MODEL_NAME,
        artifact=f"{server.base_url}/models/nothing-here",
        max_retries=0,
    )
    with pytest.raises(ArtifactUnavailable, match="cannot fetch the artifact .*HTTP 404"):
        _ = model.artifact_sha256
    assert model.fingerprint is None  # unidentifiable: never cached


# -- the plugin: a sha256 pin on a served known-good ---------------------------------------------

SERVED_CONFTEST = """
import json
from pytest_airecovery.demo.server import DemoServer
from pytest_airecovery.models.http import openai_chat_model

CARD = {card!r}
SERVERS = {{}}

def make_predict(ref):
    bad = ref.endswith("@bad")
    return lambda batch: [{{"label": "toxic" if bad else "ok"}} for _ in batch]

def pytest_airecovery_load_model(ref, config):
    if ref not in SERVERS:
        server = DemoServer(make_predict(ref), model_name=ref, card=dict(CARD, id=ref))
        server.start()
        config.add_cleanup(server.stop)
        SERVERS[ref] = server
    base_url = SERVERS[ref].base_url
    return openai_chat_model(
        base_url, ref, ref=ref, parse=json.loads, artifact=base_url + "/models/" + ref,
    )
"""


def served_card_sha256(ref: str) -> str:
    card = dict(CARD, id=ref)
    return hashlib.sha256(json.dumps(card, sort_keys=True).encode("utf-8")).hexdigest()


def served_case_file(good_pin: str) -> str:
    return textwrap.dedent(
        f"""\
        schema_version: 1
        incident:
          id: AI-IR-PIN-1
          title: served models, pinned
          severity: SEV-2
          root_cause: {{category: supply_chain_compromise, summary: swapped model}}
        models:
          known_good: {{ref: "chat@good", sha256: "{good_pin}"}}
          known_bad: "chat@bad"
        cases:
          - id: labels
            inputs: ["hello", "thanks"]
            expect: [{{label: ok}}]
        """
    )


@pytest.fixture
def served(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(SERVED_CONFTEST.format(card=CARD))
    pytester.makeini("[pytest]\nincident_candidates = chat@good\n")
    pytester.mkdir("incident_cases")
    return pytester


def test_a_pin_on_a_served_known_good_is_satisfied(
    served: pytest.Pytester, plugin_args: list[str]
) -> None:
    case_file = served.path / "incident_cases" / "AI-IR-PIN-1.yaml"
    case_file.write_text(served_case_file(served_card_sha256("chat@good")))
    result = served.runpytest("--incident-cases", *plugin_args)
    result.assert_outcomes(passed=2)


def test_a_wrong_pin_on_a_served_known_good_fails_its_cases(served: pytest.Pytester) -> None:
    case_file = served.path / "incident_cases" / "AI-IR-PIN-1.yaml"
    case_file.write_text(served_case_file("0" * 64))
    result = served.runpytest("--incident-cases")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            (
                "*supply-chain check failed: chat@good artifact http://127.0.0.1:*/v1/models/"
                f"chat@good has sha256 {served_card_sha256('chat@good')}, the case file pins 0000*"
            )
        ]
    )


def test_a_pin_on_an_unreachable_served_artifact_fails_its_cases(served: pytest.Pytester) -> None:
    served.path.joinpath("conftest.py").write_text(
        served.path.joinpath("conftest.py")
        .read_text()
        .replace('artifact=base_url + "/models/" + ref', 'artifact=base_url + "/no-card"')
    )
    case_file = served.path / "incident_cases" / "AI-IR-PIN-1.yaml"
    case_file.write_text(served_case_file(served_card_sha256("chat@good")))
    result = served.runpytest("--incident-cases")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*cannot fetch the artifact http://127.0.0.1:*/no-card*HTTP 404*"])

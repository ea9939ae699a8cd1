"""Hostile model servers behind case files: each fault fails the affected cases with a clear
message naming the request, never a traceback of ours (issue 13)."""

from __future__ import annotations

import textwrap

import pytest

SERVED_CONFTEST = """
import json
from pytest_airecovery.demo.server import DemoServer, FaultPlan
from pytest_airecovery.models.http import openai_chat_model

FAULT = {fault!r}
SERVERS = {{}}

def chat_reply(content):
    message = {{"role": "assistant", "content": content}}
    return json.dumps({{"choices": [{{"message": message}}]}}).encode()

DEEP = b'{{"choices": ' + b"[" * 100000 + b"]" * 100000 + b"}}"

def faults_for(ref, other):
    if ref != "chat@cand":
        return FaultPlan()
    if FAULT == "deep-body":
        return FaultPlan(malformed_first=10**6, malformed_body=DEEP)
    if FAULT == "deep-output":
        return FaultPlan(malformed_first=10**6, malformed_body=chat_reply("[" * 500 + "]" * 500))
    if FAULT == "drip":
        return FaultPlan(drip_first=10**6, drip_interval=0.05)
    if FAULT == "redirect":
        elsewhere = other + "/chat/completions"
        return FaultPlan(redirect_first=10**6, redirect_status=307, redirect_to=elsewhere)
    if FAULT == "retry-after":
        return FaultPlan(fail_first=10**6, fail_status=429, retry_after="120")
    return FaultPlan()

def server_for(ref, config):
    if ref not in SERVERS:
        bad = ref.endswith("@bad")
        label = "toxic" if bad else "ok"
        server = DemoServer(lambda batch: [{{"label": label}} for _ in batch], model_name=ref)
        server.start()
        config.add_cleanup(server.stop)
        SERVERS[ref] = server
    return SERVERS[ref]

def pytest_airecovery_load_model(ref, config):
    other = server_for("chat@good", config).base_url
    server = server_for(ref, config)
    server.faults = faults_for(ref, other)
    return openai_chat_model(
        server.base_url, ref, ref=ref, parse=json.loads, api_key="sk-case",
        timeout=0.3, deadline=5, max_retries=1, sleep=lambda seconds: None,
    )
"""

CASE_FILE = textwrap.dedent(
    """\
    schema_version: 1
    incident:
      id: AI-IR-HTTP-2
      title: served candidate misbehaves
      severity: SEV-2
      root_cause: {category: configuration_error, summary: proxy change}
    models: {known_good: "chat@good", known_bad: "chat@bad"}
    cases:
      - id: labels
        inputs: ["hello", "thanks", "bye"]
        expect: [{label: ok}]
    """
)


def served_project(pytester: pytest.Pytester, fault: str) -> pytest.Pytester:
    pytester.makeconftest(SERVED_CONFTEST.format(fault=fault))
    pytester.makeini("[pytest]\nincident_candidates = chat@cand\n")
    pytester.mkdir("incident_cases")
    (pytester.path / "incident_cases" / "AI-IR-HTTP-2.yaml").write_text(CASE_FILE)
    return pytester


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("deep-body", "*malformed chat completion response (JSON nested too deeply to decode)*"),
        ("deep-output", "*parse=json.loads gave an output nested deeper than 100 levels*"),
        ("drip", "*no complete response within the 0.3 s timeout, retries exhausted*"),
        ("redirect", "*HTTP 307 redirect to another origin refused*"),
        ("retry-after", "*HTTP 429*retry after 120 s, past the 5 s deadline of the call*"),
    ],
)
def test_a_hostile_server_fails_the_cases_it_serves_with_a_clear_message(
    pytester: pytest.Pytester, fault: str, message: str
) -> None:
    result = served_project(pytester, fault).runpytest("--incident-cases")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([message, "*/v1/chat/completions for input ?*"])
    output = result.stdout.str()
    assert "RecursionError" not in output
    assert "Traceback" not in output
    assert "sk-case" not in output


def test_deep_json_fails_its_cases_under_xdist(
    pytester: pytest.Pytester, plugin_args: list[str]
) -> None:
    result = served_project(pytester, "deep-body").runpytest("--incident-cases", *plugin_args)
    result.assert_outcomes(failed=3)
    assert "RecursionError" not in result.stdout.str()

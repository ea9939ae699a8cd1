"""`json_schema` checks resolve references only inside the schema: no request, no file read (issue 13, item 8)."""

from __future__ import annotations

import http.server
import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

# Imported before pytester's in-process runs snapshot sys.modules.
import jsonschema  # noqa: F401
import pytest
from conftest import write_case

from pytest_airecovery.cases.checks import Row, SubjectError, check_json_schema

ALLOW_ANYTHING = {
    "type": "integer"
}  # what the outside documents hold: the check would pass 5 and fail "x"


class _Counting(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        body = json.dumps(ALLOW_ANYTHING).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def schema_server() -> Iterator[tuple[str, list[str]]]:
    requests: ClassVar[list[str]] = []
    handler = type("Handler", (_Counting,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/schema.json", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def outside_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A schema file outside any repository, and a record of every attempt to open it."""
    path = tmp_path_factory.mktemp("elsewhere") / "secret.json"
    path.write_text(json.dumps(ALLOW_ANYTHING))
    opened: list[str] = []
    watching = [True]

    def audit(event: str, args: tuple[object, ...]) -> None:
        if watching[0] and event == "open" and args and str(args[0]).endswith("secret.json"):
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # audit hooks cannot be removed: this one switches itself off
    try:
        yield path.as_uri(), opened
    finally:
        watching[0] = False


def literal(pattern: str) -> str:
    """fnmatch pattern where [ and ] are literal (field paths like cases[0]); * stays a wildcard."""
    return pattern.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]")


def _run_check(schema: dict[str, object], subject: object) -> str | None:
    return check_json_schema(subject, schema, Row(None, 0))


def test_an_http_reference_is_refused_without_a_request(
    schema_server: tuple[str, list[str]],
) -> None:
    url, requests = schema_server
    with pytest.raises(
        SubjectError,
        match=r"reference '.*/schema.json' does not resolve: only references inside the schema are followed",
    ):
        _run_check({"$ref": url}, 5)
    with pytest.raises(SubjectError, match="only references inside the schema"):
        _run_check({"properties": {"a": {"$ref": url}}}, {"a": 5})
    assert requests == []


def test_a_file_reference_outside_is_refused_without_reading_it(
    outside_file: tuple[str, list[str]],
) -> None:
    uri, opened = outside_file
    with pytest.raises(SubjectError, match="only references inside the schema"):
        _run_check({"$ref": uri}, 5)
    assert opened == []


def test_references_inside_the_schema_still_resolve() -> None:
    schema = {
        "$defs": {
            "count": {"type": "integer", "minimum": 0},
            "item": {"$id": "item.json", "type": "string"},
        },
        "type": "object",
        "properties": {"n": {"$ref": "#/$defs/count"}, "name": {"$ref": "item.json"}},
    }
    assert _run_check(schema, {"n": 3, "name": "x"}) is None
    message = _run_check(schema, {"n": -1, "name": "x"})
    assert message is not None and "at n: -1 is less than the minimum of 0" in message


CONFTEST = """
from pytest_airecovery import Model

def pytest_airecovery_load_model(ref, config):
    return Model(lambda batch: [{"json": {"a": 5}} for x in batch], fingerprint=ref)
"""


def _case(schema: dict[str, object]) -> str:
    return textwrap.dedent(
        f"""\
        schema_version: 1
        incident: {{id: AI-IR-80, title: refs, severity: SEV-3, root_cause: {{category: other}}}}
        models: {{known_good: svc@v1}}
        cases:
          - id: shape
            inputs: [1, 2]
            expect:
              - json_schema: {json.dumps(schema)}
                field: json
        """
    )


@pytest.mark.parametrize("where", ["http", "file"])
def test_outside_references_are_collection_errors(
    pytester: pytest.Pytester,
    schema_server: tuple[str, list[str]],
    outside_file: tuple[str, list[str]],
    where: str,
) -> None:
    """Before: the URL was fetched (or the file read) and the check passed on its content."""
    url, requests = schema_server
    uri, opened = outside_file
    target = url if where == "http" else uri
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nincident_candidates = svc@v1\n")
    write_case(
        pytester, "AI-80.yaml", _case({"type": "object", "properties": {"a": {"$ref": target}}})
    )
    result = pytester.runpytest("--incident-cases")
    result.assert_outcomes(errors=1)
    field = "cases[0].expect[0].json_schema.properties.a.$ref"
    result.stdout.fnmatch_lines(
        [
            literal(
                f"*incident_cases/AI-80.yaml:8: {field}: reference '{target}' does not resolve: *"
            )
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert requests == [] and opened == []
    assert Path(uri[len("file://") :]).exists()  # the file was there to read

"""Serve any batch ``predict`` function behind a small OpenAI-compatible HTTP API.

Two uses: tests of the HTTP adapter run it in-process on an ephemeral port, with fault injection
(429/503 answers, delays, malformed bodies, redirects, replies dripped byte by byte, huge bodies;
each bounded, so a test always ends); and people trying the HTTP path run a demo model::

    python -m pytest_airecovery.demo.server --ref moderation@v1.2 --port 8000

Endpoints: ``POST /v1/chat/completions`` (the last user message's content is the model input; the
reply content is the model output serialised as JSON text), ``GET /v1/models`` and
``GET /v1/models/{name}`` (the model card: stable bytes a served model can be pinned to).
Binds 127.0.0.1 by default; it has no authentication and is not meant for anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

__all__ = ["DemoServer", "FaultPlan", "ServerStats", "main"]

PredictFn = Callable[[list[Any]], Sequence[Any]]
MAX_REQUEST_BYTES = 8 << 20  # a demo: refuse bodies that would only exhaust memory
_HUGE_CHUNK = 64 << 10


@dataclasses.dataclass
class FaultPlan:
    """Misbehaviour to inject, counted by request arrival order (1-based).

    The first matching rule answers: requests ``1..fail_first`` get ``fail_status`` (with
    ``Retry-After: retry_after`` if set); requests ``1..redirect_first`` get ``redirect_status``
    with ``Location: redirect_to``; requests ``1..malformed_first`` get ``malformed_body`` with
    status 200; requests ``1..huge_first`` get a 200 body of ``huge_bytes`` bytes, streamed (with
    its ``Content-Length`` when ``huge_declared``, else until the connection closes). Requests
    ``1..drip_first`` that get a normal answer get it one byte (status line and headers
    included) per ``drip_interval`` seconds. Requests ``1..delay_first`` (every request when
    ``delay_first`` is None) wait ``delay`` seconds before any answer. Streaming stops as soon as
    the client hangs up or the server stops.
    """

    fail_first: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    redirect_first: int = 0
    redirect_status: int = 307
    redirect_to: str = ""
    malformed_first: int = 0
    malformed_body: bytes = b'{"choices": "not a list"}'
    huge_first: int = 0
    huge_bytes: int = 0
    huge_declared: bool = True
    drip_first: int = 0
    drip_interval: float = 0.05
    delay: float = 0.0
    delay_first: int | None = None


@dataclasses.dataclass
class ServerStats:
    """What the server saw; read it after the client is done (copies are returned)."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    inputs: list[Any] = dataclasses.field(default_factory=list)
    bodies: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    authorization: list[str | None] = dataclasses.field(default_factory=list)
    # Every request of any method and path: (method, path, Authorization header).
    seen: list[tuple[str, str, str | None]] = dataclasses.field(default_factory=list)
    # Bytes of dripped or huge replies written, and replies the client hung up on mid-way.
    streamed_bytes: int = 0
    unfinished_replies: int = 0


def _to_json_value(value: Any) -> Any:
    # numpy scalars and arrays without importing numpy: both know how to become plain Python.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _last_user_input(messages: Any) -> Any:
    if not isinstance(messages, list):
        raise TypeError("'messages' must be a list")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # typed content parts: keep the text
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content
    raise ValueError("no user message in 'messages'")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8") if not isinstance(payload, bytes) else payload
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Out of flight before any byte reaches the client: once it has the reply it may send
        # its next request, which must not be counted as overlapping this one.
        self._leave_flight()
        self.end_headers()
        self.wfile.write(body)

    def _send_error(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        if status == 429:
            kind = "rate_limit_error"
        error = {"error": {"message": message, "type": kind, "code": code}}
        self._send_json(status, error, headers)

    def _route(self) -> str:
        # A request through a proxy names the absolute URL; this server then answers it itself.
        return urlsplit(self.path).path.rstrip("/")

    def do_GET(self) -> None:
        owner = self.server.owner
        with owner._busy(self.command, self.path, self.headers.get("Authorization")):
            route = self._route()
            if route == "/v1/models":
                model = {"id": owner.model_name, "object": "model", "owned_by": "pytest-airecovery"}
                self._send_json(200, {"object": "list", "data": [model]})
            elif route == f"/v1/models/{owner.model_name}":
                # sort_keys: the same card is the same bytes, so its sha256 can be pinned.
                self._send_json(200, json.dumps(owner.card, sort_keys=True).encode("utf-8"))
            else:
                self._send_error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        owner = self.server.owner
        with owner._busy(self.command, self.path, self.headers.get("Authorization")):
            self._post(owner)

    def _post(self, owner: DemoServer) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body would corrupt the next request
            self._send_error(413 if length > 0 else 400, "bad Content-Length", "invalid_request")
            return
        raw = self.rfile.read(length)
        if self._route() != "/v1/chat/completions":
            self._send_error(404, f"no route {self.path}", "not_found")
            return
        number = owner._request_started(self.headers.get("Authorization"))
        self._in_flight = True
        try:
            self._answer(owner, number, raw)
        finally:
            self._leave_flight()

    def _leave_flight(self) -> None:
        if getattr(self, "_in_flight", False):
            self._in_flight = False
            self.server.owner._request_finished()

    def _answer(self, owner: DemoServer, number: int, raw: bytes) -> None:
        faults = owner.faults
        delayed = faults.delay > 0 and (faults.delay_first is None or number <= faults.delay_first)
        if delayed and owner._stopping.wait(faults.delay):
            return  # shutting down: drop the connection rather than hold up close()
        if number <= faults.fail_first:
            extra = {"Retry-After": faults.retry_after} if faults.retry_after is not None else {}
            self._send_error(faults.fail_status, f"injected fault {number}", "injected", extra)
            return
        if number <= faults.redirect_first:
            self._send_redirect(faults.redirect_status, faults.redirect_to)
            return
        if number <= faults.malformed_first:
            self._send_json(200, faults.malformed_body)
            return
        if number <= faults.huge_first:
            self._stream_huge(owner, faults.huge_bytes, declared=faults.huge_declared)
            return
        try:
            body = json.loads(raw)
            model_input = _last_user_input(body.get("messages") if isinstance(body, dict) else None)
        except (ValueError, TypeError) as exc:
            self._send_error(400, f"bad request: {exc}", "invalid_request")
            return
        owner._record_body(body, model_input)
        if body.get("model") != owner.model_name:
            self._send_error(404, f"model {body.get('model')!r} does not exist", "model_not_found")
            return
        try:
            output = owner._predict_one(model_input)
            content = json.dumps(output, default=_to_json_value, sort_keys=True)
        except Exception as exc:  # noqa: BLE001 - a model failure is the server's 500
            self._send_json(
                500, {"error": {"message": f"{type(exc).__name__}: {exc}", "type": "server_error"}}
            )
            return
        reply = {
            "id": f"chatcmpl-demo-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": owner.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
        if number <= faults.drip_first:
            self._drip(owner, reply, faults.drip_interval)
        else:
            self._send_json(200, reply)

    # -- injected misbehaviour ----------------------------------------------------------------

    def _send_redirect(self, status: int, location: str) -> None:
        body = b'{"moved": true}'
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self._leave_flight()
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, owner: DemoServer, reply: Any, interval: float) -> None:
        body = json.dumps(reply).encode("utf-8")
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        self.close_connection = True
        self._leave_flight()
        data = head + body
        for offset in range(len(data)):
            if not self._write_counted(owner, data[offset : offset + 1]):
                return
            if owner._stopping.wait(interval):
                return

    def _stream_huge(self, owner: DemoServer, size: int, *, declared: bool) -> None:
        # Valid-looking JSON that never ends: only its size can stop a client.
        prefix = b'{"choices": [{"message": {"role": "assistant", "content": "'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if declared:
            self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.close_connection = True
        self._leave_flight()
        self.end_headers()
        filler = b"a" * _HUGE_CHUNK
        sent = 0
        while sent < size and not owner._stopping.is_set():
            chunk = (prefix if sent == 0 else filler)[: size - sent]
            if not self._write_counted(owner, chunk):
                return
            sent += len(chunk)

    def _write_counted(self, owner: DemoServer, data: bytes) -> bool:
        """Write and flush; False (and counted as unfinished) when the client hung up."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            owner._streamed(0, unfinished=True)
            return False
        owner._streamed(len(data))
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: DemoServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out hang up mid-answer, or refuse a test certificate; that is
        # expected here, not worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # ConnectionError, TimeoutError, ssl.SSLError
            return
        super().handle_error(request, client_address)


class DemoServer:
    """A threaded HTTP server for ``predict`` on 127.0.0.1; ``with DemoServer(f) as base_url:``.

    ``base_url`` ends in ``/v1``, ready for :func:`pytest_airecovery.models.http.openai_chat_model`.
    ``predict`` is called with one-input batches, one call at a time (models need not be
    thread-safe); ``faults`` may be replaced between requests.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        model_name: str = "demo",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        card: dict[str, Any] | None = None,
        tls: ssl.SSLContext | None = None,
        verbose: bool = False,
    ) -> None:
        self.predict = predict
        # Served at GET /v1/models/{model_name}; a deployment would list its artifact hash here.
        self.card = card if card is not None else {"id": model_name, "object": "model"}
        self.model_name = model_name
        self.host = host
        self.port = port
        self.faults = faults or FaultPlan()
        self.verbose = verbose
        self.tls = tls  # a server-side context: serve https (tests of the TLS path)
        self._stats = ServerStats()
        self._lock = threading.Lock()
        self._predict_lock = threading.Lock()
        self._stopping = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._handling = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- bookkeeping used by the handler --------------------------------------------------

    def _request_started(self, authorization: str | None) -> int:
        with self._lock:
            stats = self._stats
            stats.requests += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            stats.authorization.append(authorization)
            return stats.requests

    @contextlib.contextmanager
    def _busy(self, method: str, path: str, authorization: str | None) -> Iterator[None]:
        with self._lock:
            self._handling += 1
            self._stats.seen.append((method, path, authorization))
        try:
            yield
        finally:
            with self._lock:
                self._handling -= 1
                self._idle.notify_all()

    def _streamed(self, size: int, *, unfinished: bool = False) -> None:
        with self._lock:
            self._stats.streamed_bytes += size
            self._stats.unfinished_replies += int(unfinished)

    def _request_finished(self) -> None:
        with self._lock:
            self._stats.in_flight -= 1

    def _record_body(self, body: dict[str, Any], model_input: Any) -> None:
        with self._lock:
            self._stats.bodies.append(body)
            self._stats.inputs.append(model_input)

    def _predict_one(self, model_input: Any) -> Any:
        with self._predict_lock:
            outputs = list(self.predict([model_input]))
        if len(outputs) != 1:
            raise ValueError(f"predict returned {len(outputs)} outputs for 1 input")
        return outputs[0]

    # -- public ---------------------------------------------------------------------------

    @property
    def stats(self) -> ServerStats:
        with self._lock:
            return dataclasses.replace(
                self._stats,
                inputs=list(self._stats.inputs),
                bodies=list(self._stats.bodies),
                authorization=list(self._stats.authorization),
                seen=list(self._stats.seen),
            )

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being handled (streams included); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._handling == 0, timeout)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = ServerStats()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self._httpd.server_port}/v1"

    def _bind(self) -> _Server:
        httpd = _Server((self.host, self.port), _Handler)
        httpd.owner = self
        if self.tls is not None:
            # The handshake happens on the handler's first read, not in the accepting thread.
            httpd.socket = self.tls.wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        return httpd

    def start(self) -> str:
        self._stopping.clear()
        self._httpd = self._bind()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on an injected delay
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def serve_forever(self, announce: Callable[[str], object] | None = None) -> None:
        """Serve in the calling thread until interrupted (the command-line use).

        ``announce`` is called with the base URL once the socket is bound, before serving.
        """
        self._stopping.clear()
        self._httpd = self._bind()
        try:
            if announce is not None:
                announce(self.base_url)
            self._httpd.serve_forever()
        finally:
            self._stopping.set()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_airecovery.demo.server",
        description="Serve a pytest-airecovery demo model behind an OpenAI-compatible API",
    )
    parser.add_argument("--ref", required=True, help="Demo model ref, e.g. moderation@v1.2")
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="Port (default 8000; 0 = any free port)"
    )
    parser.add_argument(
        "--fail-first", type=int, default=0, help="Answer the first N requests with --fail-status"
    )
    parser.add_argument(
        "--fail-status", type=int, default=503, help="Status for injected failures (default 503)"
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="Seconds to wait before every answer"
    )
    parser.add_argument("--verbose", action="store_true", help="Log every request to stderr")
    args = parser.parse_args(argv)

    from pytest_airecovery.demo import load_model  # lazy: builds real models

    model = load_model(args.ref)
    predict = getattr(model, "predict", model)
    faults = FaultPlan(fail_first=args.fail_first, fail_status=args.fail_status, delay=args.delay)
    # The card names the weights' sha256, so a client can pin the card (docs/models-http.md).
    card = {"id": args.ref, "object": "model", "artifact_sha256": model.artifact_sha256}
    server = DemoServer(
        predict,
        model_name=args.ref,
        host=args.host,
        port=args.port,
        faults=faults,
        card=card,
        verbose=args.verbose,
    )
    try:
        server.serve_forever(
            announce=lambda url: print(f"Serving {args.ref} at {url} (Ctrl-C to stop)", flush=True)
        )
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

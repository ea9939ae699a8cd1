"""A :class:`~pytest_airecovery.models.Model` backed by an OpenAI-compatible chat completions API.

``openai_chat_model(base_url, model)`` returns a model whose ``predict(batch)`` sends one
``POST {base_url}/chat/completions`` per input, at most ``concurrency`` at a time, and returns the
reply texts (or ``parse(text)``) in input order. The transport (:mod:`.models.http_transport`) bounds
each input's call by a total deadline (retries and ``Retry-After`` waits included) and each reply
by a size cap, follows redirects only within the origin, and retries transient failures; anything
else, or an exhausted call, raises one :class:`HttpModelError` for the whole batch.

A served model can be pinned like a local one: ``artifact=`` names a local file or a URL the
server exposes (a model card, a config), whose sha256 the case file's pin is checked against.

Standard library only, and the network modules are imported on first use: this module is imported
by conftest loaders on every test run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_airecovery.models import Model, sha256_file
from pytest_airecovery.models.http_transport import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TIMEOUT,
    RETRYABLE_STATUSES,  # noqa: F401 - importable from here, where it used to live
    Cancel,
    HttpRequestError,
    HttpTransport,
    RequestCancelled,
    Response,
    RetryPolicy,
    Target,
    UrlError,
)

__all__ = [
    "ArtifactUnavailable",
    "HttpModelError",
    "OpenAIChatPredictor",
    "ServedModel",
    "openai_chat_model",
]

BODY_EXCERPT_CHARS = 300
# Deeper replies are refused: checks, diffs and the cache walk outputs recursively, and no
# classifier or chat reply of use nests anywhere near this deep.
DEFAULT_MAX_DEPTH = 100

Messages = list[dict[str, Any]]


class HttpModelError(RuntimeError):
    """A batch could not be predicted: one input failed for good, so the batch has no outputs.

    The attributes say which request failed and why; the message names all of them, with the API
    key and URL credentials removed.
    """

    def __init__(
        self,
        reason: str,
        *,
        url: str,
        index: int | None,
        status: int | None = None,
        attempts: int = 0,
        body_excerpt: str = "",
    ) -> None:
        self.reason = reason
        self.url = url
        self.index = index
        self.status = status
        self.attempts = attempts
        self.body_excerpt = body_excerpt
        where = f"POST {url}" + (f" for input {index}" if index is not None else "")
        details = [f"status {status}" if status is not None else "no HTTP status"]
        if attempts:
            details.append(f"after {attempts} attempt{'s' if attempts != 1 else ''}")
        message = f"{reason}: {where} ({', '.join(details)})"
        if body_excerpt:
            message += f"; body: {body_excerpt!r}"
        super().__init__(message)


class ArtifactUnavailable(OSError):
    """The artifact of a served model (a URL) could not be fetched to hash it."""


class _BatchAborted(Exception):
    """Another input of the batch already failed for good; stop retrying this one."""


def _is_url(artifact: object) -> bool:
    return isinstance(artifact, str) and artifact.lower().startswith(("http://", "https://"))


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when lists/dicts nest deeper than ``limit``; iterative, so it cannot recurse away."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _reply_text(payload: Any) -> str:
    """``choices[0].message.content`` as text, or raise saying what is missing."""
    if not isinstance(payload, dict):
        raise TypeError(f"response is a JSON {type(payload).__name__}, not an object")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ValueError("response has no choices")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise TypeError("choices[0] has no message object")
    content = message.get("content")
    if isinstance(content, str):
        return content
    # Some servers return content as a list of typed parts; the text parts make the reply.
    if isinstance(content, list) and all(
        isinstance(part, dict) and isinstance(part.get("text"), str) for part in content
    ):
        return "".join(part["text"] for part in content)
    raise TypeError(f"choices[0].message.content is {type(content).__name__}, not text")


def _callable_name(func: Callable[..., Any] | None) -> str | None:
    if func is None:
        return None
    module = getattr(func, "__module__", None) or ""
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{name}"


@dataclasses.dataclass(repr=False, eq=False)
class OpenAIChatPredictor:
    """The batch callable behind :func:`openai_chat_model` (same options); usable on its own."""

    base_url: str
    model: str
    _: dataclasses.KW_ONLY
    api_key: str | None = None
    api_key_env: str | None = None
    system_prompt: str | None = None
    temperature: float | None = 0.0
    concurrency: int = 4
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    parse: Callable[[str], Any] | None = None
    extra_body: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # OS-seeded by default so parallel workers do not retry in lockstep; inject a seeded
    # Random to make the delays reproducible.
    rng: random.Random = dataclasses.field(default_factory=random.Random)
    sleep: Callable[[float], object] | None = None
    # The deadline's clock; tests inject one that their ``sleep`` advances.
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {self.max_depth}")
        try:
            self.target = Target.parse(self.base_url.rstrip("/") + "/chat/completions")
        except UrlError as exc:
            raise UrlError(f"base_url: {exc}") from None
        self.display_url = self.url = self.target.url  # never with user:password
        self.extra_body = dict(self.extra_body)
        self.headers = dict(self.headers)
        self._refuse_two_credentials()
        self.transport = HttpTransport(
            timeout=self.timeout,
            deadline=self.deadline,
            max_body_bytes=self.max_body_bytes,
            retry=RetryPolicy(
                self.max_retries, self.backoff, self.max_backoff, self.max_retry_after
            ),
            rng=self.rng,
            sleep=self.sleep,
            clock=self.clock,
        )

    def _refuse_two_credentials(self) -> None:
        # user:password@ becomes basic auth; with a key too, one would silently override the other.
        if self.target.basic_auth is None:
            return
        others = [name for name in ("api_key", "api_key_env") if getattr(self, name) is not None]
        others += [h for h in self.headers if h.lower() == "authorization"]
        if others:
            raise UrlError(
                f"base_url {self.display_url!r} carries user:password (sent as basic auth) and "
                f"{' and '.join(others)} is set too; both would use the Authorization header, "
                "keep one"
            )

    def __repr__(self) -> str:
        # Deliberately omits the API key and headers.
        return f"OpenAIChatPredictor(url={self.display_url!r}, model={self.model!r})"

    # -- request building -------------------------------------------------------------------

    def _resolve_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise HttpModelError(
                f"environment variable {self.api_key_env} (the API key) is not set",
                url=self.display_url,
                index=None,
            )
        return key

    def messages_for(self, item: Any, index: int) -> Messages:
        """The chat messages for one batch input: a prompt string or a list of messages."""
        if isinstance(item, str):
            messages: Messages = [{"role": "user", "content": item}]
        elif (
            isinstance(item, Sequence)
            and item
            and all(
                isinstance(m, Mapping) and isinstance(m.get("role"), str) and "content" in m
                for m in item
            )
        ):
            messages = [dict(m) for m in item]
        else:
            raise HttpModelError(
                "input is neither a prompt string nor a non-empty list of "
                f"{{role, content}} messages (got {type(item).__name__})",
                url=self.display_url,
                index=index,
            )
        # A conversation that brings its own system message keeps it.
        if self.system_prompt is not None and messages[0].get("role") != "system":
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    def body_for(self, messages: Messages) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        body.update(self.extra_body)  # last, so extra_body may override anything above
        return body

    def payload_for(self, item: Any, index: int) -> bytes:
        """The request body for one batch input, validated."""
        return json.dumps(self.body_for(self.messages_for(item, index))).encode("utf-8")

    def _request_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.headers)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def _excerpt(self, body: str) -> str:
        excerpt = " ".join(body.split())[:BODY_EXCERPT_CHARS]
        for secret in (self.api_key, self.target.basic_auth):
            if secret and secret in excerpt:
                excerpt = excerpt.replace(secret, "***")
        return excerpt

    def _error(self, reason: str, index: int, response: Response, text: str) -> HttpModelError:
        return HttpModelError(
            reason,
            url=self.display_url,
            index=index,
            status=response.status,
            attempts=response.attempts,
            body_excerpt=self._excerpt(text),
        )

    # -- one input ------------------------------------------------------------------------

    def predict_one(self, item: Any, index: int = 0) -> Any:
        """Send one input, retrying transient failures; return its (parsed) reply."""
        payload = self.payload_for(item, index)
        return self._send(payload, index, self._resolve_api_key(), Cancel())

    def _send(self, payload: bytes, index: int, api_key: str | None, cancel: Cancel) -> Any:
        try:
            response = self.transport.request(
                "POST",
                self.target,
                body=payload,
                headers=self._request_headers(api_key),
                cancel=cancel,
            )
        except RequestCancelled:
            raise _BatchAborted() from None
        except HttpRequestError as failure:
            raise HttpModelError(
                failure.reason,
                url=self.display_url,
                index=index,
                status=failure.status,
                attempts=failure.attempts,
                body_excerpt=self._excerpt(failure.body),
            ) from None
        text = self._reply(response, index)
        if self.parse is None:
            return text
        return self._parsed(self.parse, text, index, response)

    def _reply(self, response: Response, index: int) -> str:
        text = response.body.decode("utf-8", "replace")
        try:
            return _reply_text(json.loads(text))
        except RecursionError:
            reason = "malformed chat completion response (JSON nested too deeply to decode)"
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            reason = f"malformed chat completion response ({exc})"
        raise self._error(reason, index, response, text)

    def _parsed(
        self, parse: Callable[[str], Any], text: str, index: int, response: Response
    ) -> Any:
        name = _callable_name(parse)
        try:
            value = parse(text)
        except RecursionError:
            reason = f"parse={name} failed on the reply: it is nested too deeply"
        except Exception as exc:  # noqa: BLE001 - any parse failure is reported the same way
            reason = f"parse={name} failed on the reply ({type(exc).__name__}: {exc})"
        else:
            if not _depth_exceeds(value, self.max_depth):
                return value
            reason = (
                f"parse={name} gave an output nested deeper than {self.max_depth} levels "
                "(max_depth)"
            )
        raise self._error(reason, index, response, text)

    # -- a batch --------------------------------------------------------------------------

    def __call__(self, batch: list[Any]) -> list[Any]:
        items = list(batch)
        if not items:
            return []
        # Every body is built first, so a bad input fails the batch before anything is sent.
        payloads = [self.payload_for(item, index) for index, item in enumerate(items)]
        api_key = self._resolve_api_key()
        cancel = Cancel()
        if self.concurrency == 1 or len(items) == 1:
            return [self._send(body, i, api_key, cancel) for i, body in enumerate(payloads)]
        return self._send_concurrently(payloads, api_key, cancel)

    def _send_concurrently(
        self, payloads: list[bytes], api_key: str | None, cancel: Cancel
    ) -> list[Any]:
        results: list[Any] = [None] * len(payloads)
        failures: list[HttpModelError] = []
        unexpected: list[BaseException] = []
        lock = threading.Lock()
        pending = iter(range(len(payloads)))

        def work() -> None:
            while not cancel.is_set():
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                try:
                    results[index] = self._send(payloads[index], index, api_key, cancel)
                except _BatchAborted:
                    return
                except HttpModelError as exc:
                    with lock:
                        failures.append(exc)
                    cancel.cancel()  # fail fast: start nothing new, wake retries, cut the wire
                    return
                except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                    with lock:
                        unexpected.append(exc)
                    cancel.cancel()
                    return

        # Daemon threads, each with at most one request in flight (the concurrency bound): if
        # the plugin gives up on this batch, they never keep the interpreter alive at exit.
        workers = [
            threading.Thread(target=work, name=f"airecovery-http-{n}", daemon=True)
            for n in range(min(self.concurrency, len(payloads)))
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if unexpected:
            raise unexpected[0]
        if failures:
            # Of the inputs that failed for good before the stop, report the first in the batch.
            raise min(failures, key=lambda e: e.index if e.index is not None else -1)
        return results

    # -- identity ---------------------------------------------------------------------------

    def config_digest(self) -> str:
        """A hash of everything in the request that shapes the outputs (not the URL or key)."""
        config = {
            "model": self.model,
            "system_prompt": self.system_prompt,
            "temperature": self.temperature,
            "extra_body": self.extra_body,
            "parse": _callable_name(self.parse),
        }
        text = json.dumps(config, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def url_sha256(self, url: str) -> str:
        """sha256 of what ``url`` serves, streamed (no size cap, within the deadline).

        The API key, basic auth and extra headers go only to the base URL's origin.
        """
        try:
            target = Target.parse(url)
        except UrlError as exc:
            raise ArtifactUnavailable(f"artifact URL: {exc}") from None
        digest = hashlib.sha256()
        try:
            headers = self._artifact_headers(target)
            self.transport.request("GET", target, headers=headers, sink=digest.update)
        except HttpRequestError as failure:
            raise ArtifactUnavailable(
                f"cannot fetch the artifact {failure.url} to hash it: {failure.reason} "
                f"(after {failure.attempts} attempt{'s' if failure.attempts != 1 else ''})"
            ) from None
        except (UrlError, HttpModelError) as exc:
            raise ArtifactUnavailable(f"cannot fetch the artifact {target.url}: {exc}") from None
        return digest.hexdigest()

    def _artifact_headers(self, target: Target) -> dict[str, str]:
        if target.origin != self.target.origin:
            return {"Accept": "*/*"}  # credentials stay on the base URL's origin
        headers = self._request_headers(self._resolve_api_key())
        headers.pop("Content-Type", None)
        headers["Accept"] = "*/*"
        if target.basic_auth is None and self.target.basic_auth is not None:
            headers["Authorization"] = self.target.basic_auth
        return headers


class ServedModel(Model):
    """A :class:`Model` for an endpoint: identity and pins from ``fingerprint`` or ``artifact``.

    ``artifact`` is a local file or an http(s) URL the server exposes; its sha256 is what a case
    file's pin is checked against, measured when first needed (a URL is fetched once). The cache
    fingerprint is ``openai-chat:<fingerprint or artifact sha256>:<request settings digest>``.
    """

    def __init__(
        self,
        predictor: OpenAIChatPredictor,
        *,
        ref: str = "",
        fingerprint: str | None = None,
        artifact: str | os.PathLike[str] | None = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(predictor, ref=ref, artifact=artifact, batch_size=batch_size)
        self.predictor = predictor
        self.served_fingerprint = fingerprint
        self._measured: str | None = None
        self._measure_lock = threading.Lock()

    @property
    def artifact_sha256(self) -> str | None:
        """sha256 of the artifact file or URL; raises :class:`OSError` when it cannot be read."""
        if self.artifact is None:
            return None
        with self._measure_lock:  # xdist-free but threaded callers: fetch a URL once
            if self._measured is None:
                if _is_url(self.artifact):
                    self._measured = self.predictor.url_sha256(self.artifact)
                else:
                    self._measured = sha256_file(self.artifact)
            return self._measured

    @property
    def fingerprint(self) -> str | None:
        identity = self.served_fingerprint
        if identity is None and self.artifact is not None:
            try:
                identity = self.artifact_sha256
            except OSError:
                # Unidentifiable now: never cache. A pin reports the failure; calls fail alone.
                return None
        if not identity:
            return None
        # The same deployment asked with another prompt or temperature is another model.
        return f"openai-chat:{identity}:{self.predictor.config_digest()[:16]}"

    def __repr__(self) -> str:
        # No fingerprint here: it may need a request.
        return f"ServedModel(ref={self.ref!r}, url={self.predictor.display_url!r})"


def openai_chat_model(
    base_url: str,
    model: str,
    *,
    ref: str | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    system_prompt: str | None = None,
    temperature: float | None = 0.0,
    concurrency: int = 4,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_retries: int = 4,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    max_retry_after: float = 60.0,
    parse: Callable[[str], Any] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
    artifact: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], object] | None = None,
    clock: Callable[[], float] | None = None,
) -> ServedModel:
    """A :class:`Model` that asks an OpenAI-compatible ``/chat/completions`` endpoint.

    Each batch input is a prompt string or a list of ``{"role", "content"}`` messages; its output
    is the reply text, or ``parse(text)``. ``fingerprint`` (what is deployed) or ``artifact`` (a
    file or URL whose sha256 identifies it, and which case-file pins check) enables the on-disk
    cache; the request settings are folded into it. See docs/models-http.md for every option.
    """
    predictor = OpenAIChatPredictor(
        base_url,
        model,
        api_key=api_key,
        api_key_env=api_key_env,
        system_prompt=system_prompt,
        temperature=temperature,
        concurrency=concurrency,
        timeout=timeout,
        deadline=deadline,
        max_body_bytes=max_body_bytes,
        max_depth=max_depth,
        max_retries=max_retries,
        backoff=backoff,
        max_backoff=max_backoff,
        max_retry_after=max_retry_after,
        parse=parse,
        extra_body=extra_body or {},
        headers=headers or {},
        rng=rng if rng is not None else random.Random(),
        sleep=sleep,
        clock=clock if clock is not None else time.monotonic,
    )
    return ServedModel(
        predictor, ref=ref or "", fingerprint=fingerprint, artifact=artifact, batch_size=batch_size
    )

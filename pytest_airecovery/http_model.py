"""A :class:`~pytest_airecovery.models.Model` backed by an OpenAI-compatible chat completions API.

``openai_chat_model(base_url, model)`` returns a model whose ``predict(batch)`` sends one
``POST {base_url}/chat/completions`` per input, at most ``concurrency`` at a time, and returns the
reply texts (or ``parse(text)``) in input order. Transient failures (429, 408, 5xx, connection
errors, timeouts) are retried with capped exponential backoff and jitter; anything else, or
exhausted retries, raises one :class:`HttpModelError` for the whole batch.

Standard library only, and the network modules are imported on first use: this module is imported
by conftest loaders on every test run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_airecovery.models import Model

__all__ = ["HttpModelError", "OpenAIChatPredictor", "openai_chat_model"]

# Status codes that usually mean "try again later" rather than "your request is wrong".
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
BODY_EXCERPT_CHARS = 300

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


@dataclasses.dataclass(eq=False)  # eq=False keeps exceptions hashable
class _Attempt(Exception):
    """One failed attempt, internal: carries what the final error needs and whether to retry."""

    reason: str
    retryable: bool
    status: int | None = None
    body: str = ""
    retry_after: float | None = None


class _BatchAborted(Exception):
    """Another input of the batch already failed for good; stop retrying this one."""


def _redact_url(url: str) -> str:
    # A base URL may carry credentials (https://user:token@host/...); never put them in messages.
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a numeric ``Retry-After``; the HTTP-date form is ignored (backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if math.isnan(seconds) or seconds < 0:  # not a usable hint
        return None
    return seconds


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
    timeout: float = 30.0
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

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        self.url = self.base_url.rstrip("/") + "/chat/completions"
        self.display_url = _redact_url(self.url)
        self.extra_body = dict(self.extra_body)
        self.headers = dict(self.headers)
        self._rng_lock = threading.Lock()

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

    # -- one request ----------------------------------------------------------------------

    def _post_once(self, payload: bytes, api_key: str | None) -> str:
        """One HTTP attempt; returns the reply text or raises :class:`_Attempt`."""
        import http.client
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.headers)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
                raw = response.read()
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read().decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - the status alone is still worth reporting
                body = ""
            retry_after = _parse_retry_after(
                exc.headers.get("Retry-After") if exc.headers else None
            )
            raise _Attempt(
                f"HTTP {exc.code} {exc.reason}".rstrip(),
                retryable=exc.code in RETRYABLE_STATUSES,
                status=exc.code,
                body=body,
                retry_after=retry_after,
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            # Certificate problems and unsupported URLs will not fix themselves.
            permanent = (
                isinstance(reason, str) or type(reason).__name__ == "SSLCertVerificationError"
            )
            raise _Attempt(f"connection failed ({reason})", retryable=not permanent) from None
        except TimeoutError:
            raise _Attempt(
                f"no response within the {self.timeout:g} s timeout", retryable=True
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Attempt(
                f"connection failed ({type(exc).__name__}: {exc})", retryable=True
            ) from None

        text = raw.decode("utf-8", "replace")
        try:
            return _reply_text(json.loads(text))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise _Attempt(
                f"malformed chat completion response ({exc})",
                retryable=False,
                status=status,
                body=text,
            ) from None

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        with self._rng_lock:
            jitter = self.rng.random()
        # "Equal jitter": always wait at least half the ceiling, spread the other half.
        return ceiling / 2 + jitter * ceiling / 2

    def _excerpt(self, body: str) -> str:
        excerpt = " ".join(body.split())[:BODY_EXCERPT_CHARS]
        if self.api_key and self.api_key in excerpt:
            excerpt = excerpt.replace(self.api_key, "***")
        return excerpt

    def payload_for(self, item: Any, index: int) -> bytes:
        """The request body for one batch input, validated."""
        return json.dumps(self.body_for(self.messages_for(item, index))).encode("utf-8")

    def predict_one(self, item: Any, index: int = 0) -> Any:
        """Send one input, retrying transient failures; return its (parsed) reply."""
        payload = self.payload_for(item, index)
        return self._send(payload, index, self._resolve_api_key(), threading.Event())

    def _send(self, payload: bytes, index: int, api_key: str | None, abort: threading.Event) -> Any:
        attempts = 0
        while True:
            if abort.is_set():
                raise _BatchAborted()
            attempts += 1
            try:
                text = self._post_once(payload, api_key)
                break
            except _Attempt as failure:
                if not failure.retryable or attempts > self.max_retries:
                    reason = failure.reason
                    if failure.retryable:
                        reason = f"{reason}, retries exhausted"
                    raise HttpModelError(
                        reason,
                        url=self.display_url,
                        index=index,
                        status=failure.status,
                        attempts=attempts,
                        body_excerpt=self._excerpt(failure.body),
                    ) from None
                delay = self._retry_delay(attempts, failure.retry_after)
                if self.sleep is not None:
                    self.sleep(delay)
                elif abort.wait(delay):  # woken early: the batch already failed
                    raise _BatchAborted() from None
        if self.parse is None:
            return text
        try:
            return self.parse(text)
        except Exception as exc:  # noqa: BLE001 - any parse failure is reported the same way
            raise HttpModelError(
                f"parse={_callable_name(self.parse)} failed on the reply "
                f"({type(exc).__name__}: {exc})",
                url=self.display_url,
                index=index,
                status=200,
                attempts=attempts,
                body_excerpt=self._excerpt(text),
            ) from None

    # -- a batch --------------------------------------------------------------------------

    def __call__(self, batch: list[Any]) -> list[Any]:
        items = list(batch)
        if not items:
            return []
        # Every body is built first, so a bad input fails the batch before anything is sent.
        payloads = [self.payload_for(item, index) for index, item in enumerate(items)]
        api_key = self._resolve_api_key()
        abort = threading.Event()
        if self.concurrency == 1 or len(items) == 1:
            return [self._send(body, i, api_key, abort) for i, body in enumerate(payloads)]

        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        results: list[Any] = [None] * len(items)
        failures: list[HttpModelError] = []
        workers = min(self.concurrency, len(items))
        # The pool size is the concurrency bound: each worker has at most one request in flight.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="airecovery-http") as pool:
            futures = {
                pool.submit(self._send, body, i, api_key, abort): i
                for i, body in enumerate(payloads)
            }
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                # Fail fast: start nothing new, stop retries in flight, then report.
                abort.set()
                for future in futures:
                    future.cancel()
            for future, i in futures.items():
                if future.cancelled():
                    continue
                exc = future.exception()
                if exc is None:
                    results[i] = future.result()
                elif isinstance(exc, HttpModelError):
                    failures.append(exc)
                elif not isinstance(exc, _BatchAborted):
                    raise exc
        if failures:
            # Of the inputs that failed for good before the stop, report the first in the batch.
            raise min(failures, key=lambda e: e.index if e.index is not None else -1)
        return results

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
    timeout: float = 30.0,
    max_retries: int = 4,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    max_retry_after: float = 60.0,
    parse: Callable[[str], Any] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
    batch_size: int | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], object] | None = None,
) -> Model:
    """A :class:`Model` that asks an OpenAI-compatible ``/chat/completions`` endpoint.

    Each batch input is a prompt string or a list of ``{"role", "content"}`` messages; its output
    is the reply text, or ``parse(text)``. ``fingerprint`` should identify the deployed model
    version; only then are outputs cached on disk (the request settings are folded into it).
    See docs/models-http.md for every option.
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
        max_retries=max_retries,
        backoff=backoff,
        max_backoff=max_backoff,
        max_retry_after=max_retry_after,
        parse=parse,
        extra_body=extra_body or {},
        headers=headers or {},
        rng=rng if rng is not None else random.Random(),
        sleep=sleep,
    )
    # The same deployment asked with another prompt or temperature is another model for caching.
    cache_fingerprint = (
        f"openai-chat:{fingerprint}:{predictor.config_digest()[:16]}" if fingerprint else None
    )
    return Model(predictor, ref=ref or "", fingerprint=cache_fingerprint, batch_size=batch_size)

"""Bounded HTTP requests: a total deadline, a body size cap, credentials kept on their origin.

:class:`HttpTransport` sends one request and retries transient failures (by default 429, 408,
5xx, refused or reset connections, attempt timeouts) with capped exponential backoff and jitter.
Every call is bounded:

- **time**: each attempt has ``timeout`` seconds in total (connect, send, headers, body), and the
  whole call, retries, backoff and ``Retry-After`` waits included, has ``deadline`` seconds. A
  watchdog shuts the socket down when either runs out, so a server that drips one byte a second
  cannot stretch a call (socket timeouts alone restart on every byte). A wait that would end past
  the deadline fails the call at once instead of sleeping.
- **retries**: which failures are retried, how often and after what wait is the
  :class:`~.retry.RetryPolicy` the client passes (one policy type for every client).
- **memory**: a response body larger than ``max_body_bytes`` is refused while it is read (or
  from its ``Content-Length``), before the memory is spent.
- **credentials**: redirects are followed only within the origin (scheme, host, port) and only
  when they keep the method and body (307/308, or any redirect of a GET); a redirect to another
  origin fails the call, so an ``Authorization`` header never leaves the server it was meant for.
  ``user:password@`` in a URL becomes HTTP basic auth.

No threads outlive a call: the watchdog timer is a daemon and is cancelled when the attempt ends.
One exchange on the wire is :mod:`.http_exchange`; the retry policy is :mod:`.retry`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

# Re-exported: clients import the whole HTTP vocabulary from here.
from pytest_airecovery.models.http_exchange import (
    ERROR_BODY_BYTES,
    REDIRECTS,
    AttemptFailed,
    Cancel,
    FailureKind,
    RequestCancelled,
    Target,
    TooSlow,
    UrlError,
    exchange,
    redact_url,
)
from pytest_airecovery.models.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    import http.client

__all__ = [
    "ERROR_BODY_BYTES",
    "RETRYABLE_STATUSES",
    "AttemptFailed",
    "Cancel",
    "FailureKind",
    "HttpRequestError",
    "HttpTransport",
    "RequestCancelled",
    "Response",
    "RetryPolicy",
    "Target",
    "UrlError",
    "redact_url",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 120.0
DEFAULT_MAX_BODY_BYTES = 32 << 20
MAX_REDIRECTS = 5
_KEEPS_METHOD = frozenset({307, 308})


class HttpRequestError(Exception):
    """A call failed for good: not retryable, retries exhausted, or out of time.

    ``url`` never carries credentials; ``body`` is at most :data:`ERROR_BODY_BYTES` of the reply.
    ``kind``, ``status_text``, ``declared_size`` describe the last attempt's failure; ``wait`` is
    set when the call ended because the next wait (``retry_after`` if the server asked for one)
    would have ended past the deadline.
    """

    def __init__(
        self,
        reason: str,
        *,
        url: str,
        status: int | None = None,
        attempts: int = 0,
        body: str = "",
        kind: FailureKind = "connection",
        status_text: str = "",
        declared_size: int | None = None,
        retry_after: float | None = None,
        wait: float | None = None,
    ) -> None:
        self.reason = reason
        self.url = url
        self.status = status
        self.attempts = attempts
        self.body = body
        self.kind: FailureKind = kind
        self.status_text = status_text
        self.declared_size = declared_size
        self.retry_after = retry_after
        self.wait = wait
        super().__init__(reason)


@dataclasses.dataclass(frozen=True)
class Response:
    """A 2xx answer; ``url`` is where it came from (after same-origin redirects), no credentials."""

    status: int
    headers: http.client.HTTPMessage  # case-insensitive ``get``
    body: bytes
    url: str
    attempts: int = 1


def _positive_seconds(name: str, value: float) -> float:
    if not (0 < value < math.inf):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value}")
    return float(value)


class HttpTransport:
    """Sends requests within a deadline, a size cap and the redirect policy; thread-safe."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        retry: RetryPolicy | None = None,
        max_redirects: int = MAX_REDIRECTS,
        rng: random.Random | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = _positive_seconds("timeout", timeout)
        self.deadline = _positive_seconds("deadline", deadline)
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise TypeError(f"max_body_bytes must be an integer, got {max_body_bytes!r}")
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
        self.max_body_bytes = max_body_bytes
        self.retry = retry or RetryPolicy()
        self.max_redirects = max_redirects
        self.rng = rng if rng is not None else random.Random()
        self.sleep = sleep
        self.clock = clock
        self._rng_lock = threading.Lock()

    # -- the call, with retries ---------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str | Target,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        cancel: Cancel | None = None,
        sink: Callable[[bytes], object] | None = None,
    ) -> Response:
        """Send, retrying transient failures, until a 2xx answer or :class:`HttpRequestError`.

        With ``sink``, the body is handed over chunk by chunk and not kept (no size cap applies;
        the deadline still does), e.g. to hash a large file.
        """
        target = url if isinstance(url, Target) else Target.parse(url)
        sent_headers = self._headers_for(target, headers)
        ends = self.clock() + self.deadline
        attempts = 0
        last: AttemptFailed | None = None
        while True:
            if cancel is not None and cancel.is_set():
                raise RequestCancelled()
            remaining = ends - self.clock()
            if remaining <= 0:  # a wait overshot: only possible just after a failed attempt
                reason = self._out_of_time() if last is None else f"{last.reason}; out of time"
                raise self._final(reason, target, last, attempts, kind="timeout")
            attempts += 1
            try:
                response = self._attempt(
                    method, target, body, sent_headers, remaining, cancel, sink
                )
                return dataclasses.replace(response, attempts=attempts)
            except AttemptFailed as failure:
                last = failure
                delay = self._next_delay(failure, attempts, ends)
                if isinstance(delay, _Stop):
                    raise self._final(
                        delay.reason, target, failure, attempts, wait=delay.wait
                    ) from failure
            if self.sleep is not None:
                self.sleep(delay)
            elif cancel is not None:
                if cancel.wait(delay):  # woken early: the batch already failed
                    raise RequestCancelled()
            else:
                time.sleep(delay)

    @staticmethod
    def _final(
        reason: str,
        target: Target,
        failure: AttemptFailed | None,
        attempts: int,
        *,
        kind: FailureKind | None = None,
        wait: float | None = None,
    ) -> HttpRequestError:
        if failure is None:
            return HttpRequestError(
                reason, url=target.url, attempts=attempts, kind=kind or "timeout"
            )
        return HttpRequestError(
            reason,
            url=target.url,
            status=failure.status,
            attempts=attempts,
            body=failure.body,
            kind=kind or failure.kind,
            status_text=failure.status_text,
            declared_size=failure.declared_size,
            retry_after=failure.retry_after,
            wait=wait,
        )

    def _next_delay(self, failure: AttemptFailed, attempts: int, ends: float) -> float | _Stop:
        """Seconds to wait before the next attempt, or why there is none."""
        if not (failure.retryable and self.retry.retries(failure.status)):
            return _Stop(failure.reason)
        if attempts > self.retry.max_retries:
            return _Stop(f"{failure.reason}, retries exhausted")
        with self._rng_lock:
            jitter = self.rng.random()
        delay = self.retry.delay(attempts, failure.retry_after, jitter)
        remaining = ends - self.clock()
        if delay >= remaining:
            asked = (
                f"the server asked to retry after {failure.retry_after:g} s"
                if failure.retry_after is not None
                else f"the next retry is due in {delay:.3g} s"
            )
            return _Stop(
                f"{failure.reason}; {asked}, past the {self.deadline:g} s deadline of the call "
                f"({max(remaining, 0):.3g} s left)",
                wait=delay,
            )
        return delay

    def _out_of_time(self) -> str:
        return f"no complete response within the {self.deadline:g} s deadline of the call"

    @staticmethod
    def _headers_for(target: Target, headers: Mapping[str, str] | None) -> dict[str, str]:
        sent = dict(headers or {})
        if target.basic_auth is not None:
            if any(name.lower() == "authorization" for name in sent):
                raise UrlError(
                    f"{target.url!r}: the URL carries user:password and an Authorization header "
                    "is also given; keep one of them"
                )
            sent["Authorization"] = target.basic_auth
        return sent

    # -- one attempt: redirects within the origin ---------------------------------------------

    def _attempt(
        self,
        method: str,
        target: Target,
        body: bytes | None,
        headers: dict[str, str],
        remaining: float,
        cancel: Cancel | None,
        sink: Callable[[bytes], object] | None,
    ) -> Response:
        limit = min(self.timeout, remaining)
        # Out of the call's deadline rather than the attempt's timeout: no time for another.
        deadline_bound = limit < self.timeout
        too_slow = AttemptFailed(
            _too_slow(limit, deadline_bound, self.deadline),
            retryable=not deadline_bound,
            kind="timeout",
        )
        started = self.clock()
        current = target
        cap = self.max_body_bytes if sink is None else None
        for _hop in range(self.max_redirects + 1):
            left = limit - (self.clock() - started)
            if left <= 0:
                raise too_slow
            try:
                status, reason, reply_headers, data = exchange(
                    method, current, body, headers, left, cancel, sink, cap
                )
            except TooSlow:
                raise too_slow from None
            if status in REDIRECTS:
                current = self._follow(method, current, status, reply_headers.get("Location"))
                continue
            if 200 <= status < 300:
                return Response(status, reply_headers, data, current.url)
            text = data.decode("utf-8", "replace")
            raise AttemptFailed(
                f"HTTP {status} {reason}".rstrip(),
                retryable=True,  # the policy decides by status
                status=status,
                body=text,
                retry_after=parse_retry_after(reply_headers.get("Retry-After")),
                kind="status",
                status_text=reason,
            )
        raise AttemptFailed(
            f"more than {self.max_redirects} redirects", retryable=False, kind="redirect"
        )

    def _follow(self, method: str, current: Target, status: int, location: str | None) -> Target:
        if not location:
            raise AttemptFailed(
                f"HTTP {status} redirect without a Location", retryable=False, kind="redirect"
            )
        try:
            following = current.join(location)
        except UrlError as exc:
            unusable = f"HTTP {status} redirect to an unusable URL: {exc}"
            raise AttemptFailed(unusable, retryable=False, kind="redirect") from None
        if following.origin != current.origin:
            raise AttemptFailed(
                f"HTTP {status} redirect to another origin refused ({following.url}): credentials "
                "are never sent to another origin; use the final URL as the base URL",
                retryable=False,
                status=status,
                kind="redirect",
            )
        if method not in ("GET", "HEAD") and status not in _KEEPS_METHOD:
            raise AttemptFailed(
                f"HTTP {status} redirect of a {method} refused ({following.url}): it would drop "
                "the request body; use the final URL as the base URL",
                retryable=False,
                status=status,
                kind="redirect",
            )
        return following


@dataclasses.dataclass(frozen=True)
class _Stop:
    """No further attempt: the final reason, and the wait that did not fit the deadline."""

    reason: str
    wait: float | None = None


def _too_slow(limit: float, deadline_bound: bool, deadline: float) -> str:
    if deadline_bound:
        return f"no complete response within the {deadline:g} s deadline of the call"
    return f"no complete response within the {limit:g} s timeout"

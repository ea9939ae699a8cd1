"""Bounded HTTP requests: a total deadline, a body size cap, credentials kept on their origin.

:class:`HttpTransport` sends one request and retries transient failures (429, 408, 5xx, refused
or reset connections, attempt timeouts) with capped exponential backoff and jitter. Every call is
bounded:

- **time**: each attempt has ``timeout`` seconds in total (connect, send, headers, body), and the
  whole call, retries, backoff and ``Retry-After`` waits included, has ``deadline`` seconds. A
  watchdog shuts the socket down when either runs out, so a server that drips one byte a second
  cannot stretch a call (socket timeouts alone restart on every byte). A wait that would end past
  the deadline fails the call at once instead of sleeping.
- **memory**: a response body larger than ``max_body_bytes`` is refused while it is read (or
  from its ``Content-Length``), before the memory is spent.
- **credentials**: redirects are followed only within the origin (scheme, host, port) and only
  when they keep the method and body (307/308, or any redirect of a GET); a redirect to another
  origin fails the call, so an ``Authorization`` header never leaves the server it was meant for.
  ``user:password@`` in a URL becomes HTTP basic auth.

No threads outlive a call: the watchdog timer is a daemon and is cancelled when the attempt ends.
Standard library only; ``http.client``/``ssl`` are imported on first use.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import math
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

__all__ = [
    "Cancel",
    "HttpRequestError",
    "HttpTransport",
    "RequestCancelled",
    "Response",
    "RetryPolicy",
    "Target",
    "UrlError",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 120.0
DEFAULT_MAX_BODY_BYTES = 32 << 20
MAX_REDIRECTS = 5
# Of an error reply only an excerpt is ever shown; reading more would only spend memory.
ERROR_BODY_BYTES = 64 << 10
_CHUNK = 64 << 10

# Status codes that usually mean "try again later" rather than "your request is wrong".
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_KEEPS_METHOD = frozenset({307, 308})


class UrlError(ValueError):
    """A URL that cannot be requested at all (bad scheme, no host, bad port)."""


class RequestCancelled(Exception):
    """The call was cancelled (another request of the same batch failed for good)."""


class HttpRequestError(Exception):
    """A call failed for good: not retryable, retries exhausted, or out of time.

    ``url`` never carries credentials; ``body`` is at most :data:`ERROR_BODY_BYTES` of the reply.
    """

    def __init__(
        self,
        reason: str,
        *,
        url: str,
        status: int | None = None,
        attempts: int = 0,
        body: str = "",
    ) -> None:
        self.reason = reason
        self.url = url
        self.status = status
        self.attempts = attempts
        self.body = body
        super().__init__(reason)


@dataclasses.dataclass(eq=False)  # eq=False keeps exceptions hashable
class AttemptFailed(Exception):
    """One failed attempt: what the final error needs and whether another attempt may help."""

    reason: str
    retryable: bool
    status: int | None = None
    body: str = ""
    retry_after: float | None = None


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed absolute http(s) URL; ``url`` is the display form, without credentials."""

    scheme: str
    host: str
    port: int
    request_target: str
    url: str
    basic_auth: str | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> Target:
        """Parse ``url`` or raise :class:`UrlError` saying what is wrong (credentials hidden)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        display = redact_url(url)
        if scheme not in ("http", "https"):
            raise UrlError(f"{display!r} is not an http:// or https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise UrlError(f"{display!r} has an invalid port") from None
        host = parts.hostname
        if not host:
            raise UrlError(f"{display!r} has no host")
        basic_auth = None
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            basic_auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        request_target = parts.path or "/"
        if parts.query:
            request_target += "?" + parts.query
        return cls(
            scheme=scheme,
            host=host,
            port=port or (443 if scheme == "https" else 80),
            request_target=request_target,
            url=display,
            basic_auth=basic_auth,
        )

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host.lower(), self.port)

    def join(self, location: str) -> Target:
        """The target a ``Location`` header points to, resolved against this one."""
        return Target.parse(urljoin(self.url, location))


def redact_url(url: str) -> str:
    """``url`` without ``user:password@``: credentials never go into messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class Cancel:
    """A cancellation token: wakes waits and shuts down the sockets of requests in flight."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            callback()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when woken by a cancel."""
        return self._event.wait(seconds)

    def register(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on cancel (at once if already cancelled); returns the unregister."""
        with self._lock:
            key = self._next
            self._next += 1
            self._callbacks[key] = callback
            already = self._event.is_set()
        if already:
            callback()
        return lambda: self._unregister(key)

    def _unregister(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)


@dataclasses.dataclass(frozen=True)
class Response:
    """A 2xx answer; ``url`` is where it came from (after same-origin redirects), no credentials."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    attempts: int = 1


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait; see :meth:`delay`."""

    max_retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            value = getattr(self, name)
            if not (0 <= value < math.inf):  # also refuses NaN
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value}")

    def delay(self, attempt: int, retry_after: float | None, jitter: float) -> float:
        """Seconds before retry number ``attempt`` (1-based); ``jitter`` is uniform in [0, 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        # "Equal jitter": always wait at least half the ceiling, spread the other half.
        return ceiling / 2 + jitter * ceiling / 2


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a numeric ``Retry-After``; the HTTP-date form is ignored (backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not (0 <= seconds < math.inf):  # NaN, negative or infinite: not a usable hint
        return None
    return seconds


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
                raise self._final(reason, target, last, attempts)
            attempts += 1
            try:
                response = self._attempt(
                    method, target, body, sent_headers, remaining, cancel, sink
                )
                return dataclasses.replace(response, attempts=attempts)
            except AttemptFailed as failure:
                last = failure
                delay = self._next_delay(failure, attempts, ends)
                if isinstance(delay, str):
                    raise self._final(delay, target, failure, attempts) from None
            if self.sleep is not None:
                self.sleep(delay)
            elif cancel is not None:
                if cancel.wait(delay):  # woken early: the batch already failed
                    raise RequestCancelled()
            else:
                time.sleep(delay)

    @staticmethod
    def _final(
        reason: str, target: Target, failure: AttemptFailed | None, attempts: int
    ) -> HttpRequestError:
        return HttpRequestError(
            reason,
            url=target.url,
            status=failure.status if failure is not None else None,
            attempts=attempts,
            body=failure.body if failure is not None else "",
        )

    def _next_delay(self, failure: AttemptFailed, attempts: int, ends: float) -> float | str:
        """Seconds to wait before the next attempt, or the final reason when there is none."""
        if not failure.retryable:
            return failure.reason
        if attempts > self.retry.max_retries:
            return f"{failure.reason}, retries exhausted"
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
            return (
                f"{failure.reason}; {asked}, past the {self.deadline:g} s deadline of the call "
                f"({max(remaining, 0):.3g} s left)"
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
            _too_slow(limit, deadline_bound, self.deadline), retryable=not deadline_bound
        )
        started = self.clock()
        current = target
        cap = self.max_body_bytes if sink is None else None
        for _hop in range(self.max_redirects + 1):
            left = limit - (self.clock() - started)
            if left <= 0:
                raise too_slow
            try:
                status, reason, reply_headers, data = _exchange(
                    method, current, body, headers, left, cancel, sink, cap
                )
            except _TooSlow:
                raise too_slow from None
            if status in _REDIRECTS:
                current = self._follow(method, current, status, reply_headers.get("Location"))
                continue
            if 200 <= status < 300:
                return Response(status, reply_headers, data, current.url)
            text = data.decode("utf-8", "replace")
            raise AttemptFailed(
                f"HTTP {status} {reason}".rstrip(),
                retryable=status in RETRYABLE_STATUSES,
                status=status,
                body=text,
                retry_after=parse_retry_after(reply_headers.get("Retry-After")),
            )
        raise AttemptFailed(f"more than {self.max_redirects} redirects", retryable=False)

    def _follow(self, method: str, current: Target, status: int, location: str | None) -> Target:
        if not location:
            raise AttemptFailed(f"HTTP {status} redirect without a Location", retryable=False)
        try:
            following = current.join(location)
        except UrlError as exc:
            unusable = f"HTTP {status} redirect to an unusable URL: {exc}"
            raise AttemptFailed(unusable, retryable=False) from None
        if following.origin != current.origin:
            raise AttemptFailed(
                f"HTTP {status} redirect to another origin refused ({following.url}): credentials "
                "are never sent to another origin; use the final URL as the base URL",
                retryable=False,
                status=status,
            )
        if method not in ("GET", "HEAD") and status not in _KEEPS_METHOD:
            raise AttemptFailed(
                f"HTTP {status} redirect of a {method} refused ({following.url}): it would drop "
                "the request body; use the final URL as the base URL",
                retryable=False,
                status=status,
            )
        return following


class _TooSlow(Exception):
    """The watchdog (or a socket timeout) ended the exchange."""


def _too_slow(limit: float, deadline_bound: bool, deadline: float) -> str:
    if deadline_bound:
        return f"no complete response within the {deadline:g} s deadline of the call"
    return f"no complete response within the {limit:g} s timeout"


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> Any:
    # Loading the CA store costs milliseconds: once per process and trust setting, not per
    # request. The key is what the default context reads from the environment.
    import ssl

    return ssl.create_default_context()


def _connection(scheme: str, host: str, port: int, seconds: float) -> Any:
    import http.client

    if scheme == "https":
        context = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return http.client.HTTPSConnection(host, port, timeout=seconds, context=context)
    return http.client.HTTPConnection(host, port, timeout=seconds)


def _route(target: Target, seconds: float) -> tuple[Any, str, dict[str, str]]:
    """Connection, request target and extra headers: direct, or through the environment's proxy.

    Honours ``http_proxy``/``https_proxy``/``no_proxy`` as ``urllib`` does: a tunnel
    (CONNECT) for https, an absolute URL for plain http.
    """
    import urllib.request

    proxy_url = urllib.request.getproxies().get(target.scheme)
    if not proxy_url or urllib.request.proxy_bypass(target.host):
        connection = _connection(target.scheme, target.host, target.port, seconds)
        return connection, target.request_target, {}
    try:
        proxy = Target.parse(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
    except UrlError as exc:
        raise AttemptFailed(f"unusable {target.scheme}_proxy setting: {exc}", False) from None
    auth = {"Proxy-Authorization": proxy.basic_auth} if proxy.basic_auth else {}
    if target.scheme == "https":
        connection = _connection("https", proxy.host, proxy.port, seconds)
        connection.set_tunnel(target.host, target.port, headers=auth)
        return connection, target.request_target, {}
    connection = _connection("http", proxy.host, proxy.port, seconds)
    host = f"[{target.host}]" if ":" in target.host else target.host  # IPv6 literal
    absolute = f"http://{host}:{target.port}{target.request_target}"
    return connection, absolute, auth


def _exchange(
    method: str,
    target: Target,
    body: bytes | None,
    headers: dict[str, str],
    seconds: float,
    cancel: Cancel | None,
    sink: Callable[[bytes], object] | None,
    max_body: int | None,
) -> tuple[int, str, Any, bytes]:
    """One request and its response within ``seconds``: status, reason, headers, body.

    The headers are the ``http.client`` message (case-insensitive ``get``). Raises
    :class:`_TooSlow` when the watchdog fires, :class:`RequestCancelled` on a cancel.
    """
    import http.client
    import socket

    connection, request_target, proxy_headers = _route(target, seconds)
    why: list[str] = []  # set by the watchdog or a cancel before it shuts the socket down

    def shut(reason: str) -> None:
        why.append(reason)
        sock = connection.sock
        if sock is not None:
            try:
                # The plain-socket method, also for TLS: SSLSocket.shutdown would tear down
                # the TLS state under the thread that is reading.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(seconds, shut, args=("time",))
    watchdog.daemon = True
    watchdog.start()
    unregister = cancel.register(lambda: shut("cancel")) if cancel is not None else None
    response = None
    try:
        connection.connect()
        if why:  # fired while connecting, before there was a socket to shut down
            raise OSError("stopped")
        connection.request(method, request_target, body=body, headers=headers | proxy_headers)
        response = connection.getresponse()
        status, reason, reply_headers = response.status, response.reason or "", response.msg
        if status in _REDIRECTS:
            return status, reason, reply_headers, b""
        if 200 <= status < 300:
            data = _read_body(response, max_body, sink)
        else:  # only an excerpt is ever shown
            data = _read_body(response, ERROR_BODY_BYTES, None, truncate=True)
        return status, reason, reply_headers, data
    except (OSError, http.client.HTTPException) as exc:
        if "cancel" in why:
            raise RequestCancelled() from None
        if "time" in why or isinstance(exc, TimeoutError):
            raise _TooSlow() from None
        raise _connection_failure(exc) from None
    finally:
        watchdog.cancel()
        if unregister is not None:
            unregister()
        # The response holds its own reference to the socket: close both, or a refused body
        # keeps the connection open (and the server writing) until garbage collection.
        if response is not None:
            response.close()
        connection.close()


def _read_body(
    response: Any,
    cap: int | None,
    sink: Callable[[bytes], object] | None,
    *,
    truncate: bool = False,
) -> bytes:
    """The body, refused as soon as it is known to exceed ``cap``; or cut at ``cap``."""
    declared = response.getheader("Content-Length")
    known_too_large = declared is not None and declared.isdigit() and int(declared) > (cap or 0)
    if cap is not None and not truncate and known_too_large:
        raise AttemptFailed(_too_large(cap, f"declares {declared} bytes"), retryable=False)
    chunks: list[bytes] = []
    size = 0
    while True:
        want = _CHUNK if cap is None else min(_CHUNK, cap + 1 - size)
        chunk = response.read(want)
        if not chunk:
            break
        size += len(chunk)
        if sink is not None:
            sink(chunk)
            continue
        if cap is not None and size > cap:
            if truncate:
                chunks.append(chunk[: len(chunk) - (size - cap)])
                break
            raise AttemptFailed(_too_large(cap, f"has more than {cap} bytes"), retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(cap: int, what: str) -> str:
    return (
        f"response body too large: it {what}, the limit is {cap} bytes "
        f"({cap / (1 << 20):.3g} MiB; raise max_body_bytes if it is expected)"
    )


def _connection_failure(exc: BaseException) -> AttemptFailed:
    # Certificate problems will not fix themselves; refused or reset connections may.
    permanent = type(exc).__name__ in ("SSLCertVerificationError", "CertificateError")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        detail = exc.strerror
    return AttemptFailed(f"connection failed ({type(exc).__name__}: {detail})", not permanent)

"""One HTTP exchange on the wire, and the types every HTTP client of the package shares.

:func:`exchange` sends one request and reads its response within a given number of seconds: a
watchdog shuts the socket down when they run out (a socket timeout alone restarts on every byte),
the body is refused past a size cap, a cancel cuts it at once. :class:`Target` is a parsed URL
whose display form never carries credentials; :class:`Cancel` is the token a batch shares.
Retries, redirects and the call's deadline are :mod:`.http_transport`'s job. Standard library
only; ``http.client``/``ssl`` are imported on first use.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

if TYPE_CHECKING:
    import http.client
    import ssl

__all__ = [
    "ERROR_BODY_BYTES",
    "REDIRECTS",
    "AttemptFailed",
    "Cancel",
    "FailureKind",
    "RequestCancelled",
    "Target",
    "TooSlow",
    "UrlError",
    "exchange",
    "redact_url",
]

# Of an error reply only an excerpt is ever shown; reading more would only spend memory.
ERROR_BODY_BYTES = 64 << 10
_CHUNK = 64 << 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})

# What went wrong, for clients that word their own messages: an HTTP error status, no complete
# answer in time, a body over the cap, no (complete) answer at all, a refused redirect.
FailureKind = Literal["status", "timeout", "too_large", "connection", "redirect"]


class UrlError(ValueError):
    """A URL that cannot be requested at all (bad scheme, no host, bad port)."""


class RequestCancelled(Exception):
    """The call was cancelled (another request of the same batch failed for good)."""


@dataclasses.dataclass(eq=False)  # eq=False keeps exceptions hashable
class AttemptFailed(Exception):
    """One failed attempt: what the final error needs and whether another attempt may help.

    ``retryable`` False means permanent whatever the policy; True leaves it to
    :meth:`RetryPolicy.retries` (by ``status``, None when nothing was answered).
    """

    reason: str
    retryable: bool
    status: int | None = None
    body: str = ""
    retry_after: float | None = None
    kind: FailureKind = "connection"
    status_text: str = ""
    declared_size: int | None = None


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


class TooSlow(Exception):
    """The watchdog (or a socket timeout) ended the exchange."""


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # Loading the CA store costs milliseconds: once per process and trust setting, not per
    # request. The key is what the default context reads from the environment.
    import ssl

    return ssl.create_default_context()


def _connection(scheme: str, host: str, port: int, seconds: float) -> http.client.HTTPConnection:
    import http.client

    if scheme == "https":
        context = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return http.client.HTTPSConnection(host, port, timeout=seconds, context=context)
    return http.client.HTTPConnection(host, port, timeout=seconds)


def _route(
    target: Target, seconds: float
) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
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


def exchange(
    method: str,
    target: Target,
    body: bytes | None,
    headers: dict[str, str],
    seconds: float,
    cancel: Cancel | None,
    sink: Callable[[bytes], object] | None,
    max_body: int | None,
) -> tuple[int, str, http.client.HTTPMessage, bytes]:
    """One request and its response within ``seconds``: status, reason, headers, body.

    The headers are the ``http.client`` message (case-insensitive ``get``). Raises
    :class:`TooSlow` when the watchdog fires, :class:`RequestCancelled` on a cancel.
    """
    import http.client
    import socket

    connection, request_target, proxy_headers = _route(target, seconds)
    why: list[str] = []  # set by the watchdog or a cancel before it shuts the socket down

    # The socket, kept: http.client drops `connection.sock` once the headers of a response that
    # ends with the connection (HTTP/1.0, "Connection: close") are read, and the body still
    # arrives on it. Without this, a drip of such a body would not be cut.
    held: list[socket.socket] = []

    def shut(reason: str) -> None:
        why.append(reason)
        sock = held[0] if held else connection.sock
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
        if connection.sock is not None:
            held.append(connection.sock)
        if why:  # fired while connecting, before there was a socket to shut down
            raise OSError("stopped")
        connection.request(method, request_target, body=body, headers=headers | proxy_headers)
        response = connection.getresponse()
        status, reason, reply_headers = response.status, response.reason or "", response.msg
        if status in REDIRECTS:
            data = b""
        elif 200 <= status < 300:
            data = _read_body(response, max_body, sink)
        else:  # only an excerpt is ever shown
            data = _read_body(response, ERROR_BODY_BYTES, None, truncate=True)
        if why:  # cut: the shutdown reads as an early end of headers or body, not an answer
            raise OSError("stopped")
        return status, reason, reply_headers, data
    except (OSError, http.client.HTTPException) as exc:
        if "cancel" in why:
            raise RequestCancelled() from None
        if "time" in why or isinstance(exc, TimeoutError):
            raise TooSlow() from None
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
    response: http.client.HTTPResponse,
    cap: int | None,
    sink: Callable[[bytes], object] | None,
    *,
    truncate: bool = False,
) -> bytes:
    """The body, refused as soon as it is known to exceed ``cap``; or cut at ``cap``.

    A body shorter than its ``Content-Length`` raises ``IncompleteRead``: ``http.client`` returns
    it without complaint, and a cut-off answer must not pass for the whole one.
    """
    import http.client

    declared_text = response.getheader("Content-Length")
    declared = int(declared_text) if declared_text is not None and declared_text.isdigit() else None
    if cap is not None and not truncate and declared is not None and declared > cap:
        raise AttemptFailed(
            _too_large(cap, f"declares {declared} bytes"),
            retryable=False,
            kind="too_large",
            declared_size=declared,
        )
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
                return b"".join(chunks)
            raise AttemptFailed(
                _too_large(cap, f"has more than {cap} bytes"), retryable=False, kind="too_large"
            )
        chunks.append(chunk)
    if declared is not None and size < declared and not truncate:
        raise http.client.IncompleteRead(b"", declared - size)
    return b"".join(chunks)


def _too_large(cap: int, what: str) -> str:
    return (
        f"response body too large: it {what}, the limit is {cap} bytes "
        f"({cap / (1 << 20):.3g} MiB; raise max_body_bytes if it is expected)"
    )


def _connection_failure(exc: BaseException) -> AttemptFailed:
    import http.client

    # Certificate problems will not fix themselves; refused or reset connections may.
    permanent = type(exc).__name__ in ("SSLCertVerificationError", "CertificateError")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        detail = exc.strerror
    if isinstance(exc, http.client.HTTPException):  # an answer cut off or not HTTP at all
        return AttemptFailed(f"incomplete or malformed answer ({type(exc).__name__}: {detail})",
                             not permanent)  # fmt: skip
    return AttemptFailed(f"connection failed ({type(exc).__name__}: {detail})", not permanent)

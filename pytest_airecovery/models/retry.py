"""The retry policy shared by every HTTP client of the package (model adapter, Prometheus source).

One :class:`RetryPolicy` says how many retries, how long to wait between them, which answers are
worth a retry, and how a server's ``Retry-After`` is honoured. :class:`~.http_transport.HttpTransport`
applies it within the call's deadline; each client only picks the values (docs/models-http.md,
docs/gates.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import math
import time

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

# Status codes that usually mean "try again later" rather than "your request is wrong".
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often to retry, how long to wait, and what is worth another attempt.

    ``retry_statuses`` are the HTTP statuses retried; ``retry_unanswered`` says whether a call
    that got no answer at all (refused or reset connection, attempt timeout) is retried. A
    failure known to be permanent (a bad certificate, a body over the size cap, a refused
    redirect) is never retried, whatever the policy.
    """

    max_retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = RETRYABLE_STATUSES
    retry_unanswered: bool = True

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            value = getattr(self, name)
            if not (0 <= value < math.inf):  # also refuses NaN
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value}")

    def retries(self, status: int | None) -> bool:
        """Whether a transient failure is retried: an answer with ``status``, or none (None)."""
        return self.retry_unanswered if status is None else status in self.retry_statuses

    def delay(self, attempt: int, retry_after: float | None, jitter: float) -> float:
        """Seconds before retry number ``attempt`` (1-based); ``jitter`` is uniform in [0, 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        # "Equal jitter": always wait at least half the ceiling, spread the other half, so
        # parallel clients (xdist workers, the inputs of a batch) do not retry in lockstep.
        return ceiling / 2 + jitter * ceiling / 2


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number, or an HTTP date still ahead.

    None (the backoff applies) when the header is absent, unusable (NaN, negative, infinite,
    not a date), or a date that has already passed: with clocks that disagree, a past date says
    nothing about how long the server needs. ``now`` is the wall clock (``time.time()``).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, time.time() if now is None else now)
    if not (0 <= seconds < math.inf):  # NaN, negative or infinite: not a usable hint
        return None
    return seconds


def _seconds_until(date: str, now: float) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": RFC 9110 dates are GMT anyway
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    seconds = moment.timestamp() - now
    return seconds if 0 < seconds < math.inf else None

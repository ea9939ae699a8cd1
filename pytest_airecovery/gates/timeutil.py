"""Durations ("2h", "90m", 3600) and timestamps (ISO 8601 or epoch seconds) as float seconds."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {
    None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0,
    "h": 3600.0, "hr": 3600.0, "d": 86400.0, "w": 604800.0,
}  # fmt: skip


class TimeFormatError(ValueError):
    """A duration or timestamp that cannot be read."""


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a string such as "2h", "90m", "1.5d"."""
    if isinstance(value, bool):
        raise TimeFormatError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        unit = match.group(2).lower() if match.group(2) else None
        seconds = float(match.group(1)) * _UNIT_SECONDS[unit]
    else:
        raise TimeFormatError(f"not a duration: {value!r} (use seconds or e.g. '2h', '90m', '3d')")
    if not math.isfinite(seconds) or seconds < 0:
        raise TimeFormatError(f"a duration must be finite and >= 0, got {value!r}")
    return seconds


def parse_timestamp(value: object) -> float:
    """Epoch seconds from epoch seconds or an ISO 8601 string with a timezone (Z allowed)."""
    if isinstance(value, bool):
        raise TimeFormatError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise TimeFormatError(f"not a finite timestamp: {value!r}")
        return float(value)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            try:
                return parse_timestamp(float(text))
            except ValueError:
                raise TimeFormatError(f"not a timestamp: {value!r}") from None
    else:
        raise TimeFormatError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        # A timestamp without a zone is ambiguous; refusing it beats guessing wrong by hours.
        raise TimeFormatError(f"timestamp {value!r} has no timezone (add 'Z' or '+00:00')")
    return moment.timestamp()


def format_timestamp(seconds: float) -> str:
    """ISO 8601 UTC, second resolution, for reports."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(seconds: float) -> str:
    """Compact human duration: 2h 05m, 45m 10s, 12s."""
    if not math.isfinite(seconds):
        return "forever"
    hours, rest = divmod(round(max(0.0, seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"

"""Durations ("2h", "90m", 3600) and timestamps (ISO 8601 or epoch seconds) as float seconds;
byte sizes ("64MiB") as whole bytes."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {
    None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0,
    "h": 3600.0, "hr": 3600.0, "d": 86400.0, "w": 604800.0,
}  # fmt: skip


# Epoch seconds from 1970 to the year 3000. A number past it is a unit mistake (epoch
# milliseconds, microseconds) or garbage such as 1e20, never a moment we could judge.
MAX_EPOCH_SECONDS = 32_503_680_000.0


class TimeFormatError(ValueError):
    """A duration, timestamp or size that cannot be read."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30,
               "KB": 10**3, "MB": 10**6, "GB": 10**9}  # fmt: skip


def parse_size(value: object) -> int:
    """Bytes from a positive whole number or a string such as "512MiB" or "2GB"."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match and float(match.group(1)) > 0:
        return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    raise TimeFormatError(f"expected a size such as 64MiB or a number of bytes, got {value!r}")


def _epoch_seconds(value: float, shown: object) -> float:
    if not math.isfinite(value):
        raise TimeFormatError(f"not a finite timestamp: {shown!r}")
    if value < 0:
        raise TimeFormatError(f"timestamp {shown!r} is before 1970 (epoch seconds must be >= 0)")
    if value > MAX_EPOCH_SECONDS:
        for unit, factor in (("milliseconds", 1e3), ("microseconds", 1e6), ("nanoseconds", 1e9)):
            if value / factor <= MAX_EPOCH_SECONDS:
                raise TimeFormatError(
                    f"timestamp {shown!r} looks like epoch {unit}; export epoch seconds "
                    f"({value / factor:.0f}) or ISO 8601"
                )
        raise TimeFormatError(f"timestamp {shown!r} is past the year 3000")
    return float(value)


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
        try:
            return _epoch_seconds(float(value), value)
        except OverflowError:  # an int with hundreds of digits
            raise TimeFormatError(f"timestamp {value!r} is past the year 3000") from None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise TimeFormatError(f"not a timestamp: {value!r}") from None
            return _epoch_seconds(number, value)
    else:
        raise TimeFormatError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        # A timestamp without a zone is ambiguous; refusing it beats guessing wrong by hours.
        raise TimeFormatError(f"timestamp {value!r} has no timezone (add 'Z' or '+00:00')")
    return _epoch_seconds(moment.timestamp(), value)


def check_epoch_array(stamps: Any) -> int | None:
    """Index of the first timestamp in a numpy array that parse_timestamp would refuse, or None."""
    import numpy as np

    bad = ~np.isfinite(stamps) | (stamps < 0) | (stamps > MAX_EPOCH_SECONDS)
    return int(np.argmax(bad)) if bad.any() else None


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

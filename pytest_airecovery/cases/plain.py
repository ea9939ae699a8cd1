"""Model outputs and case values as plain Python, and short forms of them for messages.

Models return numpy scalars and arrays; cached outputs come back from JSON as Python numbers and
lists. Every comparison and report goes through these few functions so both compare alike.
No numpy import: the duck-typed ``tolist`` covers numpy without loading it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Exactly these types are plain already; a subclass (numpy's float64 is a float) is converted.
_PLAIN_TYPES = (str, int, float, bool)


def python_value(value: Any) -> Any:
    """One value: a numpy scalar or array as the Python number or list it holds; else unchanged.

    Shallow on purpose: a mapping keeps its keys as they are, so ``{1: ...}`` never equals
    ``{"1": ...}`` in a comparison.
    """
    tolist = getattr(value, "tolist", None)
    return tolist() if tolist is not None and hasattr(value, "shape") else value


def to_plain(value: Any) -> Any:
    """A whole output as JSON's types: mappings with string keys, lists, Python numbers.

    So a fresh output and the same output read back from the disk cache compare alike.
    """
    if value is None or type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return to_plain(tolist())
    return value


def to_jsonable(value: Any) -> Any:
    """``to_plain`` for a JSON report: NaN and infinities as text, other objects as their repr.

    Differs from ``to_plain`` on purpose: a cached output must keep its values (a NaN output is
    refused before it is cached), while a report must always be writable.
    """
    return _json_safe(to_plain(value))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(float(value))
    if value is None or isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return repr(value)


def short_repr(value: Any, limit: int = 120) -> str:
    """``repr(value)`` in at most about ``limit`` characters; a long text is cut inside its quotes."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[: limit - 1] + "…")
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

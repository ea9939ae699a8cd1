"""What a behaviour diff is made of: one :class:`Change` per way an output differs.

Shared by the diff engine and the per-input checks (`within`), so it sits in the case pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
ROOT = ""  # the path of an output that is not a mapping


@dataclass(frozen=True)
class FailedOutput:
    """Stands in for the output of an input the model gave no usable answer for (it raised, say)."""

    message: str

    def __repr__(self) -> str:
        return f"<no output: {self.message}>"


@dataclass(frozen=True)
class Change:
    """One way an output differs: label, number, text, structure, type, missing, error or length."""

    kind: str
    path: str
    before: Any
    after: Any
    delta: float | None = None

    def describe(self) -> str:
        where = self.path or "output"
        if self.kind == "label":
            return f"{where} flipped {self.before!r} → {self.after!r}"
        if self.kind == "number":
            if self.delta is None or not math.isfinite(self.delta):
                return f"{where} {_short(self.before)} → {_short(self.after)} (non-finite)"
            return (
                f"{where} moved by {self.delta:.4g} ({_short(self.before)} → {_short(self.after)})"
            )
        if self.kind == "text":
            return f"{where} text changed: {_short(self.before)} → {_short(self.after)}"
        if self.kind == "missing":
            side = "candidate" if self.after is MISSING else "known-good"
            return f"{where} missing in the {side} output"
        if self.kind == "type":
            return (
                f"{where} type changed {type(self.before).__name__} → {type(self.after).__name__}"
            )
        if self.kind == "error":
            side, failed = (
                ("known-good", self.before)
                if isinstance(self.before, FailedOutput)
                else ("candidate", self.after)
            )
            return f"no {side} output: {failed.message}"
        if self.kind == "length":
            side = "candidate" if self.after is MISSING else "known-good"
            return f"no {side} output for this input (outputs of different length)"
        return f"{where} changed: {_short(self.before)} → {_short(self.after)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "before": None if self.before is MISSING else _jsonable(self.before),
            "after": None if self.after is MISSING else _jsonable(self.after),
            "delta": _jsonable(self.delta),
        }


@dataclass
class FieldSummary:
    """Per-field statistics: how many inputs changed and, for numbers, by how much."""

    field: str
    kind: str  # label, number, vector, text, other
    changed: int
    max_abs: float | None = None
    mean_abs: float | None = None
    non_finite: int = 0


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if item is not None and getattr(value, "shape", None) == () else value


def _jsonable(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    tolist = getattr(value, "tolist", None)
    return _jsonable(tolist()) if tolist is not None else repr(value)


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = repr(_plain(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""What a behaviour diff is made of: one :class:`Change` per way an output differs.

Shared by the diff engine and the per-input checks (`within`), so it sits in the case pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pytest_airecovery.cases.plain import python_value, short_repr, to_jsonable

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
            "before": None if self.before is MISSING else to_jsonable(self.before),
            "after": None if self.after is MISSING else to_jsonable(self.after),
            "delta": to_jsonable(self.delta),
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


def _short(value: Any) -> str:
    # A diff line shows two values side by side: numbers to 4 digits, the rest in 60 characters.
    return f"{value:.4g}" if isinstance(value, float) else short_repr(python_value(value), 60)

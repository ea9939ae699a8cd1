"""The one numeric comparison: two values, numbers at any depth compared within a tolerance.

``diff_outputs`` (for fields that are not flat numbers or vectors), ``BehaviourDiff.assert_within``,
the case-file check ``matches_known_good`` (through ``diff_outputs``) and ``within`` all decide
"did this number move too far" here. The engine's numpy fast path for flat numeric columns
applies the same rule, vectorised (``tests/test_diff_compare.py`` checks that both agree):

* a number moved when ``|after - before| > max(abs, rel * |before|)``;
* NaN equals NaN and an infinity equals itself; any other change to or from NaN or an infinity
  is a move, whatever the tolerance;
* labels (bools), text and everything that is not a number compare exactly.

Pure Python and cheap to import: the per-input checks use it without numpy or deepdiff.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_airecovery.cases.changes import MISSING, Change, FailedOutput
from pytest_airecovery.cases.plain import python_value

MAX_DEPTH = 64  # nesting compared item by item; anything deeper compares with ==


@dataclass(frozen=True)
class Tolerance:
    """How far a number may move: ``max(abs, rel * |expected|)``. Both must be finite and ≥ 0."""

    abs: float = 0.0
    rel: float = 0.0

    def __post_init__(self) -> None:
        for name in ("abs", "rel"):
            problem = threshold_problem(getattr(self, name), minimum=0.0)
            if problem:
                raise ValueError(f"tolerance {name}: {problem}")

    def limit(self, expected: float) -> float:
        return max(self.abs, self.rel * abs(expected))

    def text(self, expected: float) -> str:
        return f"{self.limit(expected):g}"


def threshold_problem(value: Any, *, minimum: float | None = None) -> str | None:
    """Why ``value`` cannot be a threshold (a bound or a tolerance), or ``None`` when it can.

    A NaN threshold makes every comparison false, so ``x > max`` never fires and the check passes
    whatever was measured; an infinite one checks nothing. Neither is ever a threshold.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not _is_number(value):
        return f"expected a number, got {type(value).__name__}"
    number = float(value)
    if math.isnan(number):
        return "NaN is never a threshold"
    if math.isinf(number):
        return f"{number} is not a usable threshold (give a finite number)"
    if minimum is not None and number < minimum:
        return f"{value} is below the minimum of {minimum:g}"
    return None


def is_number(value: Any) -> bool:
    """Python and numpy numbers alike; bools are labels, not numbers."""
    return not isinstance(value, bool) and (isinstance(value, (int, float)) or _is_number(value))


def _is_number(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and type(value).__name__ != "bool_"


EXACT = Tolerance()


def number_moved(before: float, after: float, limit: float) -> bool:
    """The scalar rule: beyond ``limit``, or a change to or from NaN / infinity."""
    if before == after or (math.isnan(before) and math.isnan(after)):
        return False
    delta = abs(after - before)
    return not math.isfinite(delta) or delta > limit


@dataclass
class Comparison:
    """The changes beyond the tolerance, and statistics over every pair of numbers compared."""

    changes: list[Change] = field(default_factory=list)
    numbers: int = 0  # pairs of numbers compared
    max_abs: float | None = None  # largest |after - before| of a finite pair, moved or not
    non_finite_moves: int = 0  # numbers that changed to or from NaN or an infinity

    def __bool__(self) -> bool:
        """True when something changed beyond the tolerance."""
        return bool(self.changes)

    @property
    def only_numbers(self) -> bool:
        return all(change.kind == "number" for change in self.changes)

    def add(self, other: Comparison) -> None:
        self.changes.extend(other.changes)
        self.numbers += other.numbers
        self.non_finite_moves += other.non_finite_moves
        if other.max_abs is not None:
            self.max_abs = (
                other.max_abs if self.max_abs is None else max(self.max_abs, other.max_abs)
            )


def compare(before: Any, after: Any, tolerance: Tolerance = EXACT, path: str = "") -> Comparison:
    """Compare two values; numbers at any depth (lists, mappings, nested) within ``tolerance``.

    ``before`` is the expected side (the known-good output, or a check's value): a relative
    tolerance is taken of it. Paths read ``probs['cat']``, ``scores[2]``.
    """
    found = Comparison()
    _walk(before, after, tolerance, path, found, 0)
    return found


def _walk(
    before: Any, after: Any, tolerance: Tolerance, path: str, found: Comparison, depth: int
) -> None:
    before, after = python_value(before), python_value(after)
    if before is MISSING or after is MISSING:
        found.changes.append(Change("missing", path, before, after))
    elif isinstance(before, FailedOutput) or isinstance(after, FailedOutput):
        if before != after:
            found.changes.append(Change("error", path, before, after))
    elif is_number(before) and is_number(after):
        _numbers(float(before), float(after), tolerance, path, found, (before, after))
    elif isinstance(before, str) and isinstance(after, str):
        if before != after:
            found.changes.append(Change("text", path, before, after))
    elif depth >= MAX_DEPTH:
        if not _same(before, after):
            found.changes.append(Change("structure", path, before, after))
    elif isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = list(before) + [key for key in after if key not in before]
        for key in keys:
            _walk(
                before.get(key, MISSING),
                after.get(key, MISSING),
                tolerance,
                f"{path}[{key!r}]",
                found,
                depth + 1,
            )
    elif isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)):
        for index in range(max(len(before), len(after))):
            a = before[index] if index < len(before) else MISSING
            b = after[index] if index < len(after) else MISSING
            _walk(a, b, tolerance, f"{path}[{index}]", found, depth + 1)
    elif type(before) is not type(after):
        found.changes.append(Change("type", path, before, after))
    elif not _same(before, after):
        found.changes.append(Change("structure", path, before, after))


def _numbers(
    a: float, b: float, tolerance: Tolerance, path: str, found: Comparison, shown: tuple[Any, Any]
) -> None:
    found.numbers += 1
    delta = abs(b - a) if not (math.isnan(a) and math.isnan(b)) and a != b else 0.0
    if math.isfinite(delta):
        found.max_abs = delta if found.max_abs is None else max(found.max_abs, delta)
    if not number_moved(a, b, tolerance.limit(a) if math.isfinite(a) else tolerance.abs):
        return
    if not math.isfinite(delta):
        found.non_finite_moves += 1
        delta = math.inf
    found.changes.append(Change("number", path, shown[0], shown[1], delta))


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an odd __eq__ (or a too-deep value) is a difference, not a crash
        return False


def outside_bounds(
    what: str, measured: float, bounds: Mapping[str, Any], detail: str = ""
) -> str | None:
    """Why ``measured`` is outside ``bounds`` (``min`` / ``max``), or ``None`` when it is inside.

    Fails closed: a NaN measurement, or a bound that is not a finite number, is a failure.
    """
    for name in ("min", "max"):
        if name in bounds:
            problem = threshold_problem(bounds[name])
            if problem:
                return f"{what}: the {name} bound {bounds[name]!r} is unusable: {problem}"
    if math.isnan(measured):
        return f"{what} is NaN{detail}"
    if "max" in bounds and measured > bounds["max"]:
        return f"{what} {measured:.4f}{detail} is above the maximum {bounds['max']}"
    if "min" in bounds and measured < bounds["min"]:
        return f"{what} {measured:.4f}{detail} is below the minimum {bounds['min']}"
    return None


def finite_numbers(*keys: str, non_negative: tuple[str, ...] = ()) -> Any:
    """A check-argument validator: each of ``keys`` present is a finite number (≥ 0 if ``non_negative``).

    Returns ``(key, message)`` for the first unusable one; a ``{from: column}`` value is read per
    row and judged then.
    """

    def validate(arg: Any) -> tuple[str, str] | None:
        if not isinstance(arg, Mapping):
            return None
        for key in keys:
            value = arg.get(key)
            if value is None or isinstance(value, Mapping) and set(value) == {"from"}:
                continue
            problem = threshold_problem(value, minimum=0.0 if key in non_negative else None)
            if problem:
                return key, problem
        return None

    return validate

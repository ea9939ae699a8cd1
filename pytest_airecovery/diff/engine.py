"""The behavioural diff engine: how a candidate model's outputs differ from the known-good ones.

Outputs are compared field by field. Each field of the batch becomes one column per side,
extracted once; labels and numbers (scalars or fixed-length vectors such as ``probs``) are then
compared in numpy, and only values that are neither (nested dicts, ragged lists, mixed types) are
compared pair by pair, with the deep comparison of :mod:`.compare` (numbers at any depth within
the tolerance) run only on the pairs that are not equal. Per-input change
descriptions are built lazily, so a diff of 100,000 outputs costs little more than the numpy
conversion when few inputs changed.

Bad input is a finding, never a crash: outputs of another length, type or shape, missing keys and
NaN or infinite values all become differences.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from pytest_airecovery.cases.changes import (
    MISSING,
    ROOT,
    Change,
    FailedOutput,
    FieldSummary,
)
from pytest_airecovery.cases.compare import Tolerance, compare, threshold_problem
from pytest_airecovery.cases.plain import python_value

if TYPE_CHECKING:
    from pytest_airecovery.diff.result import BehaviourDiff

DEFAULT_LABEL_FIELD = "label"


class _FieldResult:
    """One field compared over all inputs: a changed mask plus what is needed to describe a row."""

    def __init__(self, field: str, kind: str, n: int) -> None:
        import numpy as np

        self.field = field
        self.kind = kind
        self.changed = np.zeros(n, dtype=bool)
        self.before: Any = None
        self.after: Any = None
        self.delta: Any = None  # |after - before| per row (vector fields: the largest element)
        self.where: Any = None  # vector fields: the element that moved most
        self.eager: dict[int, list[Change]] = {}  # rows described when compared (rare kinds)
        self.max_abs: float | None = None
        self.mean_abs: float | None = None
        self.non_finite = 0
        self.non_finite_moves = 0  # values that changed to or from NaN or infinity
        self.finite_sum, self.finite_count = 0.0, 0  # of |change| over finite changes, for means

    def changes(self, row: int) -> list[Change]:
        if row in self.eager:
            return self.eager[row]
        if not self.changed[row]:
            return []
        before, after = self.before[row], self.after[row]
        if self.kind == "label":
            return [Change("label", self.field, python_value(before), python_value(after))]
        if self.kind == "text":
            return [Change("text", self.field, before, after)]
        delta = float(self.delta[row])
        if self.kind == "vector":
            index = int(self.where[row])
            path = f"{self.field}[{index}]"
            return [Change("number", path, float(before[index]), float(after[index]), delta)]
        return [Change("number", self.field, float(before), float(after), delta)]

    def summary(self) -> FieldSummary:
        return FieldSummary(
            self.field,
            self.kind,
            int(self.changed.sum()),
            self.max_abs,
            self.mean_abs,
            self.non_finite,
        )


def diff_outputs(
    known_good: Sequence[Any],
    candidate: Sequence[Any],
    *,
    ids: Sequence[str] | None = None,
    tolerance: float | Mapping[str, float] | None = None,
    label_field: str = DEFAULT_LABEL_FIELD,
    known_good_ref: str = "known-good",
    candidate_ref: str = "candidate",
) -> BehaviourDiff:
    """Diff two output lists, one output per input, in the same input order."""
    return diff_runs(
        [known_good],
        [candidate],
        ids=ids,
        tolerance=tolerance,
        label_field=label_field,
        known_good_ref=known_good_ref,
        candidate_ref=candidate_ref,
    )


def diff_runs(
    known_good_runs: Sequence[Sequence[Any]],
    candidate_runs: Sequence[Sequence[Any]],
    *,
    ids: Sequence[str] | None = None,
    tolerance: float | Mapping[str, float] | None = None,
    label_field: str = DEFAULT_LABEL_FIELD,
    known_good_ref: str = "known-good",
    candidate_ref: str = "candidate",
) -> BehaviourDiff:
    """Diff models from n repeated runs each; a difference counts only beyond run-to-run variation.

    Numbers: the run means must differ by more than both models' own ranges (max - min over the
    runs) added together, plus the tolerance. Labels: the majority labels differ and neither
    model's majority label occurs in any run of the other. Text and other values: each model
    agrees with itself across its runs and the two disagree; an input where a model disagrees with
    itself is counted as unstable, not as changed.
    """
    import numpy as np

    if not known_good_runs or not candidate_runs:
        raise ValueError("each side needs at least one run of outputs")
    for field in list(tolerance) if isinstance(tolerance, Mapping) else [ROOT]:
        _tolerance_for(
            tolerance, field
        )  # every tolerance given is checked, not only those of fields present
    good = [run if isinstance(run, list) else list(run) for run in known_good_runs]
    cand = [run if isinstance(run, list) else list(run) for run in candidate_runs]
    n_good, n_cand = min(map(len, good)), min(map(len, cand))
    n = min(n_good, n_cand)
    good = [run if len(run) == n else run[:n] for run in good]  # no copy in the usual case
    cand = [run if len(run) == n else run[:n] for run in cand]
    # Both sides split into fields, or neither: a dict against a bare value is one root change.
    columns = _columns(good + cand, n)
    columns_good = {field: runs[: len(good)] for field, runs in columns.items()}
    columns_cand = {field: runs[len(good) :] for field, runs in columns.items()}
    repeated = len(good) > 1 or len(cand) > 1
    results: list[_FieldResult] = []
    unstable = np.zeros(n, dtype=bool)
    for field in sorted(set(columns_good) | set(columns_cand), key=_field_order(label_field)):
        col_good = columns_good.get(field) or [[MISSING] * n for _ in good]
        col_cand = columns_cand.get(field) or [[MISSING] * n for _ in cand]
        tol = _tolerance_for(tolerance, field)
        result = _compare_field(
            field, col_good, col_cand, n, tol, _label_role(field, label_field), unstable
        )
        results.append(result)
    from pytest_airecovery.diff.result import BehaviourDiff

    return BehaviourDiff(
        results,
        n_known_good=n_good,
        n_candidate=n_cand,
        ids=list(ids) if ids is not None else None,
        known_good_ref=known_good_ref,
        candidate_ref=candidate_ref,
        label_field=label_field if any(r.field == label_field for r in results) else ROOT,
        unstable=unstable if repeated else None,
        repeats=(len(good), len(cand)),
    )


def _field_order(label_field: str) -> Any:
    return lambda field: (field != label_field, field)


def _tolerance_for(tolerance: float | Mapping[str, float] | None, field: str) -> float:
    """The field's tolerance, for numbers at any depth of it; a NaN or negative one is refused."""
    if tolerance is None:
        return 0.0
    if isinstance(tolerance, Mapping):
        value, name = (
            (tolerance[field], field) if field in tolerance else (tolerance.get("*", 0.0), "*")
        )
    else:
        value, name = tolerance, None
    problem = threshold_problem(value, minimum=0.0)
    if problem:
        raise ValueError(f"tolerance{f' for {name!r}' if name is not None else ''}: {problem}")
    return float(value)


def _columns(runs: list[list[Any]], n: int) -> dict[str, list[list[Any]]]:
    """Field name → one column (a list of values) per run; MISSING where an output lacks the key."""
    if n == 0:
        return {}
    first = runs[0][0]
    if isinstance(first, dict) and first:
        keys = list(first)
        try:
            # Fast path: every output is a mapping with exactly the first output's keys.
            columns = {key: [list(map(itemgetter(key), run)) for run in runs] for key in keys}
            if all(sum(map(len, run)) == n * len(keys) for run in runs):
                return columns
        except (KeyError, TypeError, IndexError):
            pass
    if not all(isinstance(out, Mapping) for run in runs for out in run):
        return {ROOT: [list(run) for run in runs]}
    fields: dict[str, None] = {}
    for run in runs:
        for out in run:
            fields.update(dict.fromkeys(out))
    return {str(key): [[out.get(key, MISSING) for out in run] for run in runs] for key in fields}


def _label_role(field: str, label_field: str) -> str:
    """The label field may hold ints, bools or strings; a bare output is a label only if not text."""
    return "named" if field == label_field else "bare" if field == ROOT else ""


def _kind(values: list[list[Any]], label_role: str) -> str:
    first = next((column[0] for column in values if column), None)
    if first is not None and _scalar_kind(type(first)) == "sequence":
        # Vectors are validated by their numpy conversion (a ragged, nested or non-numeric
        # column falls back to pair-by-pair), so no scan over every row's type here.
        return "vector"
    types: set[type] = set()
    for column in values:
        types.update(map(type, column))
    if type(MISSING) in types or FailedOutput in types:
        return "other"
    kinds = {_scalar_kind(t) for t in types}
    if kinds <= {"str"}:
        return "label" if label_role == "named" else "text"
    if kinds <= {"int"} or kinds <= {"bool"}:
        return "label" if label_role else "number"
    if kinds <= {"int", "float"}:
        return "label" if label_role == "named" else "number"
    if kinds <= {"sequence"}:
        return "vector"
    return "other"


def _scalar_kind(cls: type) -> str:
    """Python and numpy scalar types alike: np.int64 is an int, np.float32 a float, np.bool_ a bool."""
    import numbers

    if cls is bool or cls.__name__ == "bool_":
        return "bool"
    if issubclass(cls, str):
        return "str"
    if issubclass(cls, numbers.Integral):
        return "int"
    if issubclass(cls, numbers.Real):
        return "float"
    if issubclass(cls, (list, tuple)) or cls.__name__ == "ndarray":
        return "sequence"
    return cls.__name__


def _compare_field(
    field: str,
    col_good: list[list[Any]],
    col_cand: list[list[Any]],
    n: int,
    tol: float,
    label_role: str,
    unstable: Any,
) -> _FieldResult:
    kind = _kind(col_good + col_cand, label_role)
    if (
        kind == "vector"
        and len(col_good) == len(col_cand) == 1
        and isinstance(col_good[0][0], (list, tuple))
    ):
        return _compare_list_vectors(field, col_good[0], col_cand[0], n, tol, unstable)
    if kind == "vector":
        arrays = _vectors(col_good + col_cand)
        if arrays is None:
            kind = "other"
        else:
            return _compare_numbers(
                field, "vector", arrays[: len(col_good)], arrays[len(col_good) :], n, tol
            )
    if kind == "number":
        import numpy as np

        to_array = [
            np.fromiter(column, dtype=np.float64, count=n) for column in col_good + col_cand
        ]
        return _compare_numbers(
            field, "number", to_array[: len(col_good)], to_array[len(col_good) :], n, tol
        )
    if kind == "label":
        return _compare_labels(field, col_good, col_cand, n)
    return _compare_generic(field, kind, col_good, col_cand, n, unstable, tol)


def _compare_list_vectors(
    field: str, good: list[Any], cand: list[Any], n: int, tol: float, unstable: Any
) -> _FieldResult:
    """Vectors held as Python lists (``probs``): only the rows whose lists differ go to numpy.

    List equality runs at C speed and most rows of two model versions' outputs are either equal
    or, when they differ, few; converting only those is far cheaper than converting every row.
    Equal rows contribute a change of exactly 0 to the statistics.
    """
    import numpy as np

    rows = np.flatnonzero(~np.fromiter(map(operator.eq, good, cand), dtype=bool, count=n))
    if rows.size == n:  # every row differs (two retrained models): no subset to cut
        part_good, part_cand = good, cand
    else:
        part_good, part_cand = [good[row] for row in rows], [cand[row] for row in rows]
    arrays = _vectors([part_good, part_cand]) if rows.size else None
    if (
        rows.size and arrays is None
    ):  # ragged, nested or not numeric: compare those rows pair by pair
        result = _compare_generic(
            field, "other", [part_good], [part_cand], rows.size, unstable[rows], tol
        )
        full = _FieldResult(field, "other", n)
        full.changed[rows] = result.changed
        full.eager = {int(rows[i]): changes for i, changes in result.eager.items()}
        full.before, full.after = good, cand
        return full
    result = _FieldResult(field, "vector", n)
    result.before, result.after = good, cand  # row-indexable: changes() reads before[row][index]
    result.delta = np.zeros(n)
    result.where = np.zeros(n, dtype=np.intp)
    width = arrays[0].shape[1] if arrays is not None else (len(good[0]) if n else 0)
    result.max_abs = result.mean_abs = 0.0
    if arrays is not None:
        part = _compare_numbers(field, "vector", [arrays[0]], [arrays[1]], rows.size, tol)
        result.changed[rows] = part.changed
        result.delta[rows], result.where[rows] = part.delta, part.where
        result.non_finite, result.non_finite_moves = part.non_finite, part.non_finite_moves
        count = part.finite_count + (n - rows.size) * width
        result.finite_sum, result.finite_count = part.finite_sum, count
        result.max_abs = part.max_abs
        result.mean_abs = part.finite_sum / count if count else math.nan
    return result


def _vectors(columns: list[list[Any]]) -> list[Any] | None:
    """Equal-length numeric lists → 2-D float arrays; ``None`` when ragged, nested or not numeric."""
    import numpy as np

    arrays = []
    for column in columns:
        try:
            # Straight to float64, numpy's fastest conversion. It also turns None into NaN, so a
            # column with any non-finite value is converted again with type discovery to tell a
            # NaN from something that is not a number. (Bools and numeric strings inside a vector
            # pass as their numeric values: documented.)
            array = np.array(column, dtype=np.float64)
        except (ValueError, TypeError):
            return None
        if array.ndim != 2:
            return None
        if not np.isfinite(array).all():
            try:
                discovered = np.asarray(column)
            except (ValueError, TypeError):
                return None
            if discovered.dtype.kind not in "fiu":
                return None
        arrays.append(array)
    if len({array.shape for array in arrays}) != 1:
        return None
    return arrays


def _compare_numbers(
    field: str, kind: str, good: list[Any], cand: list[Any], n: int, tol: float
) -> _FieldResult:
    import numpy as np

    result = _FieldResult(field, kind, n)
    before, spread_good = _centre(good)
    after, spread_cand = _centre(cand)
    threshold: Any = tol
    for spread in (spread_good, spread_cand):
        if spread is not None:
            threshold = threshold + spread
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.abs(after - before)
        moved = delta > threshold
        finite = np.isfinite(delta)
        all_finite = bool(
            finite.all()
        )  # the common case: a finite delta means both sides are finite
        if not all_finite:
            odd = np.isnan(delta)  # a NaN on either side, or inf - inf
            same = (before == after) | (np.isnan(before) & np.isnan(after))
            moved |= odd & ~same
            result.non_finite = int((~np.isfinite(before)).sum() + (~np.isfinite(after)).sum())
            result.non_finite_moves = int((moved & ~finite).sum())
    if kind == "vector":
        result.changed = moved.any(axis=1)
        # Only changed rows need the element that moved most: few of them, usually.
        rows = np.flatnonzero(result.changed)
        picked = delta[rows]
        if not all_finite:
            picked = np.where(np.isfinite(picked), picked, -1.0)
            picked = np.where(moved[rows] & ~finite[rows], np.inf, picked)  # show a non-finite move
        result.where = np.zeros(n, dtype=np.intp)
        result.where[rows] = picked.argmax(axis=1) if rows.size else 0
        result.delta = np.zeros(n)
        result.delta[rows] = delta[rows, result.where[rows]]
    else:
        result.changed = moved
        result.delta = delta
    result.before, result.after = before, after
    if all_finite:
        result.finite_sum, result.finite_count = float(delta.sum()), int(delta.size)
        result.max_abs = float(delta.max()) if delta.size else None
    elif finite.any():
        kept = delta[finite]
        result.finite_sum, result.finite_count, result.max_abs = (
            float(kept.sum()),
            int(kept.size),
            float(kept.max()),
        )
    else:
        result.max_abs = math.nan
    if result.max_abs is not None:
        result.mean_abs = (
            result.finite_sum / result.finite_count if result.finite_count else math.nan
        )
    return result


def _centre(arrays: list[Any]) -> tuple[Any, Any]:
    """The mean of repeated runs and their range, max - min (``None`` for one run).

    The range, not a standard error: a handful of runs says little about a distribution, and a
    flaky model must not make a flaky test, so only a move larger than both ranges together counts.
    """
    import numpy as np

    if len(arrays) == 1:
        return arrays[0], None
    stacked = np.stack(arrays)
    with np.errstate(invalid="ignore"):
        mean = stacked.mean(axis=0)
        spread = stacked.max(axis=0) - stacked.min(axis=0)
    return mean, np.nan_to_num(spread, nan=0.0)


def _compare_labels(
    field: str, col_good: list[list[Any]], col_cand: list[list[Any]], n: int
) -> _FieldResult:
    import numpy as np

    result = _FieldResult(field, "label", n)
    if len(col_good) == 1 and len(col_cand) == 1:
        before, after = np.asarray(col_good[0]), np.asarray(col_cand[0])
        if before.dtype.kind != after.dtype.kind:  # int vs bool labels, say: compare as objects
            before, after = np.array(col_good[0], dtype=object), np.array(col_cand[0], dtype=object)
        result.changed = np.asarray(before != after, dtype=bool).reshape(n)
        if before.dtype.kind in "fO":  # NaN labels: the same on both sides is no flip
            for row in np.flatnonzero(result.changed):
                result.changed[row] = not _same(python_value(before[row]), python_value(after[row]))
        result.before, result.after = before, after
        return result
    # Repeated runs: majority labels, and the labels each model ever gave.
    majority_good, seen_good = _majorities(col_good, n)
    majority_cand, seen_cand = _majorities(col_cand, n)
    for index in range(n):
        a, b = majority_good[index], majority_cand[index]
        result.changed[index] = a != b and a not in seen_cand[index] and b not in seen_good[index]
    result.before, result.after = majority_good, majority_cand
    return result


def _majorities(columns: list[list[Any]], n: int) -> tuple[list[Any], list[set[Any]]]:
    majorities, seen = [], []
    for row in range(n):
        counts = Counter(column[row] for column in columns)
        majorities.append(counts.most_common(1)[0][0])
        seen.append(set(counts))
    return majorities, seen


def _compare_generic(
    field: str,
    kind: str,
    col_good: list[list[Any]],
    col_cand: list[list[Any]],
    n: int,
    unstable: Any,
    tol: float,
) -> _FieldResult:
    """Text, nested and mixed values: equality pair by pair, the deep comparison only where unequal.

    Numbers inside (``{label: p}`` probabilities, nested scores) move within ``tol`` like flat
    ones; ``max_abs`` and the non-finite count cover every number compared, so
    ``assert_within`` can judge the field.
    """
    result = _FieldResult(field, kind, n)
    first_good, first_cand = col_good[0], col_cand[0]
    result.before, result.after = first_good, first_cand
    tolerance = Tolerance(abs=tol)
    for row in range(n):
        a, b = first_good[row], first_cand[row]
        if _same(a, b):
            continue
        if any(compare(a, column[row], tolerance) for column in col_good[1:]) or any(
            compare(b, column[row], tolerance) for column in col_cand[1:]
        ):
            unstable[row] = True  # the model disagrees with itself here: no verdict
            continue
        found = compare(a, b, tolerance, field)
        if found.max_abs is not None:
            result.max_abs = (
                found.max_abs if result.max_abs is None else max(result.max_abs, found.max_abs)
            )
        result.non_finite_moves += found.non_finite_moves
        if found.changes:
            result.changed[row] = True
            result.eager[row] = found.changes
    return result


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an odd __eq__ makes the pair a difference, not a crash
        return False

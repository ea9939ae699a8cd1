"""The behavioural diff engine: how a candidate model's outputs differ from the known-good ones.

Outputs are compared field by field. Each field of the batch becomes one column per side,
extracted once; labels and numbers (scalars or fixed-length vectors such as ``probs``) are then
compared in numpy, and only values that are neither (nested dicts, ragged lists, mixed types) are
compared pair by pair, with deepdiff run only on the pairs that are not equal. Per-input change
descriptions are built lazily, so a diff of 100,000 outputs costs little more than the numpy
conversion when few inputs changed.

Bad input is a finding, never a crash: outputs of another length, type or shape, missing keys and
NaN or infinite values all become differences.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from pytest_airecovery.diff.changes import MISSING, ROOT, Change, FailedOutput, FieldSummary, _plain

if TYPE_CHECKING:
    from pytest_airecovery.diff.result import BehaviourDiff

DEFAULT_LABEL_FIELD = "label"
_NUMBER_TYPES = (int, float)


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

    def changes(self, row: int) -> list[Change]:
        if row in self.eager:
            return self.eager[row]
        if not self.changed[row]:
            return []
        before, after = self.before[row], self.after[row]
        if self.kind == "label":
            return [Change("label", self.field, _plain(before), _plain(after))]
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
            self.field, self.kind, int(self.changed.sum()), self.max_abs, self.mean_abs, self.non_finite
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
    good = [list(run) for run in known_good_runs]
    cand = [list(run) for run in candidate_runs]
    n_good, n_cand = min(map(len, good)), min(map(len, cand))
    n = min(n_good, n_cand)
    good = [run[:n] for run in good]
    cand = [run[:n] for run in cand]
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
        result = _compare_field(field, col_good, col_cand, n, tol, _label_role(field, label_field), unstable)
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
    if tolerance is None:
        return 0.0
    if isinstance(tolerance, Mapping):
        return float(tolerance.get(field, tolerance.get("*", 0.0)))
    return float(tolerance)


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
    types: set[type] = set()
    for column in values:
        types.update(map(type, column))
    if type(MISSING) in types or FailedOutput in types:
        return "other"
    if types <= {str}:
        return "label" if label_role == "named" else "text"
    if types <= {int} or types <= {bool}:
        return "label" if label_role else "number"
    if types <= {int, float}:
        return "number"
    if types <= {list, tuple}:
        return "vector"
    return "other"


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
    if kind == "vector":
        arrays = _vectors(col_good + col_cand)
        if arrays is None:
            kind = "other"
        else:
            return _compare_numbers(field, "vector", arrays[: len(col_good)], arrays[len(col_good) :], n, tol)
    if kind == "number":
        import numpy as np

        to_array = [np.fromiter(column, dtype=np.float64, count=n) for column in col_good + col_cand]
        return _compare_numbers(field, "number", to_array[: len(col_good)], to_array[len(col_good) :], n, tol)
    if kind == "label":
        return _compare_labels(field, col_good, col_cand, n)
    return _compare_generic(field, kind, col_good, col_cand, n, unstable)


def _vectors(columns: list[list[Any]]) -> list[Any] | None:
    """Equal-length numeric lists → 2-D float arrays; ``None`` when ragged, nested or not numeric."""
    import numpy as np

    arrays = []
    for column in columns:
        try:
            array = np.asarray(column)
        except (ValueError, TypeError):
            return None
        if array.ndim != 2 or array.dtype.kind not in "fiu":
            return None
        arrays.append(array.astype(np.float64, copy=False))
    if len({array.shape for array in arrays}) != 1:
        return None
    return arrays


def _compare_numbers(field: str, kind: str, good: list[Any], cand: list[Any], n: int, tol: float) -> _FieldResult:
    import numpy as np

    result = _FieldResult(field, kind, n)
    before, spread_good = _centre(good)
    after, spread_cand = _centre(cand)
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.abs(after - before)
        threshold = tol + spread_good + spread_cand if spread_good is not None or spread_cand is not None else tol
        moved = delta > threshold
        odd = np.isnan(delta)  # a NaN on either side, or inf - inf
        if odd.any():
            same = (before == after) | (np.isnan(before) & np.isnan(after))
            moved |= odd & ~same
        finite = np.isfinite(delta)
    result.non_finite = int((~np.isfinite(before)).sum() + (~np.isfinite(after)).sum())
    result.non_finite_moves = int((moved & ~finite).sum())
    if kind == "vector":
        result.changed = moved.any(axis=1)
        masked = np.where(finite, delta, -1.0)
        masked = np.where(moved & ~finite, np.inf, masked)  # a non-finite move is the one to show
        result.where = masked.argmax(axis=1)
        result.delta = np.take_along_axis(delta, result.where[:, None], axis=1)[:, 0]
    else:
        result.changed = moved
        result.delta = delta
    result.before, result.after = before, after
    if finite.any():
        result.max_abs = float(delta[finite].max())
        result.mean_abs = float(delta[finite].mean())
    elif delta.size:
        result.max_abs = result.mean_abs = math.nan
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


def _compare_labels(field: str, col_good: list[list[Any]], col_cand: list[list[Any]], n: int) -> _FieldResult:
    import numpy as np

    result = _FieldResult(field, "label", n)
    if len(col_good) == 1 and len(col_cand) == 1:
        before, after = np.asarray(col_good[0]), np.asarray(col_cand[0])
        if before.dtype.kind != after.dtype.kind:  # int vs bool labels, say: compare as objects
            before, after = np.array(col_good[0], dtype=object), np.array(col_cand[0], dtype=object)
        result.changed = np.asarray(before != after, dtype=bool).reshape(n)
        result.before, result.after = before, after
        return result
    # Repeated runs: majority labels, and the labels each model ever gave.
    majority_good, seen_good = _majorities(col_good, n)
    majority_cand, seen_cand = _majorities(col_cand, n)
    for row in range(n):
        a, b = majority_good[row], majority_cand[row]
        result.changed[row] = a != b and a not in seen_cand[row] and b not in seen_good[row]
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
    field: str, kind: str, col_good: list[list[Any]], col_cand: list[list[Any]], n: int, unstable: Any
) -> _FieldResult:
    """Text, nested and mixed values: equality pair by pair, deepdiff only where unequal."""
    result = _FieldResult(field, kind, n)
    first_good, first_cand = col_good[0], col_cand[0]
    result.before, result.after = first_good, first_cand
    for row in range(n):
        a, b = first_good[row], first_cand[row]
        if _same(a, b):
            continue
        if any(not _same(a, column[row]) for column in col_good[1:]) or any(
            not _same(b, column[row]) for column in col_cand[1:]
        ):
            unstable[row] = True  # the model disagrees with itself here: no verdict
            continue
        result.changed[row] = True
        result.eager[row] = describe_pair(field, a, b)
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


def describe_pair(path: str, before: Any, after: Any) -> list[Change]:
    """The changes between two unequal values at ``path``."""
    if before is MISSING or after is MISSING:
        return [Change("missing", path, before, after)]
    if isinstance(before, FailedOutput) or isinstance(after, FailedOutput):
        return [Change("error", path, before, after)]
    if isinstance(before, str) and isinstance(after, str):
        return [Change("text", path, before, after)]
    numeric = _NUMBER_TYPES
    if isinstance(before, numeric) and isinstance(after, numeric) and not isinstance(before, bool) and not isinstance(after, bool):
        delta = abs(float(after) - float(before))
        return [Change("number", path, before, after, delta if math.isfinite(delta) else math.inf)]
    if type(before) is not type(after) and not (isinstance(before, Mapping) and isinstance(after, Mapping)):
        return [Change("type", path, before, after)]
    if isinstance(before, (Mapping, list, tuple)):
        return _deep_changes(path, before, after)
    return [Change("structure", path, before, after)]


def _deep_changes(path: str, before: Any, after: Any) -> list[Change]:
    from deepdiff import DeepDiff

    try:
        found = DeepDiff(before, after, ignore_nan_inequality=True, view="tree")
    except Exception:  # noqa: BLE001 - deepdiff failing on odd values is still a difference
        return [Change("structure", path, before, after)]
    changes: list[Change] = []
    for report_type, items in sorted(found.items()):
        for item in items:
            where = path + item.path(root="")
            if report_type.endswith("_removed"):
                changes.append(Change("missing", where, item.t1, MISSING))
            elif report_type.endswith("_added"):
                changes.append(Change("missing", where, MISSING, item.t2))
            elif report_type in ("type_changes", "values_changed"):
                changes.extend(describe_pair(where, item.t1, item.t2))
            else:
                changes.append(Change("structure", where, item.t1, item.t2))
    return changes or [Change("structure", path, before, after)]

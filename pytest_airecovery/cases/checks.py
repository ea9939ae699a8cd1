"""The check vocabulary: per-input checks and aggregate checks, and the registry users extend.

A per-input check is ``func(subject, arg, row) -> str | None``: ``subject`` is the model output
(or the part of it the check looks at), ``arg`` the value written in the case file, ``row`` gives
the row's other columns; it returns ``None`` when the output passes and a short description of the
mismatch otherwise. An aggregate check is ``func(subjects, arg, rows) -> (message | None, measured)``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pytest_airecovery.cases.compare import finite_numbers, outside_bounds
from pytest_airecovery.cases.plain import python_value, short_repr

InputCheckFn = Callable[[Any, Any, "Row"], "str | None"]
AggregateCheckFn = Callable[[list[Any], Any, "Rows"], "tuple[str | None, Any]"]


class Row:
    """One input row: its columns, its input, and (on demand) the known-good model's output."""

    def __init__(
        self, source: Any, index: int, reference: Callable[[int], Any] | None = None
    ) -> None:
        self._source = source
        self._reference = reference
        self.index = index

    def column(self, name: str) -> Any:
        return self._source.column(name, self.index)

    @property
    def input(self) -> Any:
        return self._source.value(self.index)

    def known_good_output(self) -> Any:
        """The known-good model's output for this input (batched and cached like any output)."""
        if self._reference is None:
            raise SubjectError("no known-good model output is available here")
        return self._reference(self.index)


class Rows:
    """All rows of a case, for aggregate checks."""

    def __init__(self, source: Any, reference: Callable[[int], Any] | None = None) -> None:
        self._source = source
        self._reference = reference

    def __len__(self) -> int:
        return len(self._source)

    def column(self, name: str) -> list[Any]:
        return [self._source.column(name, index) for index in range(len(self._source))]

    def known_good_outputs(self) -> list[Any]:
        if self._reference is None:
            raise SubjectError("no known-good model output is available here")
        return [self._reference(index) for index in range(len(self._source))]


@dataclass(frozen=True)
class CheckDef:
    name: str
    kind: str  # "input" or "aggregate"
    func: Callable[..., Any]
    default_field: str | None = None
    description: str = ""
    # At collection: ``validate(arg)`` returns ``(where in the argument, message)`` for an unusable one.
    validate: Callable[[Any], tuple[str, str] | None] | None = None


class CheckArgumentError(Exception):
    """A check's argument is unusable; ``where`` is the path inside the argument (``value``, ``max``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


class CheckRegistry:
    """Name → check. Built-ins are registered first; the ``pytest_airecovery_add_checks`` hook adds more."""

    def __init__(self) -> None:
        self._checks: dict[str, CheckDef] = {}

    def add(
        self,
        name: str,
        func: Callable[..., Any],
        *,
        kind: str = "input",
        default_field: str | None = None,
        description: str = "",
        validate: Callable[[Any], tuple[str, str] | None] | None = None,
    ) -> None:
        """Register a check; ``validate(arg)`` returns ``(where, message)`` for an unusable argument."""
        if kind not in ("input", "aggregate"):
            raise ValueError(f"check kind must be 'input' or 'aggregate', not {kind!r}")
        if name in ("field", "why"):
            raise ValueError(f"{name!r} is reserved for check options")
        self._checks[name] = CheckDef(name, kind, func, default_field, description, validate)

    def input_check(
        self, name: str, *, default_field: str | None = None
    ) -> Callable[[InputCheckFn], InputCheckFn]:
        def decorate(func: InputCheckFn) -> InputCheckFn:
            self.add(
                name,
                func,
                kind="input",
                default_field=default_field,
                description=func.__doc__ or "",
            )
            return func

        return decorate

    def aggregate_check(
        self, name: str, *, default_field: str | None = None
    ) -> Callable[[AggregateCheckFn], AggregateCheckFn]:
        def decorate(func: AggregateCheckFn) -> AggregateCheckFn:
            self.add(
                name,
                func,
                kind="aggregate",
                default_field=default_field,
                description=func.__doc__ or "",
            )
            return func

        return decorate

    def get(self, name: str) -> CheckDef | None:
        return self._checks.get(name)

    def names(self, kind: str) -> list[str]:
        return sorted(name for name, check in self._checks.items() if check.kind == kind)


# --- reading outputs -------------------------------------------------------------------------


class SubjectError(Exception):
    """The output has no part the check can look at (a missing field, say)."""


def subject_of(output: Any, field: str | None, default_field: str | None) -> Any:
    if field:
        value = output
        for part in field.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, Sequence) and not isinstance(value, str) and part.isdigit():
                index = int(part)
                if index >= len(value):
                    raise SubjectError(f"output has no item {index} at field {field!r}")
                value = value[index]
            else:
                raise SubjectError(f"output has no field {field!r}")
        return value
    if default_field and isinstance(output, Mapping) and default_field in output:
        return output[default_field]
    return output


def probability_of(output: Any, label: Any) -> float:
    probs = output.get("probs") if isinstance(output, Mapping) else None
    if probs is None:
        raise SubjectError("output has no 'probs' to read a probability from")
    if isinstance(probs, Mapping):
        value = probs.get(label, probs.get(str(label)))
        if value is None:
            raise SubjectError(f"output probs have no label {label!r}")
        return float(value)
    if isinstance(label, int) and 0 <= label < len(probs):
        return float(probs[label])
    raise SubjectError(f"output probs (a list of {len(probs)}) have no index {label!r}")


def resolve_value(arg: Any, row: Row) -> Any:
    """``{from: column}`` reads the value from the row's column; anything else is literal."""
    if isinstance(arg, Mapping) and set(arg) == {"from"}:
        return row.column(arg["from"])
    return arg


def same_label(got: Any, expected: Any) -> bool:
    """Labels compare by value: 7, 7.0 and "7" are one label; True is not 1; NaN is no label."""
    if _is_nan(got) or _is_nan(expected):
        return False  # a NaN read from a column must not match a "nan" text label
    if isinstance(got, bool) or isinstance(expected, bool):
        return got is expected if isinstance(got, bool) and isinstance(expected, bool) else False
    if got == expected:
        return True
    got_number, expected_number = _as_number(got), _as_number(expected)
    if got_number is not None and expected_number is not None:
        return got_number == expected_number
    return str(got) == str(expected)


def _is_nan(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, numbers.Integral)
        and math.isnan(value)
    )


def _as_number(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _text(subject: Any) -> str:
    if isinstance(subject, str):
        return subject
    raise SubjectError(f"expected text output, got {type(subject).__name__}; name a `field`")


def _strings(arg: Any) -> list[str]:
    return [arg] if isinstance(arg, str) else list(arg)


MAX_PATTERN_LENGTH = 1000  # characters of a `regex` / `not_regex` pattern


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    """The compiled pattern; a bad one raises SubjectError (collection names it first, with its line)."""
    problem = pattern_problem(pattern)
    if problem:
        raise SubjectError(problem)
    return re.compile(pattern)


def pattern_problem(pattern: Any) -> str | None:
    if not isinstance(pattern, str):
        return f"expected a regular expression (a string), got {type(pattern).__name__}"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return (
            f"the pattern has {len(pattern)} characters; at most {MAX_PATTERN_LENGTH} are allowed"
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    return None


# --- built-in per-input checks ---------------------------------------------------------------


def check_equals(subject: Any, arg: Any, row: Row) -> str | None:
    expected = resolve_value(arg, row)
    return None if subject == expected else f"expected {expected!r}, got {subject!r}"


def check_label(subject: Any, arg: Any, row: Row) -> str | None:
    expected = resolve_value(arg, row)
    return (
        None if same_label(subject, expected) else f"expected label {expected!r}, got {subject!r}"
    )


def check_label_from(subject: Any, arg: Any, row: Row) -> str | None:
    expected = row.column(arg)
    return (
        None
        if same_label(subject, expected)
        else f"expected label {expected!r} (from {arg}), got {subject!r}"
    )


def check_not_label(subject: Any, arg: Any, row: Row) -> str | None:
    forbidden = arg if isinstance(arg, list) else [arg]
    for label in forbidden:
        if same_label(subject, label):
            return f"expected any label but {label!r}, got {subject!r}"
    return None


def check_contains(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    missing = [part for part in _strings(arg) if part not in text]
    return (
        f"expected the output to contain {missing!r}, got {short_repr(text)}" if missing else None
    )


def check_not_contains(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    found = [part for part in _strings(arg) if part in text]
    return (
        f"expected the output not to contain {found!r}, got {short_repr(text)}" if found else None
    )


def check_regex(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    return (
        None
        if _compiled(arg).search(text)
        else f"expected a match for /{arg}/, got {short_repr(text)}"
    )


def check_not_regex(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    match = _compiled(arg).search(text)
    return (
        f"expected no match for /{arg}/, found {match.group(0)!r} in {short_repr(text)}"
        if match
        else None
    )


def check_json_schema(subject: Any, arg: Any, row: Row) -> str | None:
    import json

    import jsonschema

    from pytest_airecovery.cases.local_schema import SchemaProblem, checked_validator

    if isinstance(subject, str):
        try:
            subject = json.loads(subject)
        except (ValueError, RecursionError) as exc:
            return f"expected JSON output, got {short_repr(subject)} ({exc})"
    try:
        # Collection checked the schema already; a check called directly is held to the same rules.
        error = jsonschema.exceptions.best_match(checked_validator(arg).iter_errors(subject))
    except SchemaProblem as exc:
        raise SubjectError(str(exc)) from None
    except RecursionError:
        raise SubjectError("the output is nested too deeply to validate") from None
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"output does not match the schema at {where}: {error.message}"


def check_within(subject: Any, arg: Any, row: Row) -> str | None:
    """Numbers within ``max(abs, rel·|value|)`` of ``value``: a number, or numbers at any depth."""
    from pytest_airecovery.cases.compare import Tolerance, compare

    expected = python_value(resolve_value(arg["value"], row))
    if isinstance(expected, str):  # a number kept as text in a column ("0.5"): read as before
        expected = float(expected)
    tolerance = Tolerance(abs=arg.get("abs", 0.0), rel=arg.get("rel", 0.0))
    unusable = _non_finite(expected)
    if unusable:
        return f"the expected value {unusable}: it is never a threshold, so this check cannot pass"
    if _is_scalar_number(expected):
        got = _number(subject)
        found = compare(expected, got, tolerance)
        return f"expected {expected} ± {tolerance.text(expected)}, got {got}" if found else None
    found = compare(expected, python_value(subject), tolerance)
    if not found:
        return None
    shown = "; ".join(change.describe() for change in found.changes[:3])
    more = f" (+{len(found.changes) - 3} more)" if len(found.changes) > 3 else ""
    return f"{len(found.changes)} value(s) outside the tolerance ({_tolerance_text(tolerance)}): {shown}{more}"


def _tolerance_text(tolerance: Any) -> str:
    parts = [f"abs {tolerance.abs:g}"] if tolerance.abs or not tolerance.rel else []
    return ", ".join(parts + ([f"rel {tolerance.rel:g}"] if tolerance.rel else []))


def _is_scalar_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _non_finite(value: Any) -> str | None:
    """``is NaN`` / ``is inf`` (with where) if any number in ``value`` is not finite."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, where = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{'at ' + where + ' ' if where else ''}is {item}"
        if isinstance(item, Mapping):
            pending.extend((v, f"{where}[{k!r}]") for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            pending.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def check_prob_at_most(output: Any, arg: Any, row: Row) -> str | None:
    label = resolve_value(arg["label"], row)
    prob = probability_of(output, label)
    return None if prob <= arg["value"] else f"expected P({label}) ≤ {arg['value']}, got {prob:.4g}"


def check_prob_at_least(output: Any, arg: Any, row: Row) -> str | None:
    label = resolve_value(arg["label"], row)
    prob = probability_of(output, label)
    return None if prob >= arg["value"] else f"expected P({label}) ≥ {arg['value']}, got {prob:.4g}"


# --- built-in aggregate checks ---------------------------------------------------------------


def check_accuracy(subjects: list[Any], arg: Any, rows: Rows) -> tuple[str | None, Any]:
    if "label_from" in arg:
        expected = rows.column(arg["label_from"])
    elif "label" in arg:
        expected = [arg["label"]] * len(subjects)
    else:
        raise SubjectError("accuracy needs `label_from` (a column) or `label`")
    correct = sum(same_label(got, want) for got, want in zip(subjects, expected, strict=True))
    accuracy = correct / len(subjects)
    return outside_bounds(
        "accuracy", accuracy, {"min": arg["min"]}, f" ({correct}/{len(subjects)})"
    ), accuracy


def check_rate_of_label(subjects: list[Any], arg: Any, rows: Rows) -> tuple[str | None, Any]:
    label = arg["label"]
    hits = sum(same_label(got, label) for got in subjects)
    rate = hits / len(subjects)
    return outside_bounds(f"rate of label {label!r}", rate, arg, f" ({hits}/{len(subjects)})"), rate


def check_mean_score(subjects: list[Any], arg: Any, rows: Rows) -> tuple[str | None, Any]:
    values = [_number(subject) for subject in subjects]
    mean = math.fsum(values) / len(values)
    if not math.isfinite(mean):
        return f"mean score is {mean}", mean
    return outside_bounds("mean score", mean, arg, ""), mean


def _number(subject: Any) -> float:
    if isinstance(subject, bool) or not isinstance(subject, (int, float)):
        raise SubjectError(f"expected a number, got {type(subject).__name__}; name a `field`")
    return float(subject)


# --- argument validation at collection ------------------------------------------------------


def validate_argument(definition: CheckDef, arg: Any) -> None:
    """Raise :class:`CheckArgumentError` if ``arg`` can never make a meaningful check.

    The loader calls this for every check of a case file, so the error names the file, line and
    field. No check's argument may hold a NaN: every comparison with NaN is false, so a NaN bound
    (``max: .nan``) or value (``within: {value: .nan}``) would pass whatever the model did.
    """
    where = _nan_at(arg)
    if where is not None:
        raise CheckArgumentError(where, "NaN is never a threshold or an expected value")
    validate = getattr(definition, "validate", None)
    problem = validate(arg) if validate is not None else None
    if problem is not None:
        raise CheckArgumentError(*problem)


def _nan_at(value: Any) -> str | None:
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, where = pending.pop()
        if isinstance(item, float) and math.isnan(item):
            return where
        if isinstance(item, Mapping):
            pending.extend((v, f"{where}/{k}".lstrip("/")) for k, v in item.items())
        elif isinstance(item, list):
            pending.extend((v, f"{where}/{i}".lstrip("/")) for i, v in enumerate(item))
    return None


def _validate_pattern(arg: Any) -> tuple[str, str] | None:
    problem = pattern_problem(arg)
    return ("", problem) if problem else None


def _validate_schema(arg: Any) -> tuple[str, str] | None:
    from pytest_airecovery.cases.local_schema import SchemaProblem, check_schema

    try:
        check_schema(arg)
    except SchemaProblem as exc:
        return exc.where, exc.message
    return None


def builtin_registry() -> CheckRegistry:
    registry = CheckRegistry()
    bounds = finite_numbers("min", "max")
    for name, input_func, default_field, validate in (
        ("equals", check_equals, None, None),
        ("label", check_label, "label", None),
        ("label_from", check_label_from, "label", None),
        ("not_label", check_not_label, "label", None),
        ("contains", check_contains, "text", None),
        ("not_contains", check_not_contains, "text", None),
        ("regex", check_regex, "text", _validate_pattern),
        ("not_regex", check_not_regex, "text", _validate_pattern),
        ("json_schema", check_json_schema, None, _validate_schema),
        (
            "within",
            check_within,
            "score",
            finite_numbers("value", "abs", "rel", non_negative=("abs", "rel")),
        ),
        ("prob_at_most", check_prob_at_most, None, finite_numbers("value")),
        ("prob_at_least", check_prob_at_least, None, finite_numbers("value")),
    ):
        registry.add(
            name,
            input_func,
            kind="input",
            default_field=default_field,
            description=input_func.__doc__ or "",
            validate=validate,
        )
    for name, aggregate_func, default_field in (
        ("accuracy", check_accuracy, "label"),
        ("rate_of_label", check_rate_of_label, "label"),
        ("mean_score", check_mean_score, "score"),
    ):
        registry.add(
            name, aggregate_func, kind="aggregate", default_field=default_field, validate=bounds
        )
    # Known-good comparisons (matches_known_good, flip_rate) come from the diff engine's plugin
    # (pytest_airecovery_add_checks in diff/case_plugin.py).
    return registry


def columns_read(name: str, arg: Any) -> list[str]:
    """Columns a built-in check reads, so a missing column is a collection error, not a failure."""
    found: list[str] = []
    if name == "label_from" and isinstance(arg, str):
        found.append(arg)
    if isinstance(arg, Mapping):
        if set(arg) == {"from"}:
            found.append(arg["from"])
        for key in ("label_from",):
            if isinstance(arg.get(key), str):
                found.append(arg[key])
        for value in arg.values():
            if isinstance(value, Mapping) and set(value) == {"from"}:
                found.append(value["from"])
    return found

"""The check vocabulary: per-input checks and aggregate checks, and the registry users extend.

A per-input check is ``func(subject, arg, row) -> str | None``: ``subject`` is the model output
(or the part of it the check looks at), ``arg`` the value written in the case file, ``row`` gives
the row's other columns; it returns ``None`` when the output passes and a short description of the
mismatch otherwise. An aggregate check is ``func(subjects, arg, rows) -> (message | None, measured)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

InputCheckFn = Callable[[Any, Any, "Row"], "str | None"]
AggregateCheckFn = Callable[[list[Any], Any, "Rows"], "tuple[str | None, Any]"]


class Row:
    """One input row: its columns, its input, and (on demand) the known-good model's output."""

    def __init__(self, source: Any, index: int, reference: Callable[[int], Any] | None = None) -> None:
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
    ) -> None:
        if kind not in ("input", "aggregate"):
            raise ValueError(f"check kind must be 'input' or 'aggregate', not {kind!r}")
        if name in ("field", "why"):
            raise ValueError(f"{name!r} is reserved for check options")
        self._checks[name] = CheckDef(name, kind, func, default_field, description)

    def input_check(self, name: str, *, default_field: str | None = None) -> Callable[[InputCheckFn], InputCheckFn]:
        def decorate(func: InputCheckFn) -> InputCheckFn:
            self.add(name, func, kind="input", default_field=default_field, description=func.__doc__ or "")
            return func

        return decorate

    def aggregate_check(
        self, name: str, *, default_field: str | None = None
    ) -> Callable[[AggregateCheckFn], AggregateCheckFn]:
        def decorate(func: AggregateCheckFn) -> AggregateCheckFn:
            self.add(name, func, kind="aggregate", default_field=default_field, description=func.__doc__ or "")
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
    """Labels compare by value: 7, 7.0 and "7" are one label; True is not 1."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return got is expected if isinstance(got, bool) and isinstance(expected, bool) else False
    if got == expected:
        return True
    got_number, expected_number = _as_number(got), _as_number(expected)
    if got_number is not None and expected_number is not None:
        return got_number == expected_number
    return str(got) == str(expected)


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


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# --- built-in per-input checks ---------------------------------------------------------------


def check_equals(subject: Any, arg: Any, row: Row) -> str | None:
    expected = resolve_value(arg, row)
    return None if subject == expected else f"expected {expected!r}, got {subject!r}"


def check_label(subject: Any, arg: Any, row: Row) -> str | None:
    expected = resolve_value(arg, row)
    return None if same_label(subject, expected) else f"expected label {expected!r}, got {subject!r}"


def check_label_from(subject: Any, arg: Any, row: Row) -> str | None:
    expected = row.column(arg)
    return None if same_label(subject, expected) else f"expected label {expected!r} (from {arg}), got {subject!r}"


def check_not_label(subject: Any, arg: Any, row: Row) -> str | None:
    forbidden = arg if isinstance(arg, list) else [arg]
    for label in forbidden:
        if same_label(subject, label):
            return f"expected any label but {label!r}, got {subject!r}"
    return None


def check_contains(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    missing = [part for part in _strings(arg) if part not in text]
    return f"expected the output to contain {missing!r}, got {_short(text)}" if missing else None


def check_not_contains(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    found = [part for part in _strings(arg) if part in text]
    return f"expected the output not to contain {found!r}, got {_short(text)}" if found else None


def check_regex(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    return None if _compiled(arg).search(text) else f"expected a match for /{arg}/, got {_short(text)}"


def check_not_regex(subject: Any, arg: Any, row: Row) -> str | None:
    text = _text(subject)
    match = _compiled(arg).search(text)
    return f"expected no match for /{arg}/, found {match.group(0)!r} in {_short(text)}" if match else None


def check_json_schema(subject: Any, arg: Any, row: Row) -> str | None:
    import json

    import jsonschema

    if isinstance(subject, str):
        try:
            subject = json.loads(subject)
        except ValueError as exc:
            return f"expected JSON output, got {_short(subject)} ({exc})"
    validator = jsonschema.Draft202012Validator(arg)
    error = jsonschema.exceptions.best_match(validator.iter_errors(subject))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"output does not match the schema at {where}: {error.message}"


def check_within(subject: Any, arg: Any, row: Row) -> str | None:
    expected = float(resolve_value(arg["value"], row))
    got = _number(subject)
    tolerance = max(float(arg.get("abs", 0.0)), float(arg.get("rel", 0.0)) * abs(expected))
    if not math.isfinite(got) or abs(got - expected) > tolerance:
        return f"expected {expected} ± {tolerance:g}, got {got}"
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
    correct = sum(same_label(got, want) for got, want in zip(subjects, expected))
    accuracy = correct / len(subjects)
    if accuracy >= arg["min"]:
        return None, accuracy
    return f"accuracy {accuracy:.4f} ({correct}/{len(subjects)}) is below the minimum {arg['min']}", accuracy


def check_rate_of_label(subjects: list[Any], arg: Any, rows: Rows) -> tuple[str | None, Any]:
    label = arg["label"]
    hits = sum(same_label(got, label) for got in subjects)
    rate = hits / len(subjects)
    return _bounded(f"rate of label {label!r}", rate, arg, f" ({hits}/{len(subjects)})"), rate


def check_mean_score(subjects: list[Any], arg: Any, rows: Rows) -> tuple[str | None, Any]:
    values = [_number(subject) for subject in subjects]
    mean = math.fsum(values) / len(values)
    if not math.isfinite(mean):
        return f"mean score is {mean}", mean
    return _bounded("mean score", mean, arg, ""), mean


def _bounded(what: str, measured: float, arg: Mapping[str, Any], detail: str) -> str | None:
    if "max" in arg and measured > arg["max"]:
        return f"{what} {measured:.4f}{detail} is above the maximum {arg['max']}"
    if "min" in arg and measured < arg["min"]:
        return f"{what} {measured:.4f}{detail} is below the minimum {arg['min']}"
    return None


def _number(subject: Any) -> float:
    if isinstance(subject, bool) or not isinstance(subject, (int, float)):
        raise SubjectError(f"expected a number, got {type(subject).__name__}; name a `field`")
    return float(subject)


def _short(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def builtin_registry() -> CheckRegistry:
    registry = CheckRegistry()
    for name, input_func, default_field in (
        ("equals", check_equals, None),
        ("label", check_label, "label"),
        ("label_from", check_label_from, "label"),
        ("not_label", check_not_label, "label"),
        ("contains", check_contains, "text"),
        ("not_contains", check_not_contains, "text"),
        ("regex", check_regex, "text"),
        ("not_regex", check_not_regex, "text"),
        ("json_schema", check_json_schema, None),
        ("within", check_within, "score"),
        ("prob_at_most", check_prob_at_most, None),
        ("prob_at_least", check_prob_at_least, None),
    ):
        registry.add(name, input_func, kind="input", default_field=default_field, description=input_func.__doc__ or "")
    for name, aggregate_func, default_field in (
        ("accuracy", check_accuracy, "label"),
        ("rate_of_label", check_rate_of_label, "label"),
        ("mean_score", check_mean_score, "score"),
    ):
        registry.add(name, aggregate_func, kind="aggregate", default_field=default_field)
    # Known-good comparisons (matches_known_good, flip_rate) live with the diff engine.
    from pytest_airecovery.diff.checks import register_diff_checks

    register_diff_checks(registry)
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

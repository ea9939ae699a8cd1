"""Unit and property tests of the safe loader, the case-file loader and the built-in checks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_airecovery.cases.checks import (
    Row,
    Rows,
    SubjectError,
    builtin_registry,
    same_label,
    subject_of,
)
from pytest_airecovery.cases.loader import CaseFileError, field_name, load_case_file
from pytest_airecovery.cases.yamlpos import ALIAS_EXPANSION_BUDGET, LoadError, load_json, load_yaml

# Plain data as a case file may hold it. Keys avoid YAML 1.1's merge key and float edge cases
# (-0.0 and NaN compare unequal or lose their sign through text).
keys = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
).filter(lambda k: k != "<<")
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda x: x != 0.0 or math.copysign(1, x) > 0
    )
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
)
plain_data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, plain_data, max_size=5))
def test_yaml_round_trip_keeps_values_and_gives_every_path_a_line(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    loaded, positions = load_yaml(text)
    assert loaded == data
    line_count = text.count("\n") + 1

    def walk(value: Any, path: str) -> None:
        assert 1 <= positions[path] <= line_count
        prefix = f"{path}/" if path else ""
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, prefix + key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{prefix}{index}")

    walk(loaded, "")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys.filter(lambda k: "/" not in k), plain_data, max_size=5))
def test_json_round_trip(data: dict[str, Any]) -> None:
    loaded, positions = load_json(json.dumps(data, indent=2))
    assert loaded == data
    assert positions[""] == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_value_or_a_load_error(text: str) -> None:
    try:
        load_yaml(text)
    except LoadError as exc:
        assert exc.line >= 1


def test_timestamps_stay_text_and_merge_keys_work() -> None:
    data, positions = load_yaml(
        "base: &base {severity: SEV-2, at: 2026-03-14T14:23:00Z}\n"
        "incident:\n  <<: *base\n  severity: SEV-1\n"
    )
    assert data["incident"] == {"severity": "SEV-1", "at": "2026-03-14T14:23:00Z"}
    assert positions["incident/severity"] == 4


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(LoadError, match="recursive YAML alias"):
        load_yaml("a: &a [1, *a]\n")


def test_alias_budget_allows_ordinary_reuse() -> None:
    text = "d: &d {x: 1, y: [1, 2, 3]}\n" + "".join(f"k{i}: *d\n" for i in range(100))
    data, _ = load_yaml(text)
    assert data["k99"] == {"x": 1, "y": [1, 2, 3]}
    assert ALIAS_EXPANSION_BUDGET > 500


def test_field_names_read_like_paths() -> None:
    assert field_name("cases/3/expect/0/label") == "cases[3].expect[0].label"
    assert field_name("") == ""


# Case files built from fragments: any mix must load or fail as a CaseFileError, never crash.
incident_fragments = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["AI-1", "bad id", 42]),
        "title": st.sampled_from(["t", "", None]),
        "severity": st.sampled_from(["SEV-1", "SEV-5", "high"]),
        "root_cause": st.sampled_from([{"category": "other"}, {"category": "nope"}, "text"]),
    }
)
check_fragments = st.sampled_from(
    [
        {"label": 1},
        {"lable": 1},
        {"label_from": "want"},
        {"not_label": [1, 2]},
        {"regex": "["},
        {"within": {"value": 1}},
        {"accuracy": {"min": 0.5, "label": 1}},
        {},
        {"label": 1, "equals": 2},
        "label",
        {"prob_at_least": {"label": 1, "value": 2}},
    ]
)
case_fragments = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["c1", "c2", "c1"]),
        "inputs": st.sampled_from([[1, 2], [], {"file": "x.npz"}, "bad"]),
    },
    optional={
        "expect": st.lists(check_fragments, max_size=3),
        "expect_aggregate": st.lists(check_fragments, max_size=2),
        "columns": st.sampled_from([{"want": [1, 2]}, {"want": [1]}]),
    },
)
case_file_fragments = st.fixed_dictionaries(
    {
        "schema_version": st.sampled_from([1, 2]),
        "incident": incident_fragments,
        "models": st.sampled_from(
            [{"known_good": "m@1"}, {"known_good": "m"}, {"known_good": "m@1", "known_bad": "n@2"}]
        ),
        "cases": st.lists(case_fragments, max_size=3),
    }
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case_file_fragments)
def test_any_case_file_loads_or_names_line_and_field(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    registry = builtin_registry()
    try:
        case_file = load_case_file(path, shown_as="case.yaml", check_lookup=registry.get)
    except CaseFileError as exc:
        assert exc.line >= 1
        assert str(exc).startswith(f"case.yaml:{exc.line}: ")
    else:
        assert case_file.cases and all(
            case.expect or case.expect_aggregate for case in case_file.cases
        )


class _Source:
    def __init__(self, values: list[Any], columns: dict[str, list[Any]]) -> None:
        self.values, self.cols = values, columns

    def __len__(self) -> int:
        return len(self.values)

    def value(self, index: int) -> Any:
        return self.values[index]

    def column(self, name: str, index: int) -> Any:
        return self.cols[name][index]


def _input_check(
    name: str, subject: Any, arg: Any, columns: dict[str, list[Any]] | None = None
) -> str | None:
    check = builtin_registry().get(name)
    assert check is not None and check.kind == "input"
    return check.func(subject, arg, Row(_Source([None], columns or {}), 0))


@pytest.mark.parametrize(
    ("name", "subject", "arg", "passes"),
    [
        ("equals", {"a": 1}, {"a": 1}, True),
        ("equals", "x", "y", False),
        ("label", 3, 3, True),
        ("label", 3.0, "3", True),
        ("label", "toxic", "ok", False),
        ("not_label", 7, [7, 8], False),
        ("not_label", 3, 7, True),
        ("contains", "refund approved", ["refund", "approved"], True),
        ("contains", "refund", "password", False),
        ("not_contains", "your password is x", "password", False),
        ("regex", "order 1234", r"\d{4}", True),
        ("not_regex", "ssn 123-45-6789", r"\d{3}-\d{2}-\d{4}", False),
        ("json_schema", '{"a": 1}', {"type": "object", "required": ["a"]}, True),
        ("json_schema", {"a": "x"}, {"properties": {"a": {"type": "integer"}}}, False),
        ("json_schema", "not json", {"type": "object"}, False),
        ("within", 0.55, {"value": 0.5, "abs": 0.1}, True),
        ("within", 0.7, {"value": 0.5, "abs": 0.1}, False),
        ("within", 105.0, {"value": 100, "rel": 0.1}, True),
        ("prob_at_most", {"probs": [0.1, 0.9]}, {"label": 1, "value": 0.5}, False),
        ("prob_at_least", {"probs": {"ok": 0.8}}, {"label": "ok", "value": 0.5}, True),
    ],
)
def test_input_checks(name: str, subject: Any, arg: Any, passes: bool) -> None:
    message = _input_check(name, subject, arg)
    assert (message is None) is passes, message


def test_values_from_columns() -> None:
    assert _input_check("label", 2, {"from": "want"}, {"want": [2]}) is None
    assert (
        _input_check("label_from", 2, "want", {"want": [3]})
        == "expected label 3 (from want), got 2"
    )


def test_text_checks_on_structured_output_ask_for_a_field() -> None:
    with pytest.raises(SubjectError, match="name a `field`"):
        _input_check("contains", {"a": 1}, "x")


@pytest.mark.parametrize(
    ("name", "subjects", "arg", "columns", "passes", "measured"),
    [
        (
            "accuracy",
            [1, 2, 3, 3],
            {"min": 0.75, "label_from": "y"},
            {"y": [1, 2, 3, 4]},
            True,
            0.75,
        ),
        (
            "accuracy",
            [1, 2, 3, 3],
            {"min": 0.8, "label_from": "y"},
            {"y": [1, 2, 3, 4]},
            False,
            0.75,
        ),
        ("rate_of_label", [7, 7, 1, 2], {"label": 7, "max": 0.25}, {}, False, 0.5),
        ("rate_of_label", [7, 1, 1, 2], {"label": 7, "min": 0.2}, {}, True, 0.25),
        ("mean_score", [0.2, 0.4], {"min": 0.1, "max": 0.35}, {}, True, pytest.approx(0.3)),
        ("mean_score", [0.2, 0.6], {"max": 0.3}, {}, False, pytest.approx(0.4)),
    ],
)
def test_aggregate_checks(
    name: str,
    subjects: list[Any],
    arg: Any,
    columns: dict[str, list[Any]],
    passes: bool,
    measured: Any,
) -> None:
    check = builtin_registry().get(name)
    assert check is not None and check.kind == "aggregate"
    message, value = check.func(subjects, arg, Rows(_Source(subjects, columns)))
    assert (message is None) is passes, message
    assert value == measured


def test_subject_reads_fields_and_defaults() -> None:
    output = {"label": 3, "scores": [{"p": 0.2}]}
    assert subject_of(output, None, "label") == 3
    assert subject_of(output, "scores.0.p", None) == 0.2
    assert subject_of("plain", None, "label") == "plain"
    with pytest.raises(SubjectError, match="no field 'nope'"):
        subject_of(output, "nope", None)


def test_label_equality_rules() -> None:
    assert same_label(7, "7") and same_label(7.0, 7)
    assert not same_label(True, 1)
    assert not same_label("toxic", "ok")

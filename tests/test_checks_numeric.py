"""One numeric comparison (issue 11) and thresholds that cannot be bypassed (issue 13).

Tolerances apply to numbers at any depth in ``diff_outputs``, ``assert_within``,
``matches_known_good`` and ``within``; NaN (and a useless infinity) is never a threshold; the
flips table lines up for any label.
"""

from __future__ import annotations

import math
import textwrap

# Imported before pytester's in-process runs snapshot sys.modules.
import jsonschema  # noqa: F401
import pytest
from conftest import run, write_case
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_airecovery.cases.checks import (
    CheckArgumentError,
    Row,
    check_within,
    same_label,
    validate_argument,
)
from pytest_airecovery.cases.compare import Tolerance, compare, outside_bounds
from pytest_airecovery.diff import diff_outputs
from pytest_airecovery.diff.render import summary_lines
from pytest_airecovery.features import standalone_extensions


def literal(pattern: str) -> str:
    """fnmatch pattern where [ and ] are literal (field paths like cases[0]); * stays a wildcard."""
    return pattern.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]")


# --- diff_outputs and assert_within: numbers at any depth -----------------------------------------


def _probs(cat: float, dog: float, label: str = "cat") -> dict[str, object]:
    return {"label": label, "probs": {"cat": cat, "dog": dog}}


def test_tolerance_applies_inside_mappings_as_in_lists() -> None:
    good = [_probs(0.6, 0.4), _probs(0.3, 0.7, "dog")]
    cand = [_probs(0.62, 0.38), _probs(0.28, 0.72, "dog")]
    assert not diff_outputs(good, cand, tolerance=0.5)
    as_lists = diff_outputs(
        [{"label": o["label"], "probs": list(o["probs"].values())} for o in good],  # type: ignore[union-attr]
        [{"label": o["label"], "probs": list(o["probs"].values())} for o in cand],  # type: ignore[union-attr]
        tolerance=0.5,
    )
    assert not as_lists
    strict = diff_outputs(good, cand, tolerance=0.01)
    assert strict.changed_rows == [0, 1]
    change = strict.changes(0)[0]
    assert (change.kind, change.path) == ("number", "probs['cat']")
    assert change.delta == pytest.approx(0.02)


def test_tolerance_applies_at_any_depth_and_per_field() -> None:
    good = [{"scores": {"a": [0.1, {"b": 0.2}]}, "note": "x"}]
    cand = [{"scores": {"a": [0.15, {"b": 0.21}]}, "note": "x"}]
    assert not diff_outputs(good, cand, tolerance={"scores": 0.1})
    moved = diff_outputs(good, cand, tolerance={"scores": 0.02})
    assert [c.path for c in moved.changes(0)] == ["scores['a'][0]"]
    # Text inside is still compared exactly, whatever the tolerance.
    texted = diff_outputs(
        [{"m": {"t": "café", "p": 0.1}}], [{"m": {"t": "cafe", "p": 0.1}}], tolerance=1.0
    )
    assert [(c.kind, c.path) for c in texted.changes(0)] == [("text", "m['t']")]


def test_assert_within_judges_numbers_in_mappings() -> None:
    good = [_probs(0.6, 0.4), _probs(0.3, 0.7, "dog")]
    diff = diff_outputs(good, [_probs(0.62, 0.38), _probs(0.28, 0.72, "dog")])
    diff.assert_within({"probs": 0.5})
    with pytest.raises(AssertionError, match=r"probs: max abs change 0.02 is above 0.01"):
        diff.assert_within({"probs": 0.01})
    nan = diff_outputs(good, [_probs(math.nan, 0.4), good[1]])
    with pytest.raises(
        AssertionError, match=r"probs: 1 value\(s\) changed to or from NaN/infinity"
    ):
        nan.assert_within({"probs": 0.5})
    renamed = diff_outputs(good, [{"label": "cat", "probs": {"cat": 0.6, "fox": 0.4}}, good[1]])
    with pytest.raises(
        AssertionError,
        match=r"probs: 1 input\(s\) changed other than by numbers \(first: probs\['dog'\] missing",
    ):
        renamed.assert_within({"probs": 0.5})


@pytest.mark.parametrize("bad", [math.nan, -0.1, math.inf, "0.1"])
def test_a_tolerance_that_is_not_a_finite_non_negative_number_is_refused(bad: object) -> None:
    good, cand = [{"score": 0.1}], [{"score": 0.9}]
    with pytest.raises(ValueError, match="tolerance"):
        diff_outputs(good, cand, tolerance=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance for 'score'"):
        diff_outputs(good, cand, tolerance={"score": bad})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="tolerance for 'score'"):
        diff_outputs(good, cand).assert_within({"score": bad})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="tolerance for 'typo'"):
        diff_outputs(good, cand, tolerance={"typo": bad})  # type: ignore[dict-item]


finite_or_not = st.one_of(
    st.floats(min_value=-2, max_value=2, allow_nan=False, width=32),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1.0]),
)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(finite_or_not, finite_or_not, finite_or_not, finite_or_not),
        min_size=1,
        max_size=8,
    ),
    tol=st.sampled_from([0.0, 0.01, 0.5]),
)
@example(pairs=[(math.nan, 0.0, math.nan, 0.0), (math.inf, 1.0, math.inf, 1.0)], tol=0.0)
@example(pairs=[(0.1, 0.2, 0.35, 0.2)], tol=0.25)
def test_numpy_fast_path_and_deep_comparison_agree(
    pairs: list[tuple[float, ...]], tol: float
) -> None:
    """The engine's vectorised path (list vectors) and the deep path (mappings) change the same rows."""
    good_vec = [{"probs": [a, b]} for a, b, _, _ in pairs]
    cand_vec = [{"probs": [c, d]} for _, _, c, d in pairs]
    good_map = [{"probs": {"x": a, "y": b}} for a, b, _, _ in pairs]
    cand_map = [{"probs": {"x": c, "y": d}} for _, _, c, d in pairs]
    expected = [
        row for row, (a, b, c, d) in enumerate(pairs) if compare([a, b], [c, d], Tolerance(abs=tol))
    ]
    assert diff_outputs(good_vec, cand_vec, tolerance=tol).changed_rows == expected
    assert diff_outputs(good_map, cand_map, tolerance=tol).changed_rows == expected
    scalar_good = [{"score": a} for a, _, _, _ in pairs]
    scalar_cand = [{"score": c} for _, _, c, _ in pairs]
    scalar_expected = [
        row for row, (a, _, c, _) in enumerate(pairs) if compare(a, c, Tolerance(abs=tol))
    ]
    assert diff_outputs(scalar_good, scalar_cand, tolerance=tol).changed_rows == scalar_expected


# --- the flips table and accented text --------------------------------------------------------------


def test_flips_table_lines_up_for_labels_of_any_length_and_keeps_accents() -> None:
    good = [{"label": "café"}, {"label": "a"}, {"label": "a"}, {"label": "positive"}]
    cand = [{"label": "crème brûlée, très longue"}, {"label": "b"}, {"label": "b"}, {"label": "x"}]
    lines = summary_lines(diff_outputs(good, cand))
    rows = lines[lines.index("flips (known-good → candidate):") + 1 :][:3]
    assert len(rows) == 3
    assert len({row.index("→") for row in rows}) == 1, rows
    assert len({len(row) for row in rows}) == 1, rows  # the counts end in one column
    assert any("'café' → 'crème brûlée, très longue'" in row for row in rows)
    assert not any("\\x" in row or "\\u" in row for row in lines)


def test_flips_table_lines_up_wide_characters_by_display_width() -> None:
    from pytest_airecovery.diff.render import _width

    good = [{"label": "猫"}, {"label": "a"}, {"label": "a"}]
    cand = [{"label": "犬犬犬犬犬"}, {"label": "bbbbbbbbbbbbbbb"}, {"label": "bbbbbbbbbbbbbbb"}]
    lines = summary_lines(diff_outputs(good, cand))
    rows = lines[lines.index("flips (known-good → candidate):") + 1 :][:2]
    assert len({_width(row) for row in rows}) == 1, rows
    assert len({_width(row[: row.index("→")]) for row in rows}) == 1, rows


# --- within -----------------------------------------------------------------------------------------


class _Source:
    def __init__(self, columns: dict[str, list[object]]) -> None:
        self.columns = columns

    def column(self, name: str, index: int) -> object:
        return self.columns[name][index]

    def value(self, index: int) -> object:
        return index


def _row(**columns: object) -> Row:
    return Row(_Source({name: [value] for name, value in columns.items()}), 0)


def test_within_keeps_its_scalar_message() -> None:
    assert check_within(0.92, {"value": 0.9, "abs": 0.05}, _row()) is None
    assert check_within(0.1, {"value": 0.9, "abs": 0.05}, _row()) == "expected 0.9 ± 0.05, got 0.1"
    assert check_within(95.0, {"value": 100, "rel": 0.1}, _row()) is None
    assert (
        check_within(0.52, {"value": {"from": "target"}, "abs": 0.05}, _row(target="0.5")) is None
    )


def test_within_compares_numbers_at_any_depth_from_a_column() -> None:
    target = {"cat": 0.6, "dog": [0.4, 0.0]}
    arg = {"value": {"from": "target"}, "abs": 0.05}
    assert check_within({"cat": 0.62, "dog": [0.38, 0.01]}, arg, _row(target=target)) is None
    message = check_within({"cat": 0.7, "dog": [0.4, 0.0]}, arg, _row(target=target))
    assert (
        message is not None
        and "1 value(s) outside the tolerance (abs 0.05): ['cat'] moved by 0.1" in message
    )


@pytest.mark.parametrize("column", [math.nan, math.inf, {"cat": math.nan}, [0.1, math.nan]])
def test_a_nan_or_infinite_column_value_fails_within(column: object) -> None:
    """Before: |x - nan| > tol is False, so a NaN expected value passed every output."""
    subject = (
        0.5
        if not isinstance(column, (dict, list))
        else ({"cat": 0.5} if isinstance(column, dict) else [0.1, 0.5])
    )
    message = check_within(subject, {"value": {"from": "target"}, "abs": 0.1}, _row(target=column))
    assert message is not None and "never a threshold" in message


def test_nan_is_no_label() -> None:
    assert not same_label(math.nan, math.nan)
    assert not same_label("nan", math.nan)


def test_bounds_fail_closed() -> None:
    assert outside_bounds("rate", 0.5, {"max": math.nan}) is not None
    assert outside_bounds("rate", math.nan, {"max": 0.5}) is not None
    assert outside_bounds("rate", 0.5, {"min": 0.1, "max": 0.9}) is None


# --- collection: thresholds, patterns and schemas ------------------------------------------------


def _validate(name: str, arg: object) -> tuple[str, str]:
    definition = standalone_extensions().checks.get(name)
    assert definition is not None
    with pytest.raises(CheckArgumentError) as info:
        validate_argument(definition, arg)
    return info.value.where, info.value.message


@pytest.mark.parametrize(
    ("name", "arg", "where"),
    [
        ("within", {"value": math.nan}, "value"),
        ("within", {"value": 0.5, "abs": math.nan}, "abs"),
        ("within", {"value": math.inf, "abs": 0.1}, "value"),
        ("within", {"value": 0.5, "rel": math.inf}, "rel"),
        ("rate_of_label", {"label": 7, "max": math.nan}, "max"),
        ("mean_score", {"max": math.nan}, "max"),
        ("mean_score", {"min": -math.inf}, "min"),
        ("accuracy", {"min": math.nan, "label": 1}, "min"),
        ("flip_rate", {"max": math.nan}, "max"),
        ("matches_known_good", {"tolerance": math.nan}, "tolerance"),
        ("matches_known_good", {"tolerance": {"probs": math.inf}}, "tolerance/probs"),
        ("prob_at_most", {"label": 1, "value": math.nan}, "value"),
        ("equals", [1.0, math.nan], "1"),
    ],
)
def test_non_finite_thresholds_are_refused(name: str, arg: object, where: str) -> None:
    assert _validate(name, arg)[0] == where


def test_usable_arguments_pass_validation() -> None:
    registry = standalone_extensions().checks  # with the diff feature's checks
    for name, arg in [
        ("within", {"value": {"from": "target"}, "abs": 0.1}),
        ("within", {"value": -3.5}),
        ("mean_score", {"min": -1, "max": 2}),
        ("matches_known_good", {"tolerance": {"probs": 0.05, "*": 0}}),
        ("matches_known_good", True),
        ("regex", "^Sorry"),
        (
            "json_schema",
            {"$defs": {"a": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
        ),
    ]:
        definition = registry.get(name)
        assert definition is not None
        validate_argument(definition, arg)


def test_bad_patterns_and_schemas_are_refused() -> None:
    assert _validate("regex", "(unclosed")[1].startswith("invalid regular expression: missing )")
    assert "at most 1000" in _validate("not_regex", "a" * 1001)[1]
    assert _validate("json_schema", {"type": 5}) == (
        "type",
        "invalid JSON Schema: 5 is not valid under any of the given schemas",
    )
    where, message = _validate(
        "json_schema", {"properties": {"a": {"$ref": "https://example.invalid/s.json"}}}
    )
    assert where == "properties/a/$ref"
    assert "only references inside the schema are followed" in message


# --- the same through case files ------------------------------------------------------------------

CONFTEST = """
import math
from pytest_airecovery import Model

def pytest_airecovery_load_model(ref, config):
    family, _, version = ref.partition("@")
    move = {"good": 0.0, "near": 0.02, "far": 0.3}[version]
    def predict(batch):
        return [{"label": "cat", "score": 0.5 + move, "probs": {"cat": 0.6 + move, "dog": 0.4 - move}} for x in batch]
    return Model(predict, fingerprint=ref)
"""

INI = """
[pytest]
incident_candidates = pets@near
"""


def case_text(expect: str = "", aggregate: str = "", columns: str = "") -> str:
    text = textwrap.dedent(
        """\
        schema_version: 1
        incident: {id: AI-IR-77, title: pets, severity: SEV-3, root_cause: {category: configuration_error}}
        models: {known_good: pets@good, known_bad: pets@far}
        cases:
          - id: pets
            inputs: [1, 2]
        """
    )
    if columns:
        text += f"    columns: {columns}\n"
    if expect:
        text += f"    expect:\n      - {expect}\n"
    if aggregate:
        text += f"    expect_aggregate:\n      - {aggregate}\n"
    return text


@pytest.fixture
def pets(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.mkdir("incident_cases")
    return pytester


def test_matches_known_good_tolerance_applies_inside_mappings(pets: pytest.Pytester) -> None:
    write_case(pets, "AI-77.yaml", case_text("matches_known_good: {tolerance: 0.1}"))
    pets.runpytest("--incident-cases").assert_outcomes(passed=2)
    result = pets.runpytest("--incident-cases", "--incident-model", "pets@far")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([literal("*probs['cat'] moved by 0.3 (0.6 → 0.9)*")])
    write_case(
        pets, "AI-77.yaml", case_text("matches_known_good: {tolerance: {probs: 0.01, score: 0.5}}")
    )
    pets.runpytest("--incident-cases").assert_outcomes(failed=2)


@pytest.mark.parametrize(
    ("expect", "aggregate", "field"),
    [
        ("within: {value: .nan}", "", "cases[0].expect[0].within.value"),
        ("within: {value: 0.5, abs: .nan}", "", "cases[0].expect[0].within.abs"),
        (
            "",
            "rate_of_label: {label: cat, max: .nan}",
            "cases[0].expect_aggregate[0].rate_of_label.max",
        ),
        ("", "mean_score: {max: .nan}", "cases[0].expect_aggregate[0].mean_score.max"),
        ("", "mean_score: {max: .inf}", "cases[0].expect_aggregate[0].mean_score.max"),
        ("", "flip_rate: {max: .nan}", "cases[0].expect_aggregate[0].flip_rate.max"),
        (
            "matches_known_good: {tolerance: .nan}",
            "",
            "cases[0].expect[0].matches_known_good.tolerance",
        ),
    ],
)
def test_non_finite_thresholds_are_collection_errors(
    pets: pytest.Pytester, expect: str, aggregate: str, field: str
) -> None:
    """Before: each was accepted and its check passed against the far-off model."""
    write_case(pets, "AI-77.yaml", case_text(expect, aggregate))
    result = pets.runpytest("--incident-cases", "--incident-model", "pets@far")
    result.assert_outcomes(errors=1)
    line = 8
    result.stdout.fnmatch_lines([literal(f"*incident_cases/AI-77.yaml:{line}: {field}: *")])
    assert "Traceback" not in result.stdout.str()


def test_a_nan_column_value_fails_within(pets: pytest.Pytester) -> None:
    write_case(
        pets,
        "AI-77.yaml",
        case_text("within: {value: {from: target}, abs: 0.1}", columns="{target: [.nan, 0.5]}"),
    )
    result = pets.runpytest("--incident-cases")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the expected value is nan: it is never a threshold*"])


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        (
            'regex: "(unclosed"',
            "cases[0].expect[0].regex: invalid regular expression: missing ), unterminated subpattern*",
        ),
        (
            "not_regex: '[z-a]'",
            "cases[0].expect[0].not_regex: invalid regular expression: bad character range z-a*",
        ),
        (
            "json_schema: {type: 5}",
            "cases[0].expect[0].json_schema.type: invalid JSON Schema: 5 is not valid*",
        ),
        (
            "json_schema: {properties: {a: {minimum: x}}}",
            "cases[0].expect[0].json_schema.properties.a.minimum: invalid JSON Schema: 'x' is not of type 'number'*",
        ),
    ],
)
def test_bad_patterns_and_schemas_are_collection_errors(
    pets: pytest.Pytester, expect: str, message: str
) -> None:
    write_case(pets, "AI-77.yaml", case_text(expect))
    result = pets.runpytest("--incident-cases")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([literal(f"*incident_cases/AI-77.yaml:8: {message}")])
    assert "Traceback" not in result.stdout.str()


def test_collection_errors_hold_under_xdist(pets: pytest.Pytester) -> None:
    write_case(pets, "AI-77.yaml", case_text("within: {value: .nan}"))
    write_case(
        pets,
        "AI-78.yaml",
        case_text("matches_known_good: {tolerance: 0.5}").replace("AI-IR-77", "AI-IR-78"),
    )
    result = run(pets, "--incident-cases", "-n", "2")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [literal("*AI-77.yaml:8: cases[0].expect[0].within.value: NaN is never a threshold*")]
    )

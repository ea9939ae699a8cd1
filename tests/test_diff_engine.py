"""The behaviour diff engine: each kind of difference, bad input, repeated runs, properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.cases.changes import MISSING, FailedOutput
from pytest_airecovery.diff.engine import diff_outputs, diff_runs
from pytest_airecovery.diff.render import MAX_LINES, render


def classifier(label: int, score: float = 0.5, probs: list[float] | None = None) -> dict:
    return {"label": label, "score": score, "probs": probs if probs is not None else [0.1] * 10}


def kinds(diff, row: int) -> list[tuple[str, str]]:
    return [(change.kind, change.path) for change in diff.changes(row)]


def test_identical_outputs_have_no_diff() -> None:
    outputs = [classifier(i % 10) for i in range(50)]
    diff = diff_outputs(outputs, [dict(o) for o in outputs])
    assert not diff
    assert diff.flip_rate == 0.0
    assert diff.changed_rows == []
    diff.assert_no_changes()


def test_label_flip_is_reported_from_to_with_rate_and_table() -> None:
    good = [classifier(i % 10) for i in range(20)]
    cand = [dict(o) for o in good]
    cand[3] = classifier(7)
    cand[13] = classifier(7)
    cand[5] = classifier(1)
    diff = diff_outputs(good, cand, ids=[f"case[row-{i}]" for i in range(20)])
    assert diff.flip_count == 3
    assert diff.flip_rate == pytest.approx(3 / 20)
    assert diff.flips() == {(3, 7): 2, (5, 1): 1}
    assert diff.flips_into([7]) == 2
    assert kinds(diff, 3) == [("label", "label")]
    assert diff.changes(3)[0].describe() == "label flipped 3 → 7"
    assert diff.input_id(3) == "case[row-3]"
    with pytest.raises(AssertionError, match="2 input\\(s\\) flipped into 7"):
        diff.assert_no_flips_into(7)
    with pytest.raises(AssertionError, match="flip rate 0.1500"):
        diff.assert_flip_rate_at_most(0.1)
    diff.assert_flip_rate_at_most(0.15)


def test_scores_and_vectors_move_by_an_amount_and_tolerance_decides() -> None:
    good = [classifier(1, 0.5, [0.1] * 10) for _ in range(4)]
    cand = [classifier(1, 0.5, [0.1] * 10) for _ in range(4)]
    cand[1]["score"] = 0.75
    cand[2]["probs"] = [0.1] * 9 + [0.3]
    diff = diff_outputs(good, cand)
    assert diff.changed_rows == [1, 2]
    (score,) = diff.changes(1)
    assert (score.kind, score.path, score.delta) == ("number", "score", pytest.approx(0.25))
    (prob,) = diff.changes(2)
    assert (prob.kind, prob.path, prob.delta) == ("number", "probs[9]", pytest.approx(0.2))
    stats = {s.field: s for s in diff.field_summaries()}
    assert stats["score"].max_abs == pytest.approx(0.25)
    assert stats["score"].mean_abs == pytest.approx(0.25 / 4)
    assert stats["probs"].kind == "vector"
    diff.assert_within({"score": 0.3, "probs": 0.2 + 1e-9})
    with pytest.raises(AssertionError, match="score: max abs change 0.25 is above 0.1"):
        diff.assert_within({"score": 0.1})
    assert not diff_outputs(good, cand, tolerance={"score": 0.3, "probs": 0.25})
    assert diff_outputs(good, cand, tolerance=0.21).changed_rows == [1]


def test_structure_changes_name_their_paths_with_counts() -> None:
    good = [{"label": 1, "meta": {"tags": ["a", "b"], "lang": "en"}} for _ in range(3)]
    cand = [{"label": 1, "meta": {"tags": ["a", "b"], "lang": "en"}} for _ in range(3)]
    cand[0]["meta"]["lang"] = "de"
    cand[2]["meta"]["tags"].append("c")
    cand[2]["meta"]["lang"] = "de"
    diff = diff_outputs(good, cand)
    assert diff.changed_rows == [0, 2]
    assert diff.structure_paths() == {"meta['lang']": 2, "meta['tags'][2]": 1}
    assert ("missing", "meta['tags'][2]") in kinds(diff, 2)


def test_text_changes_are_text_not_flips() -> None:
    diff = diff_outputs(["I can't help.", "Sure."], ["I can't help with that.", "Sure."])
    assert diff.flip_count == 0
    assert kinds(diff, 0) == [("text", "")]
    assert "text changed" in diff.changes(0)[0].describe()
    moderation = diff_outputs([{"label": "toxic"}], [{"label": "ok"}])
    assert moderation.flips() == {("toxic", "ok"): 1}


def test_nan_and_inf_are_differences_unless_identical() -> None:
    good = [{"score": 0.5}, {"score": math.nan}, {"score": math.inf}, {"score": 1.0}]
    cand = [{"score": math.nan}, {"score": math.nan}, {"score": math.inf}, {"score": -math.inf}]
    diff = diff_outputs(good, cand)
    assert diff.changed_rows == [0, 3]
    assert "non-finite" in diff.changes(0)[0].describe()
    assert {s.field: s.non_finite for s in diff.field_summaries()}["score"] == 6
    with pytest.raises(AssertionError, match="score: 2 value\\(s\\) changed to or from NaN"):
        diff.assert_within({"score": 10.0})
    vectors = diff_outputs([{"p": [0.1, math.nan]}], [{"p": [0.1, 0.2]}])
    assert kinds(vectors, 0) == [("number", "p[1]")]


def test_shape_length_type_and_missing_keys_are_differences_not_crashes() -> None:
    good = [classifier(1), classifier(2), classifier(3), classifier(4)]
    cand = [
        classifier(1, probs=[0.1] * 9),
        {"label": 2, "probs": [0.1] * 10},
        {"label": "3", "score": 0.5, "probs": [0.1] * 10},
    ]
    diff = diff_outputs(good, cand)
    assert diff.n_inputs == 4 and diff.n_compared == 3
    assert ("missing", "probs[9]") in kinds(diff, 0)
    assert ("missing", "score") in kinds(diff, 1)
    assert ("type", "label") in kinds(diff, 2)
    assert kinds(diff, 3) == [("length", "")]
    assert diff.changed_rows == [0, 1, 2, 3]
    assert "no candidate output" in diff.changes(3)[0].describe()
    with pytest.raises(AssertionError, match="4 known-good outputs but 3 candidate"):
        diff.assert_flip_rate_at_most(1.0)
    mixed = diff_outputs([{"a": 1}, 5, None], [[1], "x", None])
    assert mixed.changed_rows == [0, 1]


def test_failed_outputs_are_reported() -> None:
    diff = diff_outputs([classifier(1)], [FailedOutput("model raised ValueError")])
    assert "no candidate output: model raised ValueError" in diff.changes(0)[0].describe()


def test_repeated_runs_ignore_run_to_run_noise() -> None:
    good_runs = [
        [{"label": 1, "score": 0.50}, {"label": 2, "score": 0.2}, {"label": 3, "score": 0.1}],
        [{"label": 1, "score": 0.56}, {"label": 2, "score": 0.2}, {"label": 5, "score": 0.1}],
    ]
    cand_runs = [
        [{"label": 1, "score": 0.53}, {"label": 4, "score": 0.9}, {"label": 5, "score": 0.1}],
        [{"label": 1, "score": 0.55}, {"label": 4, "score": 0.9}, {"label": 5, "score": 0.1}],
    ]
    diff = diff_runs(good_runs, cand_runs)
    # Row 0: scores within both models' spread. Row 1: a real flip and move. Row 2: 5 is a label
    # the known-good model itself gives on this input.
    assert diff.changed_rows == [1]
    assert diff.flips() == {(2, 4): 1}
    single = diff_outputs(good_runs[0], cand_runs[0])
    assert single.changed_rows == [0, 1, 2]


def test_repeated_text_that_varies_within_a_model_is_unstable_not_changed() -> None:
    diff = diff_runs([["a", "b"], ["a", "c"]], [["x", "y"], ["x", "z"]])
    assert diff.changed_rows == [0]
    assert diff.unstable_count == 1


def test_rendering_has_the_header_tables_and_is_bounded() -> None:
    good = [{"label": i % 10, "meta": {"i": i}} for i in range(500)]
    cand = [{"label": 7, "meta": {"i": -i, f"k{i}": 1}} for i in range(500)]
    text = render(
        diff_outputs(good, cand, known_good_ref="digits@v3.1", candidate_ref="digits@v3.3")
    )
    lines = text.splitlines()
    assert lines[0] == "[- known-good digits@v3.1] [+ candidate digits@v3.3]"
    assert "flips (known-good → candidate):" in lines
    assert any(line.strip().startswith("0 → 7") for line in lines)
    assert len(lines) <= MAX_LINES
    assert "\x1b[" not in text
    assert "\x1b[31m" in render(diff_outputs([1], [2]), colour=True)


def test_json_carries_every_change() -> None:
    diff = diff_outputs(
        [classifier(1), classifier(2)], [classifier(7), classifier(2, score=math.nan)]
    )
    data = diff.to_json()
    assert data["flips"] == [{"from": 1, "to": 7, "count": 1}]
    assert [entry["input"] for entry in data["changes"]] == [0, 1]
    assert data["changes"][1]["changes"][0]["after"] == "nan"
    import json

    json.dumps(data, allow_nan=False)


def test_missing_sentinel_reads_well() -> None:
    assert repr(MISSING) == "<missing>"


outputs = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "label": st.integers(0, 3),
                "score": st.floats(allow_nan=True, allow_infinity=True),
                "probs": st.lists(st.floats(0, 1), min_size=3, max_size=3),
            }
        ),
        st.integers(0, 3),
        st.text(max_size=3),
        st.dictionaries(
            st.sampled_from("abc"), st.one_of(st.integers(), st.text(max_size=2), st.none())
        ),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(outputs)
def test_diff_of_outputs_with_themselves_is_empty(values: list) -> None:
    diff = diff_outputs(values, [v if not isinstance(v, dict) else dict(v) for v in values])
    assert not diff
    assert diff.flip_rate == 0.0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=30))
def test_flip_counts_are_symmetric(pairs: list[tuple[int, int]]) -> None:
    good = [{"label": a, "score": 0.1} for a, _ in pairs]
    cand = [{"label": b, "score": 0.1} for _, b in pairs]
    forward, backward = diff_outputs(good, cand), diff_outputs(cand, good)
    assert forward.flip_count == backward.flip_count
    assert forward.flips() == {(b, a): n for (a, b), n in backward.flips().items()}
    assert forward.changed_rows == backward.changed_rows


def test_numpy_scalars_and_float_labels_are_understood() -> None:
    import numpy as np

    good = [{"label": np.int64(3), "score": np.float32(0.5), "probs": np.array([0.5, 0.5])}]
    cand = [{"label": np.int64(7), "score": np.float32(0.5), "probs": np.array([0.5, 0.5])}]
    diff = diff_outputs(good, cand)
    assert diff.flips() == {(3, 7): 1}
    assert {s.field: s.kind for s in diff.field_summaries()} == {
        "label": "label",
        "probs": "vector",
        "score": "number",
    }
    floats = diff_outputs(
        [{"label": 3.0}, {"label": math.nan}], [{"label": 7.0}, {"label": math.nan}]
    )
    assert floats.flips() == {(3.0, 7.0): 1}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20),
    st.lists(st.integers(0, 19), max_size=5, unique=True),
)
def test_exactly_the_moved_inputs_are_reported(scores: list[float], moved: list[int]) -> None:
    moved = [row for row in moved if row < len(scores)]
    good = [{"score": s} for s in scores]
    cand = [{"score": s + 1.0 if i in moved else s} for i, s in enumerate(scores)]
    diff = diff_outputs(good, cand, tolerance=0.5)
    assert diff.changed_rows == sorted(moved)


def test_vector_rows_that_differ_in_shape_or_type_fall_back_per_row() -> None:
    good = [{"p": [0.1, 0.2]}, {"p": [0.1, float("nan")]}, {"p": [0.1, 0.2]}, {"p": [1.0, 2.0]}]
    cand = [{"p": [0.1, 0.2]}, {"p": [0.1, float("nan")]}, {"p": [0.1, None]}, {"p": [1.0, 2.5]}]
    diff = diff_outputs(good, cand)
    assert diff.changed_rows == [2, 3]  # two distinct NaN objects in one place are no change
    assert ("type", "p[1]") in kinds(diff, 2)
    assert ("number", "p[1]") in kinds(diff, 3)
    every = diff_outputs([{"p": [0.0, 1.0]}] * 50, [{"p": [0.5, 1.0]}] * 50)
    summary = {s.field: s for s in every.field_summaries()}["p"]
    assert (summary.kind, summary.changed, summary.max_abs, summary.mean_abs) == (
        "vector",
        50,
        0.5,
        0.25,
    )

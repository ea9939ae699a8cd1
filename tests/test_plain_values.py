"""Outputs as plain Python (cases/plain.py): the one conversion fresh and cached outputs share."""

from __future__ import annotations

import json
import math
from types import MappingProxyType

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pytest_airecovery.cases.plain import python_value, short_repr, to_jsonable, to_plain


def test_to_plain_gives_what_the_cache_gives_back() -> None:
    output = {
        "label": np.int64(7),
        "score": np.float64(0.25),  # a float subclass: must still become a float
        "probs": np.array([0.5, 0.25], dtype=np.float32),
        "flags": (np.bool_(True), None),
        3: MappingProxyType({"x": np.float32(1.5)}),
    }
    plain = to_plain(output)
    assert plain == json.loads(json.dumps(plain))
    assert [type(v) for v in (plain["label"], plain["score"], plain["flags"][0])] == [
        int,
        float,
        bool,
    ]
    assert plain["probs"] == [0.5, 0.25] and plain["3"] == {"x": 1.5}


def test_to_jsonable_writes_what_json_cannot_hold_as_text() -> None:
    value = {"a": [np.float64("nan"), math.inf, -math.inf], "b": object, "c": np.array([1, 2])}
    plain = to_jsonable(value)
    assert plain["a"] == ["nan", "inf", "-inf"]
    assert plain["b"] == repr(object) and plain["c"] == [1, 2]
    json.dumps(plain, allow_nan=False)


def test_python_value_is_shallow_and_keeps_keys() -> None:
    assert python_value(np.float64(0.5)).__class__ is float
    assert python_value(np.array([[1, 2]])) == [[1, 2]]
    keyed = {1: np.int64(2)}
    assert python_value(keyed) is keyed  # {1: ...} must never equal {"1": ...} in a comparison


@given(st.text(max_size=300), st.integers(min_value=5, max_value=200))
def test_short_repr_is_bounded_and_a_cut_text_keeps_its_quotes(text: str, limit: int) -> None:
    shown = short_repr(text, limit)
    if len(text) <= limit:
        assert shown == repr(text)
    else:
        assert shown == repr(text[: limit - 1] + "…")


def test_short_repr_of_other_values_cuts_the_repr() -> None:
    assert short_repr([1, 2, 3]) == "[1, 2, 3]"
    assert short_repr(list(range(100)), 20) == repr(list(range(100)))[:19] + "…"

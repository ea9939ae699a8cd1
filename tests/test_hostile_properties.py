"""Properties of the case-file loaders on arbitrary input: a LoadError or a value, nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_airecovery.cases.limits import Limits
from pytest_airecovery.cases.loader import check_timestamp
from pytest_airecovery.cases.yamlpos import LoadError, check_json_nesting, load_json, load_yaml

SMALL = Limits(nesting=8, alias_nodes=50, alias_bytes=200)
BRACKETY = st.text(alphabet='[]{}"\\,:ab1 \n&*-', max_size=200)


@given(BRACKETY)
@example("[" * 9 + "]" * 9)
@example('"[[[[[[[[[[[["')
@example(
    "a: &a [x]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]"
)
@settings(max_examples=300, deadline=None)
def test_loaders_raise_only_load_errors(text: str) -> None:
    for load in (load_yaml, load_json):
        try:
            load(text, SMALL)
        except LoadError as exc:
            assert exc.line >= 1


@given(st.integers(min_value=0, max_value=30))
def test_json_nesting_limit_is_exact(depth: int) -> None:
    text = "[" * depth + "]" * depth
    if depth <= SMALL.nesting:
        check_json_nesting(text, SMALL.nesting)
        load_json(text or "[]", SMALL)
    else:
        with pytest.raises(LoadError, match="nested more than 8 levels"):
            load_json(text, SMALL)


@given(st.integers(min_value=0, max_value=30))
def test_yaml_nesting_limit_is_exact(depth: int) -> None:
    text = "x: " + "[" * depth + "1" + "]" * depth + "\n"
    if depth < SMALL.nesting:  # the top-level mapping is one level
        load_yaml(text, SMALL)
    else:
        with pytest.raises(LoadError, match="nested more than 8 levels"):
            load_yaml(text, SMALL)


@given(
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_every_real_timestamp_is_accepted(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    check_timestamp(aware.isoformat())
    check_timestamp(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    check_timestamp(moment.strftime("%Y-%m-%d"))


@given(st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z"))
@example("0001-01-0\u0661T00:00:00Z")  # an Arabic-Indic digit: \d matches it, a date must not
def test_timestamps_are_accepted_exactly_when_datetime_accepts_them(text: str) -> None:
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        real = True
    except ValueError:
        real = False
    if real:
        check_timestamp(text)
    else:
        with pytest.raises(ValueError):
            check_timestamp(text)

"""The data rules of gate sources: exports are validated as data, never trusted.

Each rule is checked in the three export forms (row JSON, column JSON, CSV) and, where the rule
is about the data rather than the file, for a hook's source too (datarules.validate_metric_data).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gates_support import (
    T0,
    export,
    no_github_output,  # noqa: F401 (autouse)
)

from pytest_airecovery.gates.datarules import validate_metric_data
from pytest_airecovery.gates.errors import GateSourceError
from pytest_airecovery.gates.runner import GateRun
from pytest_airecovery.gates.sources import (
    EMPTY_SERIES,
    ExportFileSource,
    MetricData,
    Series,
    parse_csv_export,
    parse_json_export,
)
from pytest_airecovery.gates.verdicts import Outcome

REPO = Path(__file__).resolve().parent.parent


def _rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The column-form export of test_gates_support as rows."""
    rows = []
    for block in document["series"]:
        trials = block.get("trials") or [None] * len(block["values"])
        for stamp, value, count in zip(block["timestamps"], block["values"], trials, strict=True):
            row = {
                "timestamp": stamp,
                "metric": block["metric"],
                "arm": block["arm"],
                "value": value,
            }
            if count is not None:
                row["trials"] = count
            rows.append(row)
    return rows


def _csv(rows: list[dict[str, Any]], exported_at: object = None) -> list[str]:
    lines = [f"# exported_at: {exported_at}\n"] if exported_at is not None else []
    lines.append("timestamp,metric,arm,value,trials\n")
    for row in rows:
        value = "" if row["value"] is None else row["value"]
        lines.append(
            f"{row['timestamp']},{row['metric']},{row['arm']},{value},{'' if row.get('trials') is None else row['trials']}\n"
        )
    return lines


def _three_forms(rows: list[dict[str, Any]], exported_at: object = None) -> dict[str, Any]:
    """Parsers of the same rows as row JSON, column JSON (one block per row) and CSV."""
    head = {} if exported_at is None else {"exported_at": exported_at}
    blocks = [{"metric": r["metric"], "arm": r["arm"], "timestamps": [r["timestamp"]],
               "values": [r["value"]], **({"trials": [r["trials"]]} if "trials" in r else {})}
              for r in rows]  # fmt: skip
    return {
        "rows": lambda: parse_json_export({**head, "rows": rows}, "x.json"),
        "columns": lambda: parse_json_export({**head, "series": blocks}, "x.json"),
        "csv": lambda: parse_csv_export(_csv(rows, exported_at), "x.csv"),
    }


FORMS = ["rows", "columns", "csv"]


def _row(stamp: object, value: object, metric: str = "latency", arm: str = "baseline",
         **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"timestamp": stamp, "metric": metric, "arm": arm, "value": value, **extra}


# --- duplicates -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_exact_duplicate_rows_count_once(form: str) -> None:
    rows = [_row(T0, 1.0), _row(T0 + 60, 2.0), _row(T0 + 60, math.nan, "errors", trials=10)]
    once = _three_forms(rows)[form]()
    twice = _three_forms(rows + rows[::-1])[form]()
    for key, series in once.series.items():
        np.testing.assert_array_equal(twice.series[key].timestamps, series.timestamps)
        np.testing.assert_array_equal(twice.series[key].values, series.values)
    assert twice.get("latency", "baseline").size == 2
    assert twice.notes == ["errors (baseline): 1 exact duplicate sample(s) counted once",
                           "latency (baseline): 2 exact duplicate sample(s) counted once"]  # fmt: skip
    assert once.notes == []


@pytest.mark.parametrize("form", FORMS)
def test_conflicting_duplicates_are_an_error_naming_both_rows(form: str) -> None:
    rows = [_row(T0, 1.0), _row(T0 + 60, 2.0), _row(T0 + 60, 2.5)]
    with pytest.raises(GateSourceError) as error:
        _three_forms(rows)[form]()
    where = {"rows": ("rows[1]", "rows[2]"), "columns": ("series[1]", "series[2]"),
             "csv": ("line 3", "line 4")}[form]  # fmt: skip
    message = str(error.value)
    assert all(part in message for part in where), message
    assert "two different latency (baseline) samples at 2026-05-28T20:27:40Z" in message


def test_conflicting_trials_are_a_conflict_too() -> None:
    rows = [_row(T0, 1, "errors", trials=100), _row(T0, 1, "errors", trials=90)]
    with pytest.raises(GateSourceError, match="two different errors"):
        parse_json_export({"rows": rows}, "x.json")


def _gate(tmp_path: Path, document: dict[str, Any], phase: str = "canary",
          settings_text: str = "") -> GateRun:  # fmt: skip
    (tmp_path / "export.json").write_text(json.dumps(document), encoding="utf-8")
    (tmp_path / "gate.yaml").write_text(settings_text or "{}\n", encoding="utf-8")
    run = GateRun(phase, str(tmp_path / "export.json"), str(tmp_path / "gate.yaml"), tmp_path)
    run.load()
    return run


def test_every_row_twice_does_not_turn_too_few_samples_into_a_verdict(tmp_path: Path) -> None:
    # 30 samples per arm where the gate needs 50: doubled rows must not reach 60 and pass.
    document = export(hours=3)
    for block in document["series"]:
        if block["metric"] in ("latency", "errors"):
            for field in ("timestamps", "values", "trials"):
                if field in block:
                    block[field] = block[field][-30:]
    doubled = {**document, "series": [{**b} for b in document["series"]]}
    doubled["series"] = doubled["series"] + [dict(b) for b in document["series"]]
    run = _gate(tmp_path, doubled, settings_text="max_gap: 4h\n")
    assert run.load_error is None, run.load_error
    check = next(c for c in run.checks() if c.name == "no-anomalies[latency]")
    verdict = run.evaluate(check)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "30 candidate sample(s) of latency in the window, need 50" in verdict.message
    assert any("exact duplicate" in note for note in run.describe()["data_notes"])  # type: ignore[union-attr]


# --- time -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_a_sample_after_exported_at_is_an_error(form: str) -> None:
    rows = [_row(T0, 1.0), _row(T0 + 600, 2.0)]
    with pytest.raises(GateSourceError) as error:
        _three_forms(rows, exported_at=T0 + 300)[form]()
    message = str(error.value)
    assert "after exported_at 2026-05-28T20:31:40Z" in message
    assert {"rows": "rows[1]", "columns": "series[1]", "csv": "line 4"}[form] in message


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        (1_780_000_000_000, r"looks like epoch milliseconds; export epoch seconds \(1780000000\)"),
        (1_780_000_000_000_000, "looks like epoch microseconds"),
        (1e20, "past the year 3000"),
        (-1, "before 1970"),
        ("2026-13-45T99:99:99Z", "not a timestamp"),
    ],
)
@pytest.mark.parametrize("form", FORMS)
def test_timestamps_out_of_range_are_named(form: str, stamp: object, message: str) -> None:
    with pytest.raises(GateSourceError, match=message):
        _three_forms([_row(T0, 1.0), _row(stamp, 2.0)])[form]()


def _hook_data(**changes: Any) -> MetricData:
    series = Series(np.array([T0, T0 + 60.0]), np.array([1.0, 2.0]))
    parts: dict[str, Any] = {"series": {("latency", "candidate"): series},
                             "traffic": Series(np.array([T0]), np.array([0.03])),
                             "user_reports": EMPTY_SERIES, "as_of": T0 + 120,
                             "description": "hook"}  # fmt: skip
    parts.update(changes)
    return MetricData(**parts)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"series": {("m", "baseline"): Series(np.array([T0 + 60, T0]), np.ones(2))}},
         r"m \(baseline\): point 1 goes back to"),
        ({"series": {("m", "baseline"): Series(np.array([T0, T0]), np.ones(2))}}, "point 1 repeats"),
        ({"series": {("m", "baseline"): Series(np.array([1.78e12]), np.ones(1))}},
         "not epoch seconds between 1970 and 3000"),
        ({"series": {("m", "baseline"): Series(np.array([T0]), np.ones(2))}}, "differ in length"),
        ({"traffic": Series(np.array([T0]), np.array([-0.01]))}, "traffic_share -0.01 at"),
        ({"traffic": Series(np.array([T0]), np.array([3.0]))}, "traffic_share 3 at"),
        ({"as_of": T0 + 30}, "has a sample at .* after the source's exported_at"),
        ({"as_of": T0 + 86400}, "exported_at .* is in the future"),
    ],
)  # fmt: skip
def test_every_source_meets_the_data_rules(changes: dict[str, Any], message: str) -> None:
    validate_metric_data(_hook_data(), wall_clock=T0 + 3600)  # the unchanged data is fine
    with pytest.raises(GateSourceError, match=message):
        validate_metric_data(_hook_data(**changes), wall_clock=T0 + 3600)


def test_without_a_reference_time_the_clock_judges_the_samples() -> None:
    validate_metric_data(_hook_data(as_of=None), wall_clock=T0 + 3600)
    with pytest.raises(GateSourceError, match=r"latency \(candidate\) has a sample at .* future"):
        validate_metric_data(_hook_data(as_of=None), wall_clock=T0 - 3600)


def test_clock_skew_of_a_few_seconds_is_tolerated() -> None:
    validate_metric_data(_hook_data(as_of=T0 + 120), wall_clock=T0 + 100)


def test_future_data_does_not_promote(tmp_path: Path) -> None:
    """Issue 13 item 4: a healthy canary whose samples lie in the future is an ERROR, not PASS."""
    shift = time.time() - T0 + 86400  # the whole export moved to start tomorrow
    document = export()
    for block in document["series"]:
        block["timestamps"] = [stamp + shift for stamp in block["timestamps"]]
    document["exported_at"] += shift
    run = _gate(tmp_path, document)
    assert run.load_error is not None and "is in the future" in run.load_error
    assert run.checks() == []
    del document["exported_at"]  # no reference time: the wall clock judges the samples
    run = _gate(tmp_path, document)
    assert run.load_error is not None and "in the future of this machine's clock" in run.load_error


@pytest.mark.parametrize("mode", [[], ["-n", "2"]])
def test_future_data_holds_in_a_pytest_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider\n")
    document = export()
    document["exported_at"] = time.time() + 86400  # "taken" tomorrow: everything looks fresh
    (pytester.path / "future.json").write_text(json.dumps(document), encoding="utf-8")
    result = pytester.runpytest("--incident-gate", "canary", "--incident-metrics", "future.json",
                                "--incident-gate-decision", "decision.txt", *mode)  # fmt: skip
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([("*ERROR: metric source: *future.json: exported_at "
                                 "* is in the future*")])  # fmt: skip
    assert (pytester.path / "decision.txt").read_text(encoding="utf-8") == "hold\n"


def test_exported_at_before_the_data_does_not_promote(tmp_path: Path) -> None:
    document = export()
    document["exported_at"] -= 3600  # the last hour of samples is "after" the export
    run = _gate(tmp_path, document)
    assert run.load_error is not None and "after exported_at" in run.load_error


# --- null and NaN ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_null_is_a_missing_measurement_like_nan(form: str) -> None:
    rows = [_row(T0, None), _row(T0 + 60, 2.0), _row(T0, 3, "errors", trials=None)]
    data = _three_forms(rows)[form]()
    assert np.isnan(data.get("latency", "baseline").values[0])
    assert data.get("latency", "baseline").values[1] == 2.0


def test_null_in_one_metric_leaves_the_others_judged(tmp_path: Path) -> None:
    document = export()
    for block in document["series"]:
        if block["metric"] == "latency" and block["arm"] == "candidate":
            block["values"][100] = None
    run = _gate(tmp_path, document)
    assert run.load_error is None, run.load_error
    got = {check.name: run.evaluate(check) for check in run.checks()}
    assert got["no-anomalies[latency]"].outcome is Outcome.INCONCLUSIVE
    assert (
        "1 NaN/inf value(s) in the candidate arm of latency" in got["no-anomalies[latency]"].message
    )
    assert got["no-anomalies[errors]"].outcome is Outcome.PASS
    assert got["traffic-share"].outcome is Outcome.PASS


def test_null_trials_make_that_proportion_inconclusive(tmp_path: Path) -> None:
    document = export()
    for block in document["series"]:
        if block["metric"] == "errors" and block["arm"] == "baseline":
            block["trials"][7] = None
    run = _gate(tmp_path, document)
    assert run.load_error is None, run.load_error
    got = {check.name: run.evaluate(check) for check in run.checks()}
    assert got["no-anomalies[errors]"].outcome is Outcome.INCONCLUSIVE
    assert "1 NaN/inf value(s) in the baseline arm of errors" in got["no-anomalies[errors]"].message
    assert got["no-anomalies[latency]"].outcome is Outcome.PASS


def test_a_null_timestamp_is_an_error() -> None:
    with pytest.raises(GateSourceError, match=r"rows\[0\]: not a timestamp: None"):
        parse_json_export({"rows": [_row(None, 1.0)]}, "x.json")


# --- hostile files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"rows": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
        (('{"series": [{"metric": "m", "arm": "baseline", "timestamps": [1, 2], '
         '"values": [[1, 2], [3, 4]]}]}'), "values must be numbers or null"),
        ('{"series": [{"metric": "m", "arm": "baseline", "timestamps": [1], '
         '"values": [' + "[" * 50 + "]" * 50 + "]}]}", "values must be numbers or null"),
        ('{"series": [{"metric": "m", "arm": "baseline", "timestamps": [1], '
         '"values": [' + "[" * 500 + "]" * 500 + "]}]}", "values must be numbers or null"),
        ('{"rows": [{"timestamp": 1, "metric": "m", "arm": "baseline", "value": {"a": 1}}]}',
         "expected a number or null"),
        ('{"rows": [{"timestamp": 1, "metric": "m", "arm": "baseline", "value": 1e400}]}', None),
    ],
)  # fmt: skip
def test_hostile_json_exports_are_clear_errors(
    tmp_path: Path, text: str, message: str | None
) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(text, encoding="utf-8")
    if message is None:  # 1e400 reads as inf: a value the criteria report, not a crash
        assert math.isinf(ExportFileSource(path).load().get("m", "baseline").values[0])
        return
    with pytest.raises(GateSourceError, match=message):
        ExportFileSource(path).load()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,metric,arm,value\n1,m,baseline,1,extra\n", "line 2: expected 4 fields"),
        ("timestamp,metric,arm,value\n1,m,baseline\n", "line 2: expected 4 fields"),
        ("# comment\n\ntimestamp,metric,arm,value\n1,m,baseline,1\n1,m,baseline,2\n",
         "line 4 and .* line 5: two different m"),
        ("timestamp,metric,arm,value\n1,m,baseline,\x00\n", "expected a number or null"),
        ("timestamp,metric,arm,value\n1,m,baseline," + "9" * 200_000 + "\n", "malformed CSV"),
    ],
)  # fmt: skip
def test_hostile_csv_exports_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hostile.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GateSourceError, match=message):
        ExportFileSource(path).load()


def test_an_export_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps(export()), encoding="utf-8")
    size = path.stat().st_size
    with pytest.raises(GateSourceError, match=f"is {size:,} bytes, more than the limit of 1,000"):
        ExportFileSource(path, max_bytes=1000).load()
    run = _gate(tmp_path, export(), settings_text="max_export_size: 1KiB\n")
    assert run.load_error is not None and "max_export_size" in run.load_error
    assert _gate(tmp_path, export(), settings_text="max_export_size: 64MiB\n").load_error is None


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.floats(-1e6, 1e6)), min_size=1, max_size=30,
             unique_by=lambda pair: pair[0]),
    st.lists(st.integers(0, 29), max_size=20),
    st.randoms(use_true_random=False),
)  # fmt: skip
def test_order_and_exact_duplicates_never_change_the_data(
    samples: list[tuple[int, float]], repeat: list[int], rng: Any
) -> None:
    rows = [_row(T0 + 60 * minute, value) for minute, value in samples]
    noisy = rows + [rows[index % len(rows)] for index in repeat]
    rng.shuffle(noisy)
    clean = parse_json_export({"rows": rows}, "x.json").get("latency", "baseline")
    got = parse_json_export({"rows": noisy}, "x.json").get("latency", "baseline")
    np.testing.assert_array_equal(got.timestamps, clean.timestamps)
    np.testing.assert_array_equal(got.values, clean.values)
    assert np.all(np.diff(got.timestamps) > 0)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["latency", "errors"]), st.sampled_from(["baseline", "candidate"]),
                  st.integers(0, 40)),
        st.one_of(st.none(), st.integers(0, 50).map(float)),
        min_size=1, max_size=40,
    )
)  # fmt: skip
def test_the_three_forms_read_the_same(samples: dict[tuple[str, str, int], float | None]) -> None:
    rows = [_row(T0 + 60 * minute, value, metric, arm, **({"trials": 100} if metric == "errors" else {}))
            for (metric, arm, minute), value in samples.items()]  # fmt: skip
    forms = {name: parse() for name, parse in _three_forms(rows).items()}
    reference = forms["rows"]
    for data in forms.values():
        assert sorted(data.series) == sorted(reference.series)
        for key, series in reference.series.items():
            np.testing.assert_array_equal(data.series[key].timestamps, series.timestamps)
            np.testing.assert_array_equal(data.series[key].values, series.values)  # NaN == NaN here
            assert (data.series[key].trials is None) == (series.trials is None)

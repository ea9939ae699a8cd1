"""JSON and CSV exports: both forms read the same, broken input is a GateSourceError."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pytest_airecovery.gates.errors import GateSourceError
from pytest_airecovery.gates.sources import ExportFileSource, parse_csv_export, parse_json_export

ROWS = [
    {"timestamp": "2027-01-15T08:01:00Z", "metric": "latency", "arm": "candidate", "value": 210},
    {"timestamp": "2027-01-15T08:00:00Z", "metric": "latency", "arm": "candidate", "value": 200},
    {"timestamp": 1_800_000_000, "metric": "latency", "arm": "baseline", "value": 190},
    {"timestamp": 1_800_000_000, "metric": "errors", "arm": "baseline", "value": 3, "trials": 100},
    {"timestamp": 1_800_000_000, "metric": "traffic_share", "arm": "candidate", "value": 0.03},
    {"timestamp": 1_800_000_000, "metric": "user_reports", "arm": "", "value": 0},
]

CSV_TEXT = """# exported_at: 2027-01-15T08:02:00Z
timestamp,metric,arm,value,trials
2027-01-15T08:01:00Z,latency,candidate,210,
2027-01-15T08:00:00Z,latency,candidate,200,
1800000000,latency,baseline,190,
1800000000,errors,baseline,3,100
1800000000,traffic_share,candidate,0.03,
1800000000,user_reports,,0,
"""


def _check(data_json: object, data_csv: object) -> None:
    for data in (data_json, data_csv):
        latency = data.get("latency", "candidate")  # type: ignore[attr-defined]
        assert latency.timestamps.tolist() == [1_800_000_000.0, 1_800_000_060.0]  # sorted by time
        assert latency.values.tolist() == [200.0, 210.0]
        assert data.get("errors", "baseline").trials.tolist() == [100.0]  # type: ignore[attr-defined]
        assert data.traffic.values.tolist() == [0.03]  # type: ignore[attr-defined]
        assert data.user_reports.size == 1  # type: ignore[attr-defined]
        assert data.metric_names() == ["errors", "latency"]  # type: ignore[attr-defined]


def test_json_rows_and_csv_read_the_same() -> None:
    data_json = parse_json_export({"exported_at": "2027-01-15T08:02:00Z", "rows": ROWS}, "x.json")
    data_csv = parse_csv_export(CSV_TEXT.splitlines(keepends=True), "x.csv")
    _check(data_json, data_csv)
    assert data_json.as_of == data_csv.as_of == 1_800_000_120.0


def test_column_form_equals_row_form() -> None:
    columns = {
        "series": [
            {"metric": "latency", "arm": "candidate", "timestamps": [1_800_000_060, 1_800_000_000],
             "values": [210, 200]},
            {"metric": "latency", "arm": "baseline", "timestamps": ["2027-01-15T08:00:00Z"],
             "values": [190]},
            {"metric": "errors", "arm": "baseline", "timestamps": [1_800_000_000], "values": [3],
             "trials": [100]},
            {"metric": "traffic_share", "arm": "candidate", "timestamps": [1_800_000_000],
             "values": [0.03]},
            {"metric": "user_reports", "timestamps": [1_800_000_000], "values": [0]},
        ]
    }  # fmt: skip
    _check(parse_json_export(columns, "c.json"), parse_json_export({"rows": ROWS}, "r.json"))


def test_nan_and_inf_are_kept_for_the_criteria_to_judge() -> None:
    data = parse_json_export({"rows": [
        {"timestamp": 1, "metric": "m", "arm": "baseline", "value": math.nan},
        {"timestamp": 2, "metric": "m", "arm": "baseline", "value": "inf"},
    ]}, "nan.json")  # fmt: skip
    assert not np.isfinite(data.get("m", "baseline").values).any()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a JSON object"),
        ({"rows": [], "extra": 1}, "unknown top-level"),
        ({"format": "prometheus"}, "is not airecovery-metrics/1"),
        ({"rows": [{"timestamp": 1, "metric": "m", "arm": "control", "value": 1}]}, "arm must be"),
        (
            {
                "rows": [
                    {
                        "timestamp": "2027-01-15T08:00:00",
                        "metric": "m",
                        "arm": "baseline",
                        "value": 1,
                    }
                ]
            },
            "no timezone",
        ),
        (
            {"rows": [{"timestamp": 1, "metric": "m", "arm": "baseline", "value": "fast"}]},
            "expected a number",
        ),
        ({"rows": [{"timestamp": 1, "metric": "m"}]}, "needs timestamp"),
        (
            {"rows": [{"timestamp": 1, "metric": "traffic_share", "arm": "baseline", "value": 1}]},
            "traffic_share is the candidate's",
        ),
        (
            {"series": [{"metric": "m", "arm": "baseline", "timestamps": [1, 2], "values": [1]}]},
            "differ in length",
        ),
        (
            {"series": [{"metric": "m", "arm": "baseline", "timestamps": [1], "values": ["x"]}]},
            "numbers",
        ),
        ({"metrics": ["latency"]}, "'metrics' must map"),
        ({"exported_at": "yesterday"}, "exported_at"),
    ],
)
def test_broken_json_is_a_source_error(document: object, message: str) -> None:
    with pytest.raises(GateSourceError, match=message):
        parse_json_export(document, "bad.json")


def test_broken_csv_header_is_a_source_error() -> None:
    with pytest.raises(GateSourceError, match="CSV header"):
        parse_csv_export(["time,metric,value\n", "1,m,2\n"], "bad.csv")


def test_file_source(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text(json.dumps({"rows": ROWS}), encoding="utf-8")
    (tmp_path / "ok.csv").write_text(CSV_TEXT, encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    (tmp_path / "data.parquet").write_text("", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    _check(
        ExportFileSource(tmp_path / "ok.json").load(), ExportFileSource(tmp_path / "ok.csv").load()
    )
    assert ExportFileSource(tmp_path / "empty.csv").load().is_empty
    for name, message in (("broken.json", "cannot read"), ("data.parquet", "expected a .json"),
                          ("missing.json", "not found")):  # fmt: skip
        with pytest.raises(GateSourceError, match=message):
            ExportFileSource(tmp_path / name).load()

"""Phases and gate settings: the source document's table, overrides, and loud configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_airecovery.gates.phases import (
    DEFAULT_PHASES,
    GateConfigError,
    load_gate_config,
    parse_gate_config,
)
from pytest_airecovery.gates.timeutil import TimeFormatError, parse_duration, parse_timestamp


def test_defaults_are_the_source_documents_table() -> None:
    expected = {
        "canary": (0.01, 0.05, 2, 4, "no-anomalies"),
        "limited": (0.10, 0.25, 4, 8, "match-baseline"),
        "majority": (0.50, 0.75, 8, 24, "no-user-reports"),
    }
    for name, (low, high, min_h, max_h, criterion) in expected.items():
        phase = DEFAULT_PHASES[name]
        assert (phase.traffic_min, phase.traffic_max) == (low, high)
        assert (phase.min_duration, phase.max_duration) == (min_h * 3600, max_h * 3600)
        assert criterion in phase.criteria
    assert "regression-tests" in DEFAULT_PHASES["majority"].criteria
    full = DEFAULT_PHASES["full"]
    assert (full.traffic_min, full.traffic_max, full.min_duration) == (1.0, 1.0, 72 * 3600)
    assert "stable-operation" in full.criteria
    config = parse_gate_config({})
    assert list(config.phases) == ["canary", "limited", "majority", "full"]
    assert config.min_samples == 50
    assert config.next_phase("canary").name == "limited"  # type: ignore[union-attr]
    assert config.next_phase("full") is None


def test_pyproject_overrides_merge_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        """
[tool.airecovery.gates]
min_samples = 120
max_gap = "2m"

[tool.airecovery.gates.phases.canary]
traffic = [2, 5]
min_duration = "3h"

[tool.airecovery.gates.metrics.latency]
direction = "lower"
margin = 0.1
slo_max = 500
""",
        encoding="utf-8",
    )
    config = load_gate_config(None, tmp_path)
    canary = config.phase("canary")
    assert (canary.traffic_min, canary.min_duration, canary.max_duration) == (
        0.02,
        3 * 3600,
        4 * 3600,
    )
    assert canary.criteria == DEFAULT_PHASES["canary"].criteria
    assert config.min_samples == 120 and config.max_gap == 120
    assert config.metrics["latency"].slo_max == 500
    assert config.source == tmp_path / "pyproject.toml"


def test_yaml_file_with_new_phase_and_order(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(
        """
phases:
  shadow: {traffic: [0, 0], min_duration: 1h, criteria: [no-anomalies]}
order: [shadow, canary, limited, majority, full]
metrics:
  error_rate: {kind: proportion, direction: lower, margin: 0.001, margin_kind: absolute}
""",
        encoding="utf-8",
    )
    config = load_gate_config(path, tmp_path)
    assert next(iter(config.phases)) == "shadow"
    assert config.next_phase("shadow").name == "canary"  # type: ignore[union-attr]
    assert config.metrics["error_rate"].kind == "proportion"


def test_without_pyproject_the_defaults_apply(tmp_path: Path) -> None:
    config = load_gate_config(None, tmp_path)
    assert config.source is None and config.phases == DEFAULT_PHASES
    (tmp_path / "pyproject.toml").write_text("[tool.airecovery]\nother = 1\n", encoding="utf-8")
    assert load_gate_config(None, tmp_path).source is None  # no gate settings in it


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_sample": 5}, "unknown key"),
        ({"phases": {"canary": {"traffic": [1, 5], "speed": 3}}}, "unknown key"),
        ({"phases": {"canary": {"criteria": ["no-anomalys"]}}}, "unknown criterion"),
        ({"metrics": {"latency": {"direction": "up"}}}, "not one of"),
        ({"metrics": {"latency": {"treshold": 3}}}, "unknown key"),
        ({"metrics": {"traffic_share": {}}}, "reserved"),
        ({"phases": {"canary": {"traffic": [5, 1]}}}, "above max"),
        ({"phases": {"canary": {"traffic": [1, 500]}}}, "outside"),
        ({"phases": {"canary": {"min_duration": "soon"}}}, "not a duration"),
        ({"phases": {"canary": {"min_duration": "5h"}}}, "shorter than min_duration"),
        ({"phases": {"blue": {"traffic": [1, 2]}}}, "a new phase needs"),
        ({"order": ["canary", "nope"]}, "order"),
        ({"min_samples": 2.5}, "whole number"),
        ({"alpha": 0.9}, "outside"),
        (
            {"baseline_window": {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}},
            "end must be after start",
        ),
        (
            {"baseline_window": {"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00Z"}},
            "no timezone",
        ),
    ],
)
def test_configuration_errors_are_loud(settings: dict[str, object], message: str) -> None:
    with pytest.raises(GateConfigError, match=message):
        parse_gate_config(settings)


def test_unknown_phase_is_a_configuration_error() -> None:
    with pytest.raises(GateConfigError, match="unknown phase 'canry'"):
        parse_gate_config({}).phase("canry")


def test_broken_files_are_configuration_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("min_samples = [", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("phases: [unclosed", encoding="utf-8")
    (tmp_path / "gates.ini").write_text("", encoding="utf-8")
    for name, message in (("bad.toml", "cannot read TOML"), ("bad.yaml", "cannot read YAML"),
                          ("gates.ini", "expected .toml"), ("missing.yaml", "not found")):  # fmt: skip
        with pytest.raises(GateConfigError, match=message):
            load_gate_config(tmp_path / name, tmp_path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1.5d", 129600), (45, 45), ("30 s", 30)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_timestamps_need_a_zone() -> None:
    assert parse_timestamp("2027-01-15T08:00:00Z") == 1_800_000_000.0
    assert parse_timestamp("2027-01-15T09:00:00+01:00") == 1_800_000_000.0
    assert parse_timestamp(1_800_000_000) == 1_800_000_000.0
    with pytest.raises(TimeFormatError, match="no timezone"):
        parse_timestamp("2027-01-15T08:00:00")
    with pytest.raises(TimeFormatError):
        parse_duration("-3h")

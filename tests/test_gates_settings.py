"""Where the gate's settings come from, and how the export's metrics table combines with them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_gates_support import (
    export,
    no_github_output,  # noqa: F401 (autouse)
)

import pytest_airecovery
import pytest_airecovery.gates.pytest_plugin
from pytest_airecovery.gates.phases import GateConfigError, load_gate_config
from pytest_airecovery.gates.runner import GateRun

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
HEALTHY = REPO / "examples" / "gates" / "canary-healthy.json"
SETTINGS = """
[tool.pytest.ini_options]
addopts = "-p no:hypothesispytest -p no:benchmark -p no:cacheprovider"

[tool.airecovery.gates.phases.canary]
min_duration = "10h"
max_duration = "12h"
"""


@pytest.fixture
def repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pytester.path/repo with gate settings in its pyproject.toml; the export lives outside."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    repo = pytester.path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(SETTINGS, encoding="utf-8")
    shutil.copy(HEALTHY, pytester.path / "x.json")
    monkeypatch.chdir(repo)
    return repo


@pytest.mark.parametrize(
    ("spelling", "mode"), [("spaced", []), ("equals", []), ("spaced", ["-n", "2"])]
)
def test_settings_apply_with_the_export_outside_the_repo(
    pytester: pytest.Pytester, repo: Path, spelling: str, mode: list[str]
) -> None:
    # Spaced, pytest's early scan takes ../x.json for a test path and moves the rootdir up.
    metrics = (
        ["--incident-metrics", "../x.json"]
        if spelling == "spaced"
        else ["--incident-metrics=../x.json"]
    )
    result = pytester.runpytest("--incident-gate", "canary", *metrics,
                                "--incident-gate-report", "gate.json", *mode)  # fmt: skip
    result.stdout.fnmatch_lines(["*INCONCLUSIVE: observed 3h 00m in range, the canary minimum is 10h 00m*",
                                 "decision: HOLD*"])  # fmt: skip
    report = json.loads((repo / "gate.json").read_text(encoding="utf-8"))
    assert report["settings"] == str((repo / "pyproject.toml").resolve())


def test_two_different_settings_files_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "pyproject.toml").write_text("[tool.airecovery.gates]\nmin_samples = 5\n")
    (tmp_path / "b" / "pyproject.toml").write_text("[tool.airecovery.gates]\nmin_samples = 9\n")
    with pytest.raises(GateConfigError, match="found in .*b/pyproject.toml and .*a/pyproject.toml"):
        load_gate_config(None, tmp_path / "a", [tmp_path / "b"])
    # The same file found twice, or one file with settings and one without, is no conflict.
    (tmp_path / "b" / "pyproject.toml").write_text("[tool.black]\nline-length = 99\n")
    assert load_gate_config(None, tmp_path / "b", [tmp_path / "a", tmp_path / "a"]).min_samples == 5
    # An explicit file is the user's choice: it wins over pyproject.toml settings.
    (tmp_path / "gate.yaml").write_text("min_samples: 7\n")
    assert (
        load_gate_config(tmp_path / "gate.yaml", tmp_path / "a", [tmp_path / "a"]).min_samples == 7
    )


def _run(
    tmp_path: Path, document: dict[str, object], settings: str, phase: str = "limited"
) -> GateRun:
    (tmp_path / "export.json").write_text(json.dumps(document), encoding="utf-8")
    (tmp_path / "gate.yaml").write_text(settings, encoding="utf-8")
    run = GateRun(phase, str(tmp_path / "export.json"), str(tmp_path / "gate.yaml"), tmp_path)
    run.load()
    return run


def test_settings_override_the_exports_metric_table_field_by_field(tmp_path: Path) -> None:
    # The export defines errors (proportion, lower, absolute margin); the settings only tighten
    # the margin and add a metric of their own: both metrics are gated, errors keeps its kind.
    run = _run(tmp_path, export(hours=5, share=0.15), """
phases:
  limited: {metrics: [errors, latency]}
metrics:
  errors: {margin: 0.001}
""")  # fmt: skip
    assert run.load_error is None, run.load_error
    assert run.context is not None
    errors = run.context.metric_spec("errors")
    assert (errors.kind, errors.direction, errors.margin, errors.margin_kind) == (
        "proportion", "lower", 0.001, "absolute")  # fmt: skip
    latency = run.context.metric_spec("latency")  # only in the export: its own definition
    assert (latency.direction, latency.margin, latency.slo_max) == ("lower", 0.05, 400)
    assert [check.name for check in run.checks()][2:] == [
        "match-baseline[errors]", "match-baseline[latency]"]  # fmt: skip


def test_a_phase_metric_defined_nowhere_is_a_configuration_error(tmp_path: Path) -> None:
    run = _run(tmp_path, export(hours=5, share=0.15), "phases:\n  limited: {metrics: [latncy]}\n")
    assert run.load_error is not None
    assert "phases.limited.metrics: unknown metric latncy" in run.load_error


def test_a_bad_field_in_the_merged_definition_names_both_sources(tmp_path: Path) -> None:
    run = _run(
        tmp_path, export(hours=5, share=0.15), "metrics:\n  errors: {margin_kind: percent}\n"
    )
    assert run.load_error is not None
    assert "margin_kind" in run.load_error

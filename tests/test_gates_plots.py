"""PNG plots beside the decision report: drawn with matplotlib, a note without it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from test_gates_support import (
    context_for,
    export,
    no_github_output,  # noqa: F401 (autouse)
)

import pytest_airecovery
import pytest_airecovery.gates.plots

# Loaded here so pytester's in-process runs find them instead of re-importing each time.
import pytest_airecovery.gates.pytest_plugin
from pytest_airecovery.gates.plots import (
    NO_MATPLOTLIB_NOTE,
    plot_name,
    plots_for_report,
    write_plots,
)

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GATE_ARGS = ("--incident-gate", "canary", "--incident-metrics", "canary.json",
             "--incident-gate-report", "out/gate.json")  # fmt: skip
METRICS = ("error_rate", "latency_p95_ms", "quality_score")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest -p no:benchmark -p no:cacheprovider\n"
    )
    shutil.copy(REPO / "examples" / "gates" / "canary-healthy.json", pytester.path / "canary.json")
    return pytester


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_report_links_one_png_per_metric(project: pytest.Pytester, mode: list[str]) -> None:
    pytest.importorskip("matplotlib")
    runner = project.runpytest_subprocess if mode else project.runpytest
    runner(*GATE_ARGS, *mode).assert_outcomes(passed=5)
    out = project.path / "out"
    report = json.loads((out / "gate.json").read_text(encoding="utf-8"))
    assert report["plots"] == {metric: f"gate.{metric}.png" for metric in METRICS}
    markdown = (out / "gate.md").read_text(encoding="utf-8")
    for metric in METRICS:
        assert (out / f"gate.{metric}.png").read_bytes()[:8] == PNG_MAGIC
        assert f"![{metric}](gate.{metric}.png)" in markdown


def test_without_matplotlib_no_png_and_a_note(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    project.runpytest(*GATE_ARGS).assert_outcomes(passed=5)
    out = project.path / "out"
    assert sorted(path.name for path in out.iterdir()) == ["gate.json", "gate.md"]
    report = json.loads((out / "gate.json").read_text(encoding="utf-8"))
    assert report["plots_note"] == NO_MATPLOTLIB_NOTE and "plots" not in report
    assert f"_{NO_MATPLOTLIB_NOTE}_" in (out / "gate.md").read_text(encoding="utf-8")


def test_plot_names_are_safe_in_paths_and_links() -> None:
    assert plot_name(Path("reports/gate.json"), "latency p95/ms") == "gate.latency_p95_ms.png"


def test_plots_for_missing_data_and_broken_proportions(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    document = export(hours=0.5)
    for block in document["series"]:
        if block["metric"] == "errors":
            block.pop("trials")  # a proportion without trials: the plot shows the raw values
    context = context_for(
        document, "canary", {"metrics": {"absent": {}, "errors": {"kind": "proportion"}}}
    )
    written = write_plots(tmp_path / "g.json", context, ["absent", "errors"], {"errors": "ERROR"})
    assert written == {"absent": "g.absent.png", "errors": "g.errors.png"}
    assert all((tmp_path / name).read_bytes()[:8] == PNG_MAGIC for name in written.values())


def test_long_series_are_drawn_as_bucket_means_with_a_band(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    context = context_for(export(hours=30, share=0.03), "canary")  # 1,800 points per arm
    report = {"criteria": [{"criterion": "no-anomalies", "metric": "latency", "outcome": "PASS"},
                           {"criterion": "no-anomalies", "metric": "latency", "outcome": "FAIL"}]}  # fmt: skip
    plots_for_report(tmp_path / "r.json", context, report, None)
    assert report["plots"] == {"latency": "r.latency.png"}
    assert (tmp_path / "r.latency.png").stat().st_size > 1000


def test_unloadable_source_gives_a_note(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report: dict[str, object] = {"criteria": []}
    plots_for_report(tmp_path / "r.json", None, report, "metric source: boom")
    assert report == {"criteria": [], "plots_note": "plots not drawn: metric source: boom"}
    assert not any(path.suffix == ".png" for path in tmp_path.iterdir())

"""Per-metric PNGs for the decision report: baseline vs candidate over time.

Optional: drawn only when matplotlib is installed (the `plot` extra). Uses the Agg canvas
directly instead of pyplot, so the plugin never switches the backend of the process it runs in
(a test suite with its own plotting keeps its backend).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_airecovery.gates.context import GateContext

NO_MATPLOTLIB_NOTE = (
    "plots not drawn: matplotlib is not installed (pip install 'pytest-airecovery[plot]')"
)
COLOURS = {"baseline": "#1f77b4", "candidate": "#d62728"}
FIGURE_SIZE = (9.0, 3.2)  # inches; wide and short reads well in a CI job summary
DPI = 100
# Above this many points per arm, draw the mean per time bucket and a min-max band: a 900-pixel
# plot cannot show more, the band keeps single spikes visible, and drawing stays fast.
MAX_POINTS = 1500


def matplotlib_available() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a None entry in sys.modules raises ValueError
        return False


def plot_name(report_path: Path, metric: str) -> str:
    """`gate.json` + `latency p95` -> `gate.latency_p95.png`: safe in paths and Markdown links."""
    return f"{report_path.stem}.{re.sub(r'[^A-Za-z0-9_.-]', '_', metric)}.png"


def write_plots(
    report_path: Path, context: GateContext, metrics: list[str], outcomes: dict[str, str]
) -> dict[str, str]:
    """One PNG per metric beside the report; returns {metric: file name}."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from pytest_airecovery.gates.context import rates
    from pytest_airecovery.gates.sources import GateSourceError

    written: dict[str, str] = {}
    window = context.window
    for metric in metrics:
        spec = context.metric_spec(metric)
        figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
        FigureCanvasAgg(figure)  # attaches the Agg canvas to the figure
        axes = figure.add_subplot()
        drawn = False
        for arm in ("baseline", "candidate"):
            series = context.data.get(metric, arm)
            if series.size == 0:
                continue
            try:
                values = rates(series, spec)
            except GateSourceError:
                values = series.values  # the criterion reports the broken proportion
            moments = (series.timestamps * 1000).astype("datetime64[ms]")
            if values.size > MAX_POINTS:
                starts = np.linspace(0, values.size, MAX_POINTS + 1).astype(int)[:-1]
                counts = np.diff(np.append(starts, values.size))
                axes.fill_between(moments[starts], np.minimum.reduceat(values, starts),
                                  np.maximum.reduceat(values, starts), color=COLOURS[arm],
                                  alpha=0.2, linewidth=0)  # fmt: skip
                moments, values = moments[starts], np.add.reduceat(values, starts) / counts
            axes.plot(moments, values, color=COLOURS[arm], linewidth=0.8, label=arm)
            drawn = True
        if window.exists and window.start is not None and window.end is not None:
            start, end = (np.array([window.start, window.end]) * 1000).astype("datetime64[ms]")
            axes.axvspan(start, end, color="#2ca02c", alpha=0.08, label="rollout window")
        for limit, name in ((spec.slo_max, "SLO max"), (spec.slo_min, "SLO min")):
            if limit is not None:
                axes.axhline(limit, color="black", linestyle="--", linewidth=0.8, label=name)
        if not drawn:
            axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", va="center")
        unit = " (rate)" if spec.kind == "proportion" else ""
        verdict = f": {outcomes[metric]}" if metric in outcomes else ""
        axes.set_title(f"{metric}{unit}{verdict}", fontsize=10)
        axes.set_xlabel("time (UTC)", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7, loc="upper left")
        figure.autofmt_xdate()
        figure.tight_layout()
        name = plot_name(report_path, metric)
        figure.savefig(report_path.parent / name, format="png")
        written[metric] = name
    return written


def plots_for_report(
    report_path: Path, context: GateContext | None, report: dict[str, Any], problem: str | None
) -> None:
    """Add `plots` (metric -> file) or `plots_note` to the report, drawing when possible."""
    from pytest_airecovery.gates.phases import PER_METRIC_CRITERIA

    if not matplotlib_available():
        report["plots_note"] = NO_MATPLOTLIB_NOTE
        return
    if context is None:
        report["plots_note"] = f"plots not drawn: {problem or 'no metric data loaded'}"
        return
    outcomes: dict[str, str] = {}
    for item in report.get("criteria", []):
        metric = item.get("metric")
        if metric and item.get("criterion") in PER_METRIC_CRITERIA:
            # The worst outcome of the metric's criteria labels its plot.
            rank = ("PASS", "INCONCLUSIVE", "FAIL", "ERROR")
            previous = outcomes.get(metric, "PASS")
            worst = max(previous, item["outcome"], key=lambda o: rank.index(o) if o in rank else 0)
            outcomes[metric] = worst
    metrics = sorted(outcomes) or context.gated_metrics()
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report["plots"] = write_plots(report_path, context, metrics, outcomes)

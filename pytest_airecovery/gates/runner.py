"""Load a gate once per process (settings + metric source) and evaluate its criteria on demand.

Loading happens at collection, so every xdist worker reads the same files and builds the same
list of (criterion, metric) pairs. Problems found while loading do not crash collection: they
become a single erroring item that says what is broken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_airecovery.gates.errors import GateConfigError, GateSourceError
from pytest_airecovery.gates.phases import PER_METRIC_CRITERIA, GateConfig, Phase, load_gate_config
from pytest_airecovery.gates.verdicts import Verdict

if TYPE_CHECKING:
    from pytest_airecovery.gates.context import GateContext
    from pytest_airecovery.gates.session_cases import CaseResults
    from pytest_airecovery.gates.sources import MetricSource

SourceFactory = Callable[[str], "MetricSource | None"]


@dataclass(frozen=True)
class GateCheck:
    """One gate item: a criterion, for one metric when the criterion is per metric."""

    criterion: str
    metric: str | None

    @property
    def name(self) -> str:
        return f"{self.criterion}[{self.metric}]" if self.metric else self.criterion


class GateRun:
    """The gate for one phase in this process: settings, data, and verdicts computed so far."""

    def __init__(
        self,
        phase_name: str,
        metrics_location: str | None,
        config_path: str | None,
        rootdir: Path,
        source_factory: SourceFactory | None = None,
        search_dirs: Sequence[Path] = (),
    ) -> None:
        self.phase_name = phase_name
        self.metrics_location = metrics_location
        self.config_path = config_path
        self.rootdir = rootdir
        self.source_factory = source_factory
        self.search_dirs = tuple(search_dirs)  # where else a pyproject.toml may hold settings
        self.load_error: str | None = None  # "what is broken", when loading failed
        self.settings: GateConfig | None = None
        self.phase: Phase | None = None
        self.source: MetricSource | None = None
        self._context: GateContext | None = None
        self._verdicts: dict[GateCheck, Verdict] = {}
        self.case_results: CaseResults | None = None  # set when --incident-cases runs alongside
        self.wall_clock = time.time()  # one "now" for the whole run (future-sample checks)

    def load(self) -> None:
        """Read settings and data; on failure remember why instead of raising."""
        try:
            self.settings = load_gate_config(self.config_path, self.rootdir, self.search_dirs)
            self.phase = self.settings.phase(self.phase_name)
        except GateConfigError as error:
            self.load_error = f"gate configuration: {error}"
            return
        if not self.metrics_location:
            self.load_error = (
                "no metric source: pass --incident-metrics PATH (a JSON/CSV export) "
                "or prometheus+http://HOST:PORT"
            )
            return
        from pytest_airecovery.gates.datarules import validate_metric_data

        try:
            self.source = self._make_source(self.metrics_location, self.settings, self.phase)
            data = self.source.load()
            # Every source, a hook's too, meets the same data rules before a criterion reads it.
            validate_metric_data(data, self.wall_clock)
        except (GateSourceError, GateConfigError) as error:
            self.load_error = f"metric source: {error}"
            return
        from pytest_airecovery.gates.context import GateContext

        context = GateContext(self.settings, self.phase, data, self.rootdir,
                              wall_clock=self.wall_clock, case_results=self.case_results)  # fmt: skip
        try:
            undefined = sorted(set(self.phase.metrics or ()) - context.declared_metrics())
            if undefined:
                raise GateConfigError(
                    f"phases.{self.phase.name}.metrics: unknown metric {', '.join(undefined)} "
                    "(define it under metrics in the settings or in the export's metrics table)"
                )
            # Declared defaults in the export are checked now, so a bad one errors its items early.
            for metric in context.gated_metrics():
                context.metric_spec(metric)
        except GateConfigError as error:
            self.load_error = f"metric definitions: {error}"
            return
        self._context = context

    def _make_source(self, location: str, settings: GateConfig, phase: Phase) -> MetricSource:
        """A hook's source for the location, else an embedded one (nothing is read yet)."""
        from pytest_airecovery.gates.sources import default_source

        source = self.source_factory(location) if self.source_factory else None
        return source or default_source(location, self.rootdir, settings, phase)

    @property
    def context(self) -> GateContext | None:
        """Settings and data after a successful load(); None before or after a failed one."""
        return self._context

    def checks(self) -> list[GateCheck]:
        """The items to collect, in a fixed order: the phase's criteria, then metrics sorted."""
        if self._context is None or self.phase is None:
            return []
        metrics = self._context.gated_metrics()
        checks: list[GateCheck] = []
        for criterion in self.phase.criteria:
            if criterion in PER_METRIC_CRITERIA and metrics:
                checks.extend(GateCheck(criterion, metric) for metric in metrics)
            else:
                checks.append(GateCheck(criterion, None))
        return checks

    def evaluate(self, check: GateCheck) -> Verdict:
        if check not in self._verdicts:
            from pytest_airecovery.gates.criteria import evaluate

            assert self._context is not None, "evaluate() after a failed load"
            self._verdicts[check] = evaluate(self._context, check.criterion, check.metric)
        return self._verdicts[check]

    def evaluate_without_data(self, check: GateCheck) -> Verdict:
        """A criterion that reads no metrics (regression-tests), where nothing was collected.

        The xdist controller never collects, so it has neither settings nor data loaded; it
        evaluates the same-session regression-tests item after every worker has finished.
        """
        from pytest_airecovery.gates.context import GateContext
        from pytest_airecovery.gates.criteria import evaluate
        from pytest_airecovery.gates.sources import EMPTY_SERIES, MetricData
        from pytest_airecovery.gates.verdicts import errored

        try:
            self.settings = self.settings or load_gate_config(
                self.config_path, self.rootdir, self.search_dirs
            )
            self.phase = self.phase or self.settings.phase(self.phase_name)
        except GateConfigError as error:
            return errored(check.criterion, check.metric, f"gate configuration: {error}")
        nothing = MetricData({}, EMPTY_SERIES, EMPTY_SERIES, None, "no metrics needed")
        context = GateContext(
            self.settings, self.phase, nothing, self.rootdir, case_results=self.case_results
        )
        return evaluate(context, check.criterion, check.metric)

    def _source_label(self) -> str | None:
        """The source's description, also where nothing was loaded (the xdist controller)."""
        if self.source is None and self.metrics_location and self.settings and self.phase:
            try:
                return self._make_source(
                    self.metrics_location, self.settings, self.phase
                ).description
            except (GateSourceError, GateConfigError):
                pass
        return self.source.description if self.source else self.metrics_location

    def describe(self) -> dict[str, object]:
        """Phase and source facts for the report header."""
        phase = self.phase
        return {
            "phase": self.phase_name,
            "traffic_range": [phase.traffic_min, phase.traffic_max] if phase else None,
            "min_duration_seconds": phase.min_duration if phase else None,
            "source": self._source_label(),
            "settings": str(self.settings.source)
            if self.settings and self.settings.source
            else "defaults",
            "data_notes": list(self._context.data.notes) if self._context else [],
        }

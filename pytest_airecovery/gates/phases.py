"""Rollout phases, metric definitions and gate settings: defaults plus project overrides.

The defaults are the source document's table. A project overrides any part of it in
`[tool.airecovery.gates]` of pyproject.toml, or in a TOML/YAML file given with
`--incident-gate-config` (settings at top level). Every key is checked: an unknown key, an unknown
metric or criterion, or a value of the wrong type is a `GateConfigError`, never a silent default.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pytest_airecovery.gates.errors import GateConfigError
from pytest_airecovery.gates.timeutil import (
    TimeFormatError,
    parse_duration,
    parse_size,
    parse_timestamp,
)

if TYPE_CHECKING:
    from pytest_airecovery.gates.prometheus import PrometheusSettings

HOUR = 3600.0

CRITERIA = (
    "traffic-share",
    "duration",
    "no-anomalies",
    "match-baseline",
    "no-user-reports",
    "regression-tests",
    "stable-operation",
)
PER_METRIC_CRITERIA = frozenset({"no-anomalies", "match-baseline", "stable-operation"})
# Reserved names in exports: they describe the rollout, not a model metric.
RESERVED_METRICS = frozenset({"traffic_share", "user_reports"})


@dataclass(frozen=True)
class Phase:
    """One step of the rollout: traffic range (fractions), durations (seconds), exit criteria."""

    name: str
    traffic_min: float
    traffic_max: float
    min_duration: float
    max_duration: float | None
    criteria: tuple[str, ...]
    metrics: tuple[str, ...] | None = None  # None: every defined metric

    def traffic_label(self) -> str:
        low, high = 100 * self.traffic_min, 100 * self.traffic_max
        return f"{low:g}%" if low == high else f"{low:g}-{high:g}%"


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means: continuous or proportion, which way is better, margin and SLOs."""

    name: str
    kind: Literal["continuous", "proportion"] = "continuous"  # proportion rows carry `trials`
    direction: Literal["higher", "lower"] | None = None  # which is better; match-baseline needs it
    margin: float = 0.02
    margin_kind: Literal["relative", "absolute"] = "relative"
    slo_min: float | None = None
    slo_max: float | None = None
    quantiles: tuple[float, ...] | None = None  # compared per quantile; None: p50, p90 (+ p99)
    kind_declared: bool = False  # False: rows with `trials` make it a proportion (context.py)


@dataclass(frozen=True)
class TimeWindow:
    start: float
    end: float

    def contains(self, moment: float) -> bool:
        return self.start <= moment <= self.end


@dataclass(frozen=True)
class GateConfig:
    phases: dict[str, Phase]
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    min_samples: int = 50
    alpha: float = 0.05  # one-sided, for match-baseline
    anomaly_alpha: float = 0.001  # no-anomalies: one-sided towards the worse side
    min_shift: float = 0.0  # relative to the baseline median: shifts smaller than this are noise
    band_width: float = 4.0  # MAD band half-width in robust standard deviations
    min_run: int = 5  # consecutive points outside the band (or past an SLO) that count
    max_staleness: float = 15 * 60.0
    max_gap: float = 5 * 60.0
    user_reports_max_age: float = HOUR
    baseline_window: TimeWindow | None = None  # None: the concurrent control arm
    incident_window: TimeWindow | None = None
    regression_junit: str | None = None
    regression_match: str | None = None
    evaluate_at: float | None = None  # replay a decision at a fixed time instead of the export's
    prometheus: PrometheusSettings | None = None  # PromQL per metric, for a prometheus+http source
    max_export_bytes: int = 256 * 2**20  # an export file larger than this is refused unread
    # The settings' own metric tables as written: merged field by field over an export's defaults.
    metric_tables: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    source: Path | None = None  # where the settings came from, for messages

    def phase(self, name: str) -> Phase:
        if name not in self.phases:
            known = ", ".join(self.phases)
            raise GateConfigError(f"unknown phase {name!r} (known: {known})")
        return self.phases[name]

    def next_phase(self, name: str) -> Phase | None:
        names = list(self.phases)
        index = names.index(name)
        return self.phases[names[index + 1]] if index + 1 < len(names) else None

    def previous_phase(self, name: str) -> Phase | None:
        names = list(self.phases)
        index = names.index(name)
        return self.phases[names[index - 1]] if index > 0 else None


DEFAULT_PHASES: dict[str, Phase] = {
    "canary": Phase("canary", 0.01, 0.05, 2 * HOUR, 4 * HOUR,
                    ("traffic-share", "duration", "no-anomalies")),
    "limited": Phase("limited", 0.10, 0.25, 4 * HOUR, 8 * HOUR,
                     ("traffic-share", "duration", "match-baseline")),
    "majority": Phase("majority", 0.50, 0.75, 8 * HOUR, 24 * HOUR,
                      ("traffic-share", "duration", "no-user-reports", "regression-tests")),
    "full": Phase("full", 1.0, 1.0, 72 * HOUR, None, ("traffic-share", "stable-operation")),
}  # fmt: skip

_PHASE_KEYS = {"traffic", "min_duration", "max_duration", "criteria", "metrics"}
_METRIC_KEYS = {"kind", "direction", "margin", "margin_kind", "slo_min", "slo_max", "quantiles"}
_TOP_KEYS = {
    "phases", "order", "metrics", "min_samples", "alpha", "anomaly_alpha", "min_shift",
    "band_width", "min_run", "max_staleness", "max_gap", "user_reports_max_age", "baseline_window",
    "incident_window", "regression_junit", "regression_match", "evaluate_at", "prometheus",
    "max_export_size",
}  # fmt: skip
_DURATION_KEYS = {"max_staleness", "max_gap", "user_reports_max_age"}
_CHOICES = {
    "kind": ("continuous", "proportion"),
    "direction": ("higher", "lower"),
    "margin_kind": ("relative", "absolute"),
}


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise GateConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


def _number(
    value: Any, where: str, *, low: float | None = None, high: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GateConfigError(f"{where}: expected a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise GateConfigError(f"{where}: {value!r} outside [{low}, {high}]")
    return float(value)


def _duration(value: Any, where: str) -> float:
    try:
        return parse_duration(value)
    except TimeFormatError as error:
        raise GateConfigError(f"{where}: {error}") from None


def _size(value: Any, where: str) -> int:
    try:
        return parse_size(value)
    except TimeFormatError as error:
        raise GateConfigError(f"{where}: {error}") from None


def _window(value: Any, where: str) -> TimeWindow:
    if not isinstance(value, Mapping):
        raise GateConfigError(f"{where}: expected a table with start and end")
    _check_keys(value, {"start", "end"}, where)
    try:
        window = TimeWindow(parse_timestamp(value.get("start")), parse_timestamp(value.get("end")))
    except TimeFormatError as error:
        raise GateConfigError(f"{where}: {error}") from None
    if window.end <= window.start:
        raise GateConfigError(f"{where}: end must be after start")
    return window


def _parse_phase(name: str, table: Any, base: Phase | None) -> Phase:
    where = f"phases.{name}"
    if not isinstance(table, Mapping):
        raise GateConfigError(f"{where}: expected a table")
    _check_keys(table, _PHASE_KEYS, where)
    if base is None:
        missing = sorted({"traffic", "min_duration", "criteria"} - set(table))
        if missing:
            raise GateConfigError(f"{where}: a new phase needs {', '.join(missing)}")
        base = Phase(name, 0.0, 0.0, 0.0, None, ())
    phase = base
    if "traffic" in table:
        traffic = table["traffic"]
        if not (isinstance(traffic, list) and len(traffic) == 2):
            raise GateConfigError(f"{where}.traffic: expected [min_percent, max_percent]")
        low, high = (_number(v, f"{where}.traffic", low=0, high=100) for v in traffic)
        if low > high:
            raise GateConfigError(f"{where}.traffic: min {low} is above max {high}")
        phase = replace(phase, traffic_min=low / 100, traffic_max=high / 100)
    if "min_duration" in table:
        phase = replace(
            phase, min_duration=_duration(table["min_duration"], f"{where}.min_duration")
        )
    if "max_duration" in table:
        raw = table["max_duration"]
        phase = replace(phase, max_duration=None if raw in (None, "none", "ongoing")
                        else _duration(raw, f"{where}.max_duration"))  # fmt: skip
    if "criteria" in table:
        criteria = table["criteria"]
        if not (isinstance(criteria, list) and all(isinstance(c, str) for c in criteria)):
            raise GateConfigError(f"{where}.criteria: expected a list of names")
        unknown = sorted(set(criteria) - set(CRITERIA))
        if unknown:
            raise GateConfigError(
                f"{where}.criteria: unknown criterion {', '.join(unknown)} "
                f"(known: {', '.join(CRITERIA)})"
            )
        phase = replace(phase, criteria=tuple(dict.fromkeys(criteria)))
    if "metrics" in table:
        metrics = table["metrics"]
        if not (isinstance(metrics, list) and all(isinstance(m, str) for m in metrics)):
            raise GateConfigError(f"{where}.metrics: expected a list of metric names")
        phase = replace(phase, metrics=tuple(dict.fromkeys(metrics)))
    if phase.max_duration is not None and phase.max_duration < phase.min_duration:
        raise GateConfigError(f"{where}: max_duration is shorter than min_duration")
    return phase


def parse_metric(name: str, table: Any, where: str = "metrics") -> MetricSpec:
    where = f"{where}.{name}"
    if not isinstance(table, Mapping):
        raise GateConfigError(f"{where}: expected a table")
    _check_keys(table, _METRIC_KEYS, where)
    if name in RESERVED_METRICS:
        raise GateConfigError(f"{where}: {name!r} is reserved for rollout data")
    values: dict[str, Any] = {}
    for key, choices in _CHOICES.items():
        if key in table:
            if table[key] not in choices:
                raise GateConfigError(f"{where}.{key}: {table[key]!r} is not one of {choices}")
            values[key] = table[key]
    if "margin" in table:
        values["margin"] = _number(table["margin"], f"{where}.margin", low=0)
    for key in ("slo_min", "slo_max"):
        if table.get(key) is not None:
            values[key] = _number(table[key], f"{where}.{key}")
    values["kind_declared"] = "kind" in table
    if "quantiles" in table:
        values["quantiles"] = _quantiles(table["quantiles"], f"{where}.quantiles")
    return MetricSpec(name=name, **values)


def _quantiles(raw: Any, where: str) -> tuple[float, ...]:
    """Quantiles as fractions in (0, 1) or percentiles "p90"; e.g. ["p50", "p90", 0.99]."""
    if not (isinstance(raw, list) and raw):
        raise GateConfigError(f'{where}: expected a non-empty list such as ["p50", "p90"]')
    levels = []
    for item in raw:
        if isinstance(item, str) and item[:1] in "pP":
            try:
                level = float(item[1:]) / 100
            except ValueError:
                raise GateConfigError(f"{where}: {item!r} is not a percentile like 'p90'") from None
        else:
            level = _number(item, where)
        if not 0 < level < 1:
            raise GateConfigError(f"{where}: {item!r} is not strictly between p0 and p100")
        levels.append(level)
    return tuple(sorted(set(levels)))


def parse_gate_config(settings: Mapping[str, Any], source: Path | None = None) -> GateConfig:
    """Build a GateConfig from a settings mapping (the `gates` table), on top of the defaults."""
    if not isinstance(settings, Mapping):
        raise GateConfigError("gate settings must be a table/mapping")
    _check_keys(settings, _TOP_KEYS, "gate settings")
    phases = dict(DEFAULT_PHASES)
    raw_phases = settings.get("phases", {})
    if not isinstance(raw_phases, Mapping):
        raise GateConfigError("phases: expected a table of phase tables")
    for name, table in raw_phases.items():
        phases[name] = _parse_phase(name, table, phases.get(name))
    if "order" in settings:
        order = settings["order"]
        if not (isinstance(order, list) and order and set(order) <= set(phases)):
            raise GateConfigError(f"order: expected a list of known phases ({', '.join(phases)})")
        phases = {name: phases[name] for name in order}
    raw_metrics = settings.get("metrics", {})
    if not isinstance(raw_metrics, Mapping):
        raise GateConfigError("metrics: expected a table of metric tables")
    metrics = {name: parse_metric(name, table) for name, table in sorted(raw_metrics.items())}
    # A phase may name a metric that only the export's `metrics` table defines: checked when the
    # data is loaded (GateRun.load), where both are known.
    values: dict[str, Any] = {"metric_tables": {name: dict(raw_metrics[name]) for name in metrics}}
    if "max_export_size" in settings:
        values["max_export_bytes"] = _size(settings["max_export_size"], "max_export_size")
    for key in ("alpha", "anomaly_alpha"):
        if key in settings:
            values[key] = _number(settings[key], key, low=1e-12, high=0.5)
    for key in ("min_samples", "min_run"):
        if key in settings:
            number = _number(settings[key], key, low=1)
            if number != int(number):
                raise GateConfigError(f"{key}: expected a whole number, got {settings[key]!r}")
            values[key] = int(number)
    for key in ("band_width", "min_shift"):
        if key in settings:
            values[key] = _number(settings[key], key, low=0)
    for key in _DURATION_KEYS & set(settings):
        values[key] = _duration(settings[key], key)
    for key in ("baseline_window", "incident_window"):
        if key in settings:
            values[key] = _window(settings[key], key)
    for key in ("regression_junit", "regression_match"):
        if key in settings:
            if not isinstance(settings[key], str):
                raise GateConfigError(f"{key}: expected a string")
            values[key] = settings[key]
    if "evaluate_at" in settings:
        try:
            values["evaluate_at"] = parse_timestamp(settings["evaluate_at"])
        except TimeFormatError as error:
            raise GateConfigError(f"evaluate_at: {error}") from None
    if "prometheus" in settings:
        from pytest_airecovery.gates.prometheus import parse_prometheus_settings

        values["prometheus"] = parse_prometheus_settings(settings["prometheus"])
    return GateConfig(phases=phases, metrics=metrics, source=source, **values)


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            raise GateConfigError(
                f"{path}: reading TOML on Python 3.10 needs the 'tomli' package "
                "(pip install tomli), or use a YAML gate config"
            ) from None
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, ValueError) as error:
        raise GateConfigError(f"{path}: cannot read TOML: {error}") from None


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        raise GateConfigError(f"{path}: cannot read YAML: {error}") from None


def _pyproject_gates(document: Mapping[str, Any]) -> Any:
    return document.get("tool", {}).get("airecovery", {}).get("gates", {})


def _pyproject_settings(pyproject: Path) -> Any:
    """The `[tool.airecovery.gates]` table of a pyproject.toml ({} when it has none)."""
    if sys.version_info < (3, 11):  # pragma: no cover - exercised on 3.10 only
        try:
            import tomli  # noqa: F401
        except ImportError:
            # Without a TOML reader we can still tell whether there is anything to miss.
            if "[tool.airecovery.gates" in pyproject.read_text(encoding="utf-8"):
                raise GateConfigError(
                    f"{pyproject} has [tool.airecovery.gates] but Python 3.10 needs "
                    "'tomli' to read it (pip install tomli)"
                ) from None
            return {}
    return _pyproject_gates(_load_toml(pyproject))


def load_gate_config(
    config_path: str | Path | None, rootdir: Path, search_dirs: Sequence[Path] = ()
) -> GateConfig:
    """Settings from an explicit file, else `[tool.airecovery.gates]` in pyproject.toml, else defaults.

    pytest's rootdir moves when a path outside the repository is on the command line (a spaced
    `--incident-metrics ../x.json` looks like a test path to pytest's early argument scan), so
    the pyproject.toml is looked for in `search_dirs` (the ini file's folder, the invocation
    directory) as well as the rootdir. Two different files with gate settings are an error: the
    gate will not guess which one the user meant.
    """
    if config_path:
        path = Path(config_path)
        if not path.is_absolute() and not path.exists():
            path = rootdir / path
        if not path.is_file():
            raise GateConfigError(f"gate config {config_path} not found")
        if path.suffix in (".yaml", ".yml"):
            return parse_gate_config(_load_yaml(path), path)
        if path.suffix == ".toml":
            document = _load_toml(path)
            settings = _pyproject_gates(document) if path.name == "pyproject.toml" else document
            return parse_gate_config(settings, path)
        raise GateConfigError(f"gate config {path}: expected .toml, .yaml or .yml")
    found: dict[Path, Any] = {}
    for folder in (*search_dirs, rootdir):
        pyproject = (folder / "pyproject.toml").resolve()
        if pyproject not in found and pyproject.is_file():
            found[pyproject] = _pyproject_settings(pyproject)
    with_settings = {path: settings for path, settings in found.items() if settings}
    if len({repr(settings) for settings in with_settings.values()}) > 1:
        names = " and ".join(str(path) for path in with_settings)
        raise GateConfigError(
            f"[tool.airecovery.gates] found in {names}: pass --incident-gate-config to say "
            "which settings this gate uses"
        )
    if with_settings:
        # Name the file only when it actually holds gate settings; otherwise these are defaults.
        path, settings = next(iter(with_settings.items()))
        return parse_gate_config(settings, path)
    return parse_gate_config({}, None)


def settings_search_dirs(inipath: Path | None, invocation_dir: Path) -> list[Path]:
    """Where a repository's pyproject.toml may be, besides pytest's rootdir.

    The ini file's folder, then the invocation directory and its parents up to the first one
    with a pyproject.toml (how pytest itself finds a project when nothing moves its rootdir).
    """
    folders = [inipath.parent] if inipath is not None else []
    for folder in (invocation_dir, *invocation_dir.parents):
        if (folder / "pyproject.toml").is_file():
            folders.append(folder)
            break
    return folders

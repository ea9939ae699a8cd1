"""pytest hooks of pytest-airecovery. Only hooks live here; the work is in the modules they call.

Imported by pytest in every run of every repo that installs the plugin, so it imports nothing
heavy at module level: numpy, jsonschema, yaml and the rest load only when a feature is used.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

CASE_FILE_SUFFIXES = (".yaml", ".yml", ".json")
ADVERSARIAL_MARKER_HELP = (
    "adversarial(suite=None, incident=None, *, transforms, variants=5, seed=0, trigger, inputs): "
    "adversarial variant of an incident trigger (pytest-airecovery, docs/adversarial.md); "
    "`-m adversarial` selects case-file variants and marked Python tests"
)
ROOT_CAUSE_MARKERS = (
    "training_data_contamination",
    "configuration_error",
    "supply_chain_compromise",
    "adversarial_exploitation",
    "root_cause_other",
)
# Our options that take a value (filled by pytest_addoption), for the rootdir check at configure.
_VALUE_OPTIONS: list[str] = []


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_airecovery import hookspecs
    from pytest_airecovery.gates import hookspecs as gate_hookspecs

    pluginmanager.add_hookspecs(hookspecs)
    pluginmanager.add_hookspecs(gate_hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("airecovery", "incident regression cases (pytest-airecovery)")
    group.addoption(
        "--incident-cases",
        action="store_true",
        dest="incident_cases",
        default=False,
        help="Collect incident case files (from the incident_cases ini paths unless paths are given)",
    )
    group.addoption(
        "--incident-model",
        action="append",
        dest="incident_models",
        default=[],
        metavar="REF",
        help="Candidate model for REF's family (family@version); repeat for several families",
    )
    group.addoption(
        "--incident-verify-catches",
        action="store_true",
        dest="incident_verify_catches",
        default=False,
        help="Also prove each case fails on the known-bad model and passes on the known-good one",
    )
    group.addoption(
        "--incident-cache-clear",
        action="store_true",
        dest="incident_cache_clear",
        default=False,
        help="Empty the model output and parsed case-file caches before the run",
    )
    group.addoption(
        "--incident-report",
        dest="incident_report",
        default=None,
        metavar="PATH",
        help="Write a JSON report of the incident cases to PATH",
    )
    group.addoption(
        "--incident-batch-size",
        dest="incident_batch_size",
        default=None,
        metavar="N",
        help="Inputs per model call (default: ini incident_batch_size, else 256)",
    )
    group.addoption(
        "--incident-model-timeout",
        dest="incident_model_timeout",
        default=None,
        metavar="SECONDS",
        help="Fail a model batch that takes longer (default: ini incident_model_timeout, else 300; 0 = none)",
    )
    group.addoption(
        "--incident-gate",
        dest="incident_gate",
        default=None,
        metavar="PHASE",
        help="Collect the exit-criteria gate items of PHASE (canary, limited, majority, full)",
    )
    group.addoption(
        "--incident-metrics",
        dest="incident_metrics",
        default=None,
        metavar="SOURCE",
        help="Metric source for the gate: a JSON/CSV export or a value a source hook understands",
    )
    group.addoption(
        "--incident-gate-report",
        dest="incident_gate_report",
        default=None,
        metavar="PATH",
        help="Write the gate decision as JSON to PATH and Markdown beside it",
    )
    group.addoption(
        "--incident-gate-decision",
        dest="incident_gate_decision",
        default=None,
        metavar="PATH",
        help="Write the decision word (promote, hold or rollback) to PATH; also to $GITHUB_OUTPUT when set",
    )
    group.addoption(
        "--incident-gate-config",
        dest="incident_gate_config",
        default=None,
        metavar="PATH",
        help="Gate settings in a TOML or YAML file (default: [tool.airecovery.gates] in pyproject.toml)",
    )
    group.addoption(
        "--incident-known-good",
        action="append",
        dest="incident_known_good",
        default=[],
        metavar="REF",
        help="Known-good model for REF's family in behaviour diffs (family@version); repeatable",
    )
    group.addoption(
        "--incident-record",
        action="store_true",
        dest="incident_record",
        default=False,
        help="Write missing or changed known-good recordings of behaviour diffs, and fail those tests",
    )
    group.addoption(
        "--incident-record-all",
        action="store_true",
        dest="incident_record_all",
        default=False,
        help="Write missing or changed known-good recordings of behaviour diffs, and let the tests run on",
    )
    _add_path_and_limit_options(parser, group)
    # Options that take a value: given spaced, pytest may have read the value as a test path.
    _VALUE_OPTIONS[:] = sorted(
        name
        for option in group.options
        if option.attrs().get("action") not in ("store_true", "store_false")
        for name in option.names()
        if name.startswith("--")
    )
    parser.addini(
        "incident_known_good",
        "Known-good model ref per family for behaviour diffs",
        type="linelist",
        default=[],
    )
    parser.addini("incident_gate_config", "Gate settings file (TOML or YAML)", default="")
    parser.addini(
        "incident_cases",
        "Where incident case files live (default: incident_cases beside the ini file)",
        type="paths",
        default=[],
    )
    parser.addini(
        "incident_model_loader",
        "A function module:attr that turns a model ref into a model",
        default="",
    )
    parser.addini(
        "incident_candidates",
        "Candidate model ref per family (family@version)",
        type="linelist",
        default=[],
    )
    parser.addini("incident_batch_size", "Inputs per model call", default="")
    parser.addini(
        "incident_model_timeout", "Seconds before a model batch is failed as hung", default=""
    )


# A gate run finds its own settings from the invocation folder (gates/settings discovery), so a
# spaced export path outside the repo is fine there; case runs need the ini (loader, candidates).
_GATE_VALUE_OPTIONS = frozenset(
    {
        "--incident-gate",
        "--incident-metrics",
        "--incident-gate-config",
        "--incident-gate-report",
        "--incident-gate-decision",
    }
)


def _options_that_need_the_ini(config: pytest.Config) -> list[str]:
    if config.getoption("incident_cases"):
        return _VALUE_OPTIONS
    return [name for name in _VALUE_OPTIONS if name not in _GATE_VALUE_OPTIONS]


def _add_path_and_limit_options(parser: pytest.Parser, group: Any) -> None:
    # One path policy (pytest_airecovery.cases.paths) and the case-file size limits (cases.limits):
    # both modules import nothing heavy.
    from pytest_airecovery.cases import limits, paths

    group.addoption(
        paths.ALLOW_OUTSIDE_OPTION,
        action="store_true",
        dest=paths.ALLOW_OUTSIDE_DEST,
        default=False,
        help=paths.ALLOW_OUTSIDE_HELP,
    )
    parser.addini(paths.ALLOW_OUTSIDE_INI, paths.ALLOW_OUTSIDE_HELP, type="bool", default=False)
    for name, help_text in limits.INI_HELP.items():
        parser.addini(name, help_text, default="")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and _VALUE_OPTIONS:
        from pytest_airecovery.cases.paths import moved_rootdir_problem

        problem = moved_rootdir_problem(config, _options_that_need_the_ini(config))
        if problem:
            raise pytest.UsageError(problem)
    config.addinivalue_line(
        "markers", "incident_case: an item collected from an incident case file (pytest-airecovery)"
    )
    for level in range(1, 5):
        config.addinivalue_line("markers", f"sev{level}: incident case of severity SEV-{level}")
    for cause in ROOT_CAUSE_MARKERS:
        config.addinivalue_line(
            "markers", f"{cause}: incident case whose root cause is {cause.replace('_', ' ')}"
        )
    config.addinivalue_line("markers", ADVERSARIAL_MARKER_HELP)
    config.addinivalue_line(
        "markers",
        "incident_diff(known_good=None, candidate=None, case_file=None, family=None): models of the "
        "behaviour_diff fixtures (pytest-airecovery, docs/behaviour-diff.md)",
    )
    # Fixture modules import only pytest at module level; the work loads when a fixture is used.
    config.pluginmanager.import_plugin("pytest_airecovery.diff.fixtures")
    config.pluginmanager.import_plugin("pytest_airecovery.data.fixtures")
    if config.getoption("incident_cases"):
        config.pluginmanager.register(IncidentCasesPlugin(config), "airecovery-cases")
    if config.getoption("incident_gate"):
        from pytest_airecovery.gates.pytest_plugin import GatePlugin

        config.pluginmanager.register(GatePlugin(config), "airecovery-gates")
        if (
            not config.getoption("incident_cases")
            and config.args_source != pytest.Config.ArgsSource.ARGS
        ):
            # A gate run with no paths decides on the gate alone, not on the repo's test suite.
            config.pluginmanager.register(_GateOnly(), "airecovery-gate-only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Only tests that carry the marker pay for the adversarial import.
    if metafunc.definition.get_closest_marker("adversarial") is not None:
        from pytest_airecovery.adversarial.pytest_support import generate_tests

        generate_tests(metafunc)


@pytest.fixture
def adversarial_variant(request: pytest.FixtureRequest) -> Any:
    """One adversarial variant (``.value``, ``.original``, ``.transform``, ``.index``) of ``@pytest.mark.adversarial``."""
    from pytest_airecovery.adversarial.pytest_support import variant_for

    return variant_for(request)


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: Any, right: Any
) -> list[str] | None:
    # Called for every failed comparison in every repo: unrelated types return at once, no import.
    if not any(
        type(side).__module__.startswith("pytest_airecovery.diff.") for side in (left, right)
    ):
        return None
    from pytest_airecovery.diff.render import assertrepr_compare

    return assertrepr_compare(config, op, left, right)


class _GateOnly:
    def pytest_ignore_collect(self, collection_path: Path) -> bool:
        return True


def _check_model_options(config: pytest.Config) -> None:
    from pytest_airecovery.models import ModelRefError, PinnedRef

    for ref in config.getoption("incident_models") or []:
        try:
            PinnedRef.parse(ref)
        except ModelRefError as exc:
            raise pytest.UsageError(f"--incident-model: {exc}") from None
    batch_size = config.getoption("incident_batch_size") or config.getini("incident_batch_size")
    if batch_size not in (None, ""):
        try:
            valid = int(str(batch_size).strip()) >= 1
        except ValueError:
            valid = False
        if not valid:
            raise pytest.UsageError(
                f"--incident-batch-size: expected a positive integer, got {batch_size!r}"
            )
    timeout = config.getoption("incident_model_timeout") or config.getini("incident_model_timeout")
    if timeout not in (None, ""):
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = math.nan
        # NaN compares false with everything, so it would never time out: refused like inf.
        if not (math.isfinite(seconds) and seconds >= 0):
            raise pytest.UsageError(
                f"--incident-model-timeout: expected seconds ≥ 0 (finite; 0 = none), got {timeout!r}"
            )


def _check_report_path(config: pytest.Config) -> None:
    """Refuse an ``--incident-report`` path that cannot be written before any model runs."""
    value = config.getoption("incident_report")
    if not value:
        return
    from pytest_airecovery.cases.paths import PathPolicyError, path_policy

    target = Path(value)
    try:
        path_policy(config).check(
            target if target.is_absolute() else config.invocation_params.dir / target,
            what="--incident-report path",
            shown=value,
        )
    except PathPolicyError as exc:
        raise pytest.UsageError(exc.message) from None
    if target.is_dir():
        raise pytest.UsageError(f"--incident-report: cannot write {value}: it is a directory")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise pytest.UsageError(
            f"--incident-report: cannot write {value}: {folder} is not a directory"
        )
    if not os.access(folder, os.W_OK):
        raise pytest.UsageError(
            f"--incident-report: cannot write {value}: {folder} is not writable"
        )


def _case_discovery(config: pytest.Config, roots: list[Path]) -> Any:
    from pytest_airecovery.cases.discovery import CaseDiscovery
    from pytest_airecovery.cases.paths import path_policy

    return CaseDiscovery(roots, CASE_FILE_SUFFIXES, path_policy(config))


def _check_limit_settings(config: pytest.Config) -> None:
    from pytest_airecovery.cases.limits import LimitSettingError, limits_from_ini

    try:
        limits_from_ini(config)
    except LimitSettingError as exc:
        raise pytest.UsageError(str(exc)) from None


class IncidentCasesPlugin:
    """The hooks of an ``--incident-cases`` run; registered only when the flag is given."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.failed_case_files: set[str] = set()
        self.foreign_collect_errors = False
        self.is_worker = hasattr(config, "workerinput")
        _check_model_options(config)
        if not self.is_worker:
            _check_report_path(config)
        _check_limit_settings(config)
        if config.getoption("incident_cache_clear") and not self.is_worker:
            from pytest_airecovery.cases.cache import clear
            from pytest_airecovery.cases.session import cache_dir

            root = cache_dir(config)
            if root is not None:
                clear(root)
        from pytest_airecovery.cases.paths import case_roots

        roots = case_roots(config)
        if config.args_source != pytest.Config.ArgsSource.ARGS:
            # No paths on the command line: the incident case directories are the paths.
            missing = [str(p) for p in roots if not p.exists()]
            if missing:
                raise pytest.UsageError(
                    f"--incident-cases: {', '.join(missing)} does not exist; create it, set the "
                    "incident_cases ini option, or pass case files as arguments"
                )
            config.args = [str(p) for p in roots]
        self.explicit = {Path(arg.split("::")[0]).resolve() for arg in config.args}
        self.roots = roots + sorted(p for p in self.explicit if p.is_dir())
        self.discovery = _case_discovery(config, self.roots)
        self.results: Any = None
        self.report_error = ""
        self.unused_models: list[str] = []
        self.uncovered: list[Any] = []
        if not self.is_worker:
            from pytest_airecovery.cases.report import IncidentResults

            self.results = IncidentResults()

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        # Symlink loops and second routes to one file under the case roots (cases/discovery.py).
        return True if self.discovery.ignore(collection_path) else None

    def pytest_collect_directory(self, path: Path) -> None:
        self.discovery.report_broken_links(path)

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        if file_path.suffix not in CASE_FILE_SUFFIXES:
            return None
        resolved = file_path.resolve()
        # Under a root by its path (a directory linked in, when the path policy allows it) or
        # by its real location.
        routes = (resolved, file_path.absolute())
        if resolved not in self.explicit and not any(
            r.is_relative_to(root) for r in routes for root in self.roots
        ):
            return None
        if not self.discovery.first_time(file_path):
            return None
        from pytest_airecovery.cases.collect import IncidentFile

        return IncidentFile.from_parent(parent, path=file_path)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Plan batches from the final, deselected item list: the same on every xdist worker.
        families: set[str] = set()
        for item in session.items:
            plan = getattr(item, "plan_outputs", None)
            if plan is not None:
                plan()
                families.add(item.case_file.family)  # type: ignore[attr-defined]
        self.unused_models = sorted(
            ref
            for ref in self.config.getoption("incident_models") or []
            if ref.partition("@")[0] not in families
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            if report.nodeid.endswith(CASE_FILE_SUFFIXES):
                self.failed_case_files.add(report.nodeid)
                if self.results is not None:
                    self.results.add_collection_error(report)
            else:
                self.foreign_collect_errors = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        # A broken case file is a collection error for that file alone: the other files still
        # run. Collection errors anywhere else keep pytest's usual stop.
        if self.failed_case_files and not self.foreign_collect_errors:
            self.config.option.continue_on_collection_errors = True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        report_data = getattr(item, "report_data", None)
        if report_data is not None:
            # A plain attribute survives xdist's report serialisation, so the controller aggregates.
            report.airecovery = report_data()
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.results is not None:
            self.results.add(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.results is None:
            return
        self.uncovered = self._uncovered_action_items()
        path = self.config.getoption("incident_report")
        if path:
            from dataclasses import asdict

            try:
                self.results.write_json(
                    Path(path),
                    {"uncovered_action_items": [asdict(item) for item in self.uncovered]},
                )
            except OSError as exc:
                self.report_error = f"--incident-report: cannot write {path}: {exc.strerror or exc}"
                session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def _uncovered_action_items(self) -> list[Any]:
        """Action items of the run's case files that no passing case covers.

        Read from the case files themselves (the parsed cache makes it cheap), because under
        xdist the controller has collected nothing.
        """
        from pytest_airecovery.cases.loader import CaseFileError, load_case_file, load_options
        from pytest_airecovery.cases.session import incident_session
        from pytest_airecovery.pir.coverage import uncovered_action_items

        state = incident_session(self.config)
        case_files = []
        for nodeid in self.results.case_file_nodeids():
            try:
                case_files.append(
                    load_case_file(
                        self.config.rootpath / nodeid,
                        shown_as=nodeid,
                        check_lookup=state.registry.get,
                        parsed_cache=state.parsed_cache,
                        **load_options(self.config),
                    )
                )
            except CaseFileError:
                continue  # already reported as this file's collection error
        # A `pin:` entry is verified only by a passed [catches] test (it loads and hashes both models).
        catches_passed = {
            (incident, case)
            for incident, entry in self.results.incidents.items()
            for case, catch in entry.catches.items()
            if catch.get("outcome") == "passed"
        }
        return uncovered_action_items(case_files, self.results.passing_cases(), catches_passed)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results is None or not (self.results.incidents or self.results.collection_errors):
            return
        terminalreporter.section("incident cases")
        for line in self.results.summary_lines():
            terminalreporter.write_line(line)
        if self.uncovered:
            terminalreporter.write_line("action items no passing case covers:")
            for item in self.uncovered:
                terminalreporter.write_line(f"    {item.render()}")
        for ref in self.unused_models:
            terminalreporter.write_line(
                f"note: --incident-model {ref} matched no collected case (no case file of that family)"
            )
        path = self.config.getoption("incident_report")
        if self.report_error:
            terminalreporter.write_line(f"ERROR: {self.report_error}", red=True)
        elif path:
            terminalreporter.write_line(f"JSON report: {path}")

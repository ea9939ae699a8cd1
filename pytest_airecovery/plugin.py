"""The entry point of pytest-airecovery: registers the hook specs, options and sub-plugins.

As pytest-xdist's ``plugin.py`` hands off to its session objects, this module only declares and
registers: the case run's hooks live in ``cases/pytest_plugin.py``, the gate's in
``gates/pytest_plugin.py``, and each feature's in its ``case_plugin`` module. Imported by pytest
in every run of every repo that installs the plugin, so it imports nothing heavy: numpy,
jsonschema, yaml and the rest load only when a feature is used.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
# Fixture modules import only pytest at module level; the work loads when a fixture is used.
FIXTURE_PLUGINS = ("pytest_airecovery.diff.fixtures", "pytest_airecovery.data.fixtures")
# Our options that take a value (filled by pytest_addoption), for the rootdir check at configure.
_VALUE_OPTIONS: list[str] = []


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_airecovery import hookspecs
    from pytest_airecovery.cases import hookspecs as case_hookspecs
    from pytest_airecovery.gates import hookspecs as gate_hookspecs

    pluginmanager.add_hookspecs(hookspecs)
    pluginmanager.add_hookspecs(case_hookspecs)
    pluginmanager.add_hookspecs(gate_hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    from pytest_airecovery.cases import options as case_options
    from pytest_airecovery.diff import case_plugin as diff_plugin

    group = parser.getgroup("airecovery", "incident regression cases (pytest-airecovery)")
    case_options.add_run_options(group)
    _add_gate_options(group)
    diff_plugin.add_options(group)
    case_options.add_path_and_limit_options(parser, group)
    _VALUE_OPTIONS[:] = case_options.value_options(group)
    diff_plugin.add_ini(parser)
    parser.addini("incident_gate_config", "Gate settings file (TOML or YAML)", default="")
    case_options.add_run_ini(parser)


def _add_gate_options(group: pytest.OptionGroup) -> None:
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


def pytest_configure(config: pytest.Config) -> None:
    from pytest_airecovery.cases.options import check_rootdir
    from pytest_airecovery.features import FEATURE_PLUGINS

    check_rootdir(config, _VALUE_OPTIONS)
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
    for name in (*FIXTURE_PLUGINS, *FEATURE_PLUGINS):
        config.pluginmanager.import_plugin(name)
    if config.getoption("incident_cases"):
        from pytest_airecovery.cases.pytest_plugin import IncidentCasesPlugin

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


class _GateOnly:
    def pytest_ignore_collect(self, collection_path: Path) -> bool:
        return True

"""Command-line options and ini settings of a case run, and their checks before any model runs.

Declared by ``plugin.py`` (``pytest_addoption``) in the group all pytest-airecovery options share;
only strings and simple values, because xdist sends options to its workers. Imports nothing
heavy: pytest loads this in every run.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

# A gate run finds its own settings from the invocation folder (gates/settings discovery), so a
# spaced export path outside the repo is fine there; case runs need the ini (loader, candidates).
GATE_VALUE_OPTIONS = frozenset(
    {
        "--incident-gate",
        "--incident-metrics",
        "--incident-gate-config",
        "--incident-gate-report",
        "--incident-gate-decision",
    }
)


def add_run_options(group: Any) -> None:
    """The options of an ``--incident-cases`` run."""
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


def add_path_and_limit_options(parser: pytest.Parser, group: Any) -> None:
    """One path policy (cases.paths) and the case-file size limits (cases.limits)."""
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


def add_run_ini(parser: pytest.Parser) -> None:
    """The ini settings of a case run."""
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


def value_options(group: Any) -> list[str]:
    """Our options that take a value: given spaced, pytest may have read the value as a test path."""
    return sorted(
        name
        for option in group.options
        if option.attrs().get("action") not in ("store_true", "store_false")
        for name in option.names()
        if name.startswith("--")
    )


def check_rootdir(config: pytest.Config, value_option_names: list[str]) -> None:
    """Refuse a run whose value options moved the rootdir away from the ini (on the controller)."""
    if hasattr(config, "workerinput") or not value_option_names:
        return
    from pytest_airecovery.cases.paths import moved_rootdir_problem

    names = (
        value_option_names
        if config.getoption("incident_cases")
        else [name for name in value_option_names if name not in GATE_VALUE_OPTIONS]
    )
    problem = moved_rootdir_problem(config, names)
    if problem:
        raise pytest.UsageError(problem)


def check_model_options(config: pytest.Config) -> None:
    from pytest_airecovery.cases.session import ModelProvider
    from pytest_airecovery.models import ModelRefError, PinnedRef

    for ref in config.getoption("incident_models") or []:
        try:
            PinnedRef.parse(ref)
        except ModelRefError as exc:
            raise pytest.UsageError(f"--incident-model: {exc}") from None
    # The ini candidates and their pins (one sha256 per ref) are checked as the provider reads
    # them: a usage error now, not a collection error of every case file.
    ModelProvider(config)
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


def check_report_path(config: pytest.Config) -> None:
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


def check_limit_settings(config: pytest.Config) -> None:
    from pytest_airecovery.cases.limits import LimitSettingError, limits_from_ini

    try:
        limits_from_ini(config)
    except LimitSettingError as exc:
        raise pytest.UsageError(str(exc)) from None

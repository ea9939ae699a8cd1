"""Paths of a run: where the case directories are, how reports show paths, and option values that
moved pytest's rootdir.

pytest chooses its rootdir and ini file before it loads installed plugins, so at that moment
``--incident-report /some/dir`` is an unknown option and ``/some/dir`` looks like a test path: when
it exists outside the project, the rootdir moves to a common ancestor and the project's ini file
(candidates, loader, case paths) is silently dropped. ``--incident-report=/some/dir`` is immune.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest


def settings_dir(config: pytest.Config) -> Path:
    """The folder ini paths are relative to: the ini file's, else the rootdir (pytest's own rule)."""
    return config.inipath.parent if config.inipath is not None else config.rootpath


def case_roots(config: pytest.Config) -> list[Path]:
    """The ``incident_cases`` ini paths; the default ``incident_cases`` resolves like an explicit value."""
    configured = [Path(p) for p in config.getini("incident_cases")]
    return [p.resolve() for p in configured] or [(settings_dir(config) / "incident_cases").resolve()]


def shown_path(path: str | os.PathLike[str], rootpath: Path) -> str:
    """``path`` relative to the rootdir when it is inside it (POSIX separators), else absolute."""
    resolved = Path(path).resolve()
    root = rootpath.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)


def spaced_values(args: Sequence[str], options: Sequence[str]) -> list[tuple[str, str]]:
    """``(option, value)`` for each of ``options`` given as ``--option VALUE`` (not ``--option=VALUE``)."""
    found = []
    for position, arg in enumerate(args[:-1]):
        if arg in options:
            found.append((arg, args[position + 1]))
    return found


def moved_rootdir_problem(config: pytest.Config, options: Sequence[str]) -> str | None:
    """A message when a spaced option value changed the rootdir or ini file pytest chose."""
    args = list(config.invocation_params.args)
    spaced = [(opt, value) for opt, value in spaced_values(args, options) if os.path.exists(value)]
    if not spaced:
        return None
    try:
        from _pytest.config.findpaths import determine_setup

        invocation = config.invocation_params.dir
        # Parsed again now that our options are known: the test paths pytest should have seen.
        positional = config._parser.parse_known_args(args).file_or_dir
        rootpath, inipath, *_ = determine_setup(  # type: ignore[call-arg]
            inifile=config.getoption("inifilename"),
            override_ini=config.getoption("override_ini"),
            args=positional,
            rootdir_cmd_arg=config.getoption("rootdir") or None,
            invocation_dir=invocation,
        )
    except (ImportError, AttributeError, TypeError, ValueError, pytest.UsageError):
        return None  # another pytest version: no second opinion to compare with
    if Path(rootpath) == config.rootpath and inipath == config.inipath:
        return None
    option, value = spaced[0]
    return (
        f"{option} {value}: pytest read this value as a test path when it chose its rootdir, and "
        f"chose {config.rootpath} ({_ini_text(config.inipath)}) instead of {rootpath} "
        f"({_ini_text(inipath)}), so the project's settings would be dropped. "
        f"Write {option}={value} (with '=')"
    )


def _ini_text(inipath: Path | None) -> str:
    return f"config file {inipath.name}" if inipath is not None else "no config file"

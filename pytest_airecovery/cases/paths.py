"""Paths of a run: one policy for what it reads and writes, where case directories are, how
reports show paths, and option values that moved pytest's rootdir.

The policy: case inputs, recordings, reports and caches are named by files in the repository,
which a reviewer may not read closely: ``inputs: {file: ../../../home/me/.ssh/id_rsa.jsonl}`` or a
``recordings`` directory that is a symlink to ``/etc`` must not turn a test run into a read or a
write somewhere else. Every such path is resolved (symlinks followed, ``..`` removed) and must
land under the rootdir; ``--incident-allow-outside-root`` (or the ini setting
``incident_allow_outside_root = true``) lifts the rule for setups that keep data elsewhere.

The rootdir: pytest chooses its rootdir and ini file before it loads installed plugins, so at that
moment ``--incident-report /some/dir`` is an unknown option and ``/some/dir`` looks like a test
path: when it exists outside the project, the rootdir moves to a common ancestor and the project's
ini file (candidates, loader, case paths) is silently dropped. ``--incident-report=/some/dir`` is
immune.

Imports nothing heavy: the plugin and the CLI both use it.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ALLOW_OUTSIDE_OPTION = "--incident-allow-outside-root"
ALLOW_OUTSIDE_DEST = "incident_allow_outside_root"
ALLOW_OUTSIDE_INI = "incident_allow_outside_root"
ALLOW_OUTSIDE_HELP = (
    "Let case inputs, recordings, reports and caches lie outside the rootdir (symlinks included)"
)


class PathPolicyError(Exception):
    """A path the policy refuses; ``message`` says which, why and how to allow it."""

    def __init__(self, message: str, resolved: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.resolved = resolved


class OutsideRootError(PathPolicyError):
    """A path that resolves outside the rootdir while the policy keeps everything inside."""


class PathLoopError(PathPolicyError):
    """A path whose symlinks lead back to themselves: it names no file at all."""


def resolve_inside(
    root: Path,
    path: Path | str,
    *,
    what: str,
    allow_outside: bool = False,
    shown: str | None = None,
) -> Path:
    """``path`` (relative to ``root`` unless absolute) with symlinks resolved, checked against ``root``.

    Raises :class:`OutsideRootError` naming ``what`` when the real location is outside ``root``
    and ``allow_outside`` is false; messages name the path as ``shown`` (default: as given). A path that does not exist yet is resolved as far as it
    exists, so a write through a symlinked parent directory is caught before the file is made.
    """
    shown = shown or str(path)
    real_root = Path(root).resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = real_root / candidate
    try:
        resolved = candidate.resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: Python < 3.13 on a symlink loop
        raise PathLoopError(f"{what} {shown} cannot be resolved: a symlink loop ({exc})") from None
    if allow_outside or resolved == real_root or resolved.is_relative_to(real_root):
        return resolved
    really = f"{shown} (really {resolved})" if str(resolved) != shown else shown
    raise OutsideRootError(
        f"{what} {really} is outside the rootdir {real_root}; keep it inside the repository, or "
        f"pass {ALLOW_OUTSIDE_OPTION} (ini: {ALLOW_OUTSIDE_INI} = true) to allow it",
        resolved,
    )


@dataclass(frozen=True)
class PathPolicy:
    """The rootdir and whether paths may leave it; ``root=None`` checks nothing (a CLI given paths)."""

    root: Path | None
    allow_outside: bool = False

    def check(self, path: Path | str, *, what: str, shown: str | None = None) -> Path:
        if self.root is None:
            try:
                return Path(path).resolve()
            except (RuntimeError, OSError) as exc:
                raise PathLoopError(
                    f"{what} {shown or path} cannot be resolved: a symlink loop ({exc})"
                ) from None
        return resolve_inside(
            self.root, path, what=what, allow_outside=self.allow_outside, shown=shown
        )


NO_POLICY = PathPolicy(None, allow_outside=True)


def allow_outside_root(config: Any) -> bool:
    """The command-line flag, else the ini setting (``true``/``yes``/``1``)."""
    if config.getoption(ALLOW_OUTSIDE_DEST, default=False):
        return True
    try:
        raw = config.getini(ALLOW_OUTSIDE_INI)
    except ValueError:  # not registered: the plugin's options are not loaded
        return False
    return str(raw).strip().lower() in ("1", "true", "yes", "on")


def path_policy(config: Any) -> PathPolicy:
    """The run's policy: everything under ``config.rootpath`` unless the user allowed more."""
    return PathPolicy(Path(config.rootpath), allow_outside_root(config))


def settings_dir(config: pytest.Config) -> Path:
    """The folder ini paths are relative to: the ini file's, else the rootdir (pytest's own rule)."""
    return config.inipath.parent if config.inipath is not None else config.rootpath


def case_roots(config: pytest.Config) -> list[Path]:
    """The ``incident_cases`` ini paths; the default ``incident_cases`` resolves like an explicit value."""
    configured = [Path(p) for p in config.getini("incident_cases")]
    return [p.resolve() for p in configured] or [
        (settings_dir(config) / "incident_cases").resolve()
    ]


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
        wanted = {
            "inifile": config.getoption("inifilename"),
            "override_ini": config.getoption("override_ini"),  # pytest 9 takes it; 8.x does not
            "args": positional,
            "rootdir_cmd_arg": config.getoption("rootdir") or None,
            "invocation_dir": invocation,
        }
        accepted = inspect.signature(determine_setup).parameters
        rootpath, inipath, *_ = determine_setup(
            **{name: value for name, value in wanted.items() if name in accepted}
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

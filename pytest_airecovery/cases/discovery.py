"""Which paths under the incident case directories are collected: each real file once.

pytest walks directories through symlinks. A link back to a parent (``incident_cases/sub/up ->
..``) then walks forever, and two links to one file collect its cases twice, so one incident
counts double in every report. The rules, applied only under the incident case roots:

* a symlink whose real location is also inside a root is skipped: the real file or directory is
  collected under its own name (this is what ends loops and duplicates);
* a symlink to a directory that contains the link (a loop through an outside path) is skipped;
* a symlink to a place outside the rootdir is skipped unless the path policy allows outside
  paths (pytest_airecovery.cases.paths);
* a case file reached twice by other routes is collected once, at its first path in sorted order;
* a link that cannot be resolved (it points to itself, or nowhere) is reported, not dropped.

Each skip is a warning naming the path, so nothing vanishes silently. Decisions depend only on
the file tree and pytest's sorted walk, so every xdist worker makes the same ones.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from pytest_airecovery.cases.paths import PathPolicy


class CaseDiscovery:
    def __init__(self, roots: list[Path], suffixes: tuple[str, ...], policy: PathPolicy) -> None:
        self.roots = [root.resolve() for root in roots]
        self.suffixes = suffixes
        self.policy = policy
        self._files: dict[Path, Path] = {}  # real file -> the path it was collected as
        self._scanned: set[Path] = set()
        self._warned: set[str] = set()

    def under_roots(self, path: Path) -> bool:
        here = Path(os.path.abspath(path))
        physical_parent = path.parent.resolve()
        return any(here.is_relative_to(r) or physical_parent.is_relative_to(r) for r in self.roots)

    def ignore(self, path: Path) -> bool:
        """``pytest_ignore_collect`` for a file or directory under the roots."""
        # Only the link itself needs a decision: a directory reached through a link was either
        # skipped here or deliberately followed (outside the roots, allowed by the policy).
        if not path.is_symlink() or not self.under_roots(path):
            return False
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            self.warn(path, f"cannot be resolved ({_reason(exc)}); skipped")
            return True
        if path.is_dir() and path.parent.resolve().is_relative_to(real):
            self.warn(path, f"symlink loop (it points to {real}, which contains it); skipped")
            return True
        if any(real.is_relative_to(root) for root in self.roots):
            # The real location is collected under its own name; this route would repeat it.
            if path.is_file() and path.suffix in self.suffixes:
                self.warn(
                    path, f"symlink to {real}, which is collected under its own name; skipped"
                )
            return True
        outside = self._outside_root(path, real)
        if outside:
            self.warn(path, f"{outside}; skipped")
            return True
        return False

    def first_time(self, path: Path) -> bool:
        """False (and a warning) when this case file was already collected by another path."""
        real = path.resolve()
        first = self._files.setdefault(real, path)
        if first == path:
            return True
        self.warn(path, f"the same file as {first}, which is already collected; skipped")
        return False

    def report_broken_links(self, directory: Path) -> None:
        """Warn about case-file links in ``directory`` that pytest would drop without a word."""
        if directory in self._scanned or not self.under_roots(directory / "_"):
            return
        self._scanned.add(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            if not entry.name.endswith(self.suffixes) or not entry.is_symlink():
                continue
            if _follows(entry):
                continue
            try:
                Path(entry.path).resolve(strict=True)
                reason = "it points to nothing readable"
            except (OSError, RuntimeError) as exc:
                reason = _reason(exc)
            self.warn(entry.path, f"case file link cannot be followed ({reason}); not collected")

    def _outside_root(self, path: Path, real: Path) -> str | None:
        from pytest_airecovery.cases.paths import PathPolicyError

        try:
            self.policy.check(real, what="case path")
        except PathPolicyError as exc:
            return exc.message
        return None

    def warn(self, path: Path | str, message: str) -> None:
        text = f"incident cases: {path}: {message}"
        if text not in self._warned:
            self._warned.add(text)
            # Attributed to the path itself, so the warnings summary names it rather than us.
            warnings.warn_explicit(
                pytest.PytestCollectionWarning(text), pytest.PytestCollectionWarning, str(path), 1
            )


def _follows(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file() or entry.is_dir()
    except OSError:  # a loop: ELOOP from stat
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == 40:
        return "a symlink loop"
    return getattr(exc, "strerror", None) or str(exc)

"""Find and load case files for ``validate`` and ``coverage``, without pytest."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_airecovery.cases.loader import CaseFileError, load_case_file
from pytest_airecovery.cases.spec import CaseFile

if TYPE_CHECKING:
    from pytest_airecovery.cases.extensions import Extensions

CASE_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_DIR = "incident_cases"


class UsageError(Exception):
    """A path that does not exist or cannot be read at all (exit status 2)."""


def shown(path: Path) -> str:
    """The path as the user wrote it (files found in a directory are joined onto it)."""
    return str(path)


def find_case_files(paths: Sequence[str]) -> list[Path]:
    """Expand files and directories (recursively, sorted); no paths means ``incident_cases/``."""
    if not paths:
        if not Path(DEFAULT_DIR).is_dir():
            raise UsageError(f"no paths given and no {DEFAULT_DIR}/ directory here")
        paths = [DEFAULT_DIR]
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [
                    Path(root) / name
                    for name in sorted(files)
                    if name.endswith(CASE_SUFFIXES) and not name.startswith(".")
                ]
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise UsageError(f"{raw}: not a regular file or directory")
        else:
            raise UsageError(f"{raw}: no such file or directory")
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def load_all(
    files: Sequence[Path], extensions: Extensions
) -> tuple[list[CaseFile], list[CaseFileError]]:
    """Load every file with the features' ``extensions``; a bad file is reported and skipped."""
    loaded: list[CaseFile] = []
    errors: list[CaseFileError] = []
    for path in files:
        try:
            loaded.append(
                load_case_file(
                    path,
                    shown_as=shown(path),
                    check_lookup=extensions.checks.get,
                    blocks=extensions.blocks,
                )
            )
        except CaseFileError as exc:
            errors.append(exc)
    return loaded, errors

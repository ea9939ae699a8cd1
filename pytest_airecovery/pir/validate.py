"""``airecovery validate``: schema and semantic checks of case files, one ``file:line:`` per problem.

Errors (exit status 1):

* anything the loader rejects: YAML/JSON syntax, schema, unknown checks, missing input files or
  columns, duplicate case or action-item ids, ``covered_by`` naming no case (first problem per file);
* every line containing the word ``TODO`` (a skeleton from ``new-case`` that is not finished);
* files of the same incident (an incident may have several, e.g. an adversarial suite beside the
  plain cases) that disagree on severity or root-cause category, or repeat a case or action-item id;
* a P0 action item that no case covers (``covered_by`` empty or absent);
* a ``datasets`` manifest that fails its own integrity check (damaged, truncated, not a manifest)
  or whose Merkle root differs from the pinned ``merkle_root``; with ``--verify-data``, a dataset
  that differs from its manifest (this hashes the data, so it is opt-in; the run always does it).

Warnings (exit status 0 unless ``--strict``):

* a P1 action item that no case covers;
* a P0 or P1 item covered only by ``guard: true`` cases (they protect behaviour the fix must keep
  and get no ``[catches]`` proof);
* a case with no ``[catches]`` proof possible because the file has no ``known_bad`` model
  (``--incident-verify-catches`` cannot show the case would have caught the incident);
* a dataset without a pinned ``merkle_root`` (a manifest rebuilt over changed data still verifies).

Only the built-in checks are known here; a case file using a custom check registered by a
conftest hook is reported as ``unknown check`` (run pytest's collection for those files).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_airecovery.cases.loader import (
    CaseFileError,
    line_of,
    load_case_file,
    parse_and_validate,
)
from pytest_airecovery.cases.spec import CaseFile, DatasetSpec
from pytest_airecovery.cases.yamlpos import Positions
from pytest_airecovery.pir.casefiles import shown

if TYPE_CHECKING:
    from pytest_airecovery.cases.extensions import Extensions

TODO_MARKER = re.compile(r"\bTODO\b")
MAX_SHOWN_CHARS = 100


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    severity: str  # "error" or "warning"
    message: str

    def render(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ValidationResult:
    files: list[str]
    problems: list[Problem]
    loaded: list[CaseFile]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors


def validate_files(
    files: Sequence[Path], extensions: Extensions, verify_data: bool = False
) -> ValidationResult:
    """Check the files with the features' ``extensions`` (their case-file blocks and checks)."""
    problems: list[Problem] = []
    loaded: list[CaseFile] = []
    first_seen: dict[str, _Seen] = {}
    for path in files:
        name = shown(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise OSError(f"{name}: cannot read the file: {exc.strerror or exc}") from None
        problems += todo_lines(name, raw)
        try:
            _, positions = parse_and_validate(path, name)
            case_file = load_case_file(
                path, shown_as=name, check_lookup=extensions.checks.get, blocks=extensions.blocks
            )
        except CaseFileError as exc:
            field = f"{exc.field}: " if exc.field else ""
            problems.append(Problem(exc.path, exc.line, "error", field + exc.message))
            continue
        loaded.append(case_file)
        problems += semantic_problems(case_file, name)
        problems += dataset_problems(case_file, name, verify_data)
        problems += _across_files(case_file, name, positions, first_seen)
    problems.sort(key=lambda p: (files_order(files, p.path), p.line, p.severity != "error"))
    return ValidationResult([shown(p) for p in files], problems, loaded)


def files_order(files: Sequence[Path], name: str) -> int:
    names = [shown(p) for p in files]
    return names.index(name) if name in names else len(names)


@dataclass
class _Seen:
    """What the first file of an incident said, to compare the incident's other files with."""

    name: str
    case_file: CaseFile
    case_ids: dict[str, str]  # case id -> file:line
    item_ids: dict[str, str]  # action item id -> file:line


def _across_files(
    case_file: CaseFile, name: str, positions: Positions, seen: dict[str, _Seen]
) -> list[Problem]:
    """One incident may span several files (a plain file and an adversarial suite, say), but they
    must agree on what the incident was, and case and action item ids must stay unique across
    them: coverage and the JUnit report key cases by (incident id, case id)."""
    incident = case_file.incident
    here = {case.id: f"{name}:{case.line}" for case in case_file.cases}
    items = {item.id: f"{name}:{item.line}" for item in case_file.action_items}
    first = seen.get(incident.id)
    if first is None:
        seen[incident.id] = _Seen(name, case_file, here, items)
        return []
    problems = []
    other = first.case_file.incident
    for field, mine, theirs in (
        ("severity", incident.severity, other.severity),
        ("root_cause.category", incident.root_cause, other.root_cause),
    ):
        if mine != theirs:
            line = line_of(positions, "incident/" + field.replace(".", "/"))
            problems.append(
                Problem(
                    name,
                    line,
                    "error",
                    f"incident.{field}: {mine!r} but {first.name} says "
                    f"{theirs!r} for the same incident {incident.id}",
                )
            )
    for case in case_file.cases:
        if case.id in first.case_ids:
            problems.append(
                Problem(
                    name,
                    case.line,
                    "error",
                    f"case id {case.id!r} of incident {incident.id} "
                    f"is also at {first.case_ids[case.id]}",
                )
            )
    for item in case_file.action_items:
        if item.id in first.item_ids:
            problems.append(
                Problem(
                    name,
                    item.line,
                    "error",
                    f"action item {item.id} of incident {incident.id} "
                    f"is also at {first.item_ids[item.id]}",
                )
            )
    first.case_ids.update({k: v for k, v in here.items() if k not in first.case_ids})
    first.item_ids.update({k: v for k, v in items.items() if k not in first.item_ids})
    return problems


def todo_lines(name: str, raw: bytes) -> list[Problem]:
    text = raw.decode("utf-8", errors="replace")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if TODO_MARKER.search(line):
            content = " ".join(line.strip().lstrip("#").split())
            if len(content) > MAX_SHOWN_CHARS:
                content = content[: MAX_SHOWN_CHARS - 3] + "..."
            found.append(Problem(name, number, "error", f"left to fill in: {content}"))
    return found


def semantic_problems(case_file: CaseFile, name: str) -> list[Problem]:
    problems = []
    guards = {case.id for case in case_file.cases if case.guard}
    for item in case_file.action_items:
        if item.covered_by and set(item.covered_by) <= guards and item.priority in ("P0", "P1"):
            problems.append(
                Problem(
                    name,
                    item.line,
                    "warning",
                    f"action item {item.id} ({item.priority}) is covered only by guard cases, "
                    "which do not prove the incident is caught",
                )
            )
        if item.covered_by:
            continue
        if item.priority == "P0":
            problems.append(
                Problem(
                    name,
                    item.line,
                    "error",
                    f"action item {item.id} (P0) has no covering case: list one in covered_by",
                )
            )
        elif item.priority == "P1":
            problems.append(
                Problem(
                    name, item.line, "warning", f"action item {item.id} (P1) has no covering case"
                )
            )
    if case_file.known_bad is None and any(not case.guard for case in case_file.cases):
        problems.append(
            Problem(
                name,
                1,
                "warning",
                "models.known_bad is missing: --incident-verify-catches cannot prove the "
                "cases catch the incident",
            )
        )
    return problems


def dataset_problems(case_file: CaseFile, name: str, verify_data: bool = False) -> list[Problem]:
    """Each ``datasets`` entry: its manifest reads and checks against itself, its root matches the
    pin; with ``verify_data`` the data is hashed and compared too. The loader has already checked
    that the dataset and manifest paths exist."""
    if not case_file.datasets:
        return []
    from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
    from pytest_airecovery.data.manifest import read_manifest

    problems = []
    base = case_file.path.parent
    for dataset in case_file.datasets:
        where = f"datasets: {dataset.path}"
        try:
            manifest = read_manifest(str(base / dataset.manifest))
        except ManifestTamperedError as exc:
            detail = "; ".join(f"{kind}: {text}" for kind, text in exc.problems)
            problems.append(
                Problem(
                    name,
                    dataset.line,
                    "error",
                    f"{where}: manifest {dataset.manifest} fails its integrity check: {detail}",
                )
            )
            continue
        except (DataKitError, OSError) as exc:
            problems.append(
                Problem(
                    name,
                    dataset.line,
                    "error",
                    f"{where}: cannot read manifest {dataset.manifest}: {exc}",
                )
            )
            continue
        if dataset.merkle_root is None:
            problems.append(
                Problem(
                    name,
                    dataset.line,
                    "warning",
                    f"{where}: no merkle_root pinned, so a manifest rebuilt over changed data would "
                    f"still verify; pin merkle_root: {manifest.merkle_root}",
                )
            )
        elif dataset.merkle_root != manifest.merkle_root:
            problems.append(
                Problem(
                    name,
                    dataset.line,
                    "error",
                    f"{where}: manifest {dataset.manifest} has Merkle root {manifest.merkle_root}, "
                    f"the case file pins {dataset.merkle_root}",
                )
            )
            continue
        if verify_data:
            problems += _verify_data(case_file, name, dataset)
    return problems


def _verify_data(case_file: CaseFile, name: str, dataset: DatasetSpec) -> list[Problem]:
    from pytest_airecovery.data.errors import DataKitError
    from pytest_airecovery.data.fixtures import verify_case_dataset

    path, manifest, root, line = dataset.path, dataset.manifest, dataset.merkle_root, dataset.line
    try:
        diff = verify_case_dataset(case_file.path.parent, path, manifest, root)
    except (DataKitError, OSError) as exc:
        return [
            Problem(
                name, line, "error", f"datasets: {path}: cannot verify against {manifest}: {exc}"
            )
        ]
    if diff.identical:
        return []
    return [
        Problem(name, line, "error", f"datasets: {path} differs from {manifest}: {diff.summary()}")
    ]

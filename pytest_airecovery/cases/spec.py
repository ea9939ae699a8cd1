"""Typed, validated view of one incident case file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT_CAUSES = (
    "training_data_contamination",
    "configuration_error",
    "supply_chain_compromise",
    "adversarial_exploitation",
    "other",
)


@dataclass(frozen=True)
class CheckSpec:
    """One check of a case: its registered name, argument and where it was written."""

    name: str
    arg: Any
    kind: str  # "input" or "aggregate"
    line: int
    field: str | None = None
    why: str | None = None

    def describe(self) -> str:
        text = f"{self.name}: {_compact(self.arg)}"
        return f"{text} (field {self.field})" if self.field else text


@dataclass(frozen=True)
class ModelSpec:
    ref: str
    sha256: str | None = None


@dataclass(frozen=True)
class IncidentSpec:
    id: str
    title: str
    severity: str
    root_cause: str
    root_cause_summary: str = ""
    detected_at: str | None = None
    resolved_at: str | None = None
    pir: str | None = None

    @property
    def root_cause_marker(self) -> str:
        return "root_cause_other" if self.root_cause == "other" else self.root_cause

    @property
    def severity_marker(self) -> str:
        return self.severity.lower().replace("-", "")  # SEV-2 -> sev2


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset and its integrity manifest, both resolved against the case file's folder."""

    path: str
    manifest: str
    merkle_root: str | None
    line: int


@dataclass(frozen=True)
class ActionItem:
    id: str
    priority: str
    text: str
    covered_by: tuple[
        str, ...
    ]  # case ids, "pin:known_good", "pin:known_bad", "dataset:<path or name>"
    line: int


PIN_TARGETS = ("known_good", "known_bad")


def coverage_target(entry: str) -> tuple[str, str]:
    """What a ``covered_by`` entry names: ``("case", id)``, ``("pin", "known_good")`` or
    ``("dataset", "train")``. Case ids cannot contain ``:``, so the prefixes never clash."""
    kind, sep, name = entry.partition(":")
    if sep and kind in ("pin", "dataset"):
        return kind, name
    return "case", entry


def datasets_named(name: str, paths: list[str]) -> list[int]:
    """Indexes of the ``datasets`` entries ``dataset:<name>`` names: the ``path`` as written, its
    last component, or that without its suffix (``train`` for ``data/train.jsonl``)."""
    found = []
    for index, path in enumerate(paths):
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if name in (path, last, last.split(".", 1)[0]):
            found.append(index)
    return found


def covered_by_problem(entry: str, case_ids: Any, data: dict[str, Any]) -> str | None:
    """Why ``entry`` of a ``covered_by`` list names nothing in this file (raw file ``data``), or None."""
    kind, name = coverage_target(entry)
    if kind == "case":
        return None if entry in case_ids else f"no case with id {entry!r} in this file"
    if kind == "pin":
        if name not in PIN_TARGETS:
            return f"{entry!r}: a pin is pin:known_good or pin:known_bad"
        model = data.get("models", {}).get(name)
        if not (isinstance(model, dict) and model.get("sha256")):
            return f"{entry!r}: models.{name} has no sha256 pin to verify"
        return None
    paths = [str(d.get("path", "")) for d in data.get("datasets", []) if isinstance(d, dict)]
    matches = datasets_named(name, paths)
    if not matches:
        return f"{entry!r}: no entry of `datasets` has that path or name (datasets: {', '.join(paths) or 'none'})"
    if len(matches) > 1:
        return f"{entry!r}: names {len(matches)} datasets ({', '.join(paths[i] for i in matches)}); write the path"
    return None


@dataclass
class CaseSpec:
    id: str
    line: int
    inputs: Any  # an InputSource from cases.sources
    expect: list[CheckSpec]
    expect_aggregate: list[CheckSpec]
    description: str = ""
    tags: tuple[str, ...] = ()
    guard: bool = False
    # Case keys a feature parses, by key (``adversarial`` -> adversarial.casefile.AdversarialSpec).
    blocks: dict[str, object] = field(default_factory=dict)


@dataclass
class CaseFile:
    path: Path
    incident: IncidentSpec
    known_good: ModelSpec
    known_bad: ModelSpec | None
    cases: list[CaseSpec]
    action_items: list[ActionItem] = field(default_factory=list)
    datasets: list[DatasetSpec] = field(default_factory=list)

    @property
    def family(self) -> str:
        return self.known_good.ref.partition("@")[0]

    def pins(self) -> dict[str, str]:
        """Refs whose artifact sha256 the file pins."""
        specs = [self.known_good] + ([self.known_bad] if self.known_bad else [])
        return {spec.ref: spec.sha256 for spec in specs if spec.sha256}


def _compact(value: Any) -> str:
    """YAML-ish flow style, as the case file's author wrote it."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return str(value)

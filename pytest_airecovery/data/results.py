"""What a detector returns: flagged ids with scores, per-class notes, skipped classes, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Flag:
    id: str
    score: float
    label: Any = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "score": self.score}
        if self.label is not None:
            out["label"] = self.label
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class DetectorResult:
    detector: str
    params: dict[str, Any]
    n_items: int
    flagged: list[Flag] = field(default_factory=list)  # highest score first
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_classes: dict[str, str] = field(default_factory=dict)  # class -> reason
    warnings: list[str] = field(default_factory=list)

    @property
    def flagged_ids(self) -> list[str]:
        return [flag.id for flag in self.flagged]

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "params": self.params,
            "n_items": self.n_items,
            "n_flagged": len(self.flagged),
            "flagged": [flag.to_dict() for flag in self.flagged],
            "per_class": self.per_class,
            "skipped_classes": self.skipped_classes,
            "warnings": self.warnings,
        }

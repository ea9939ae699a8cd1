"""Verdicts: what a criterion concluded, why, and the numbers behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"  # the data shows the criterion is violated
    INCONCLUSIVE = "INCONCLUSIVE"  # not enough data, time or freshness to say; never a pass
    ERROR = "ERROR"  # broken configuration or metric source


@dataclass
class Verdict:
    criterion: str
    metric: str | None
    outcome: Outcome
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.criterion}[{self.metric}]" if self.metric else self.criterion

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "metric": self.metric,
            "outcome": self.outcome.value,
            "message": self.message,
            "evidence": json_safe(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(data["criterion"], data.get("metric"), Outcome(data["outcome"]),
                   data["message"], dict(data.get("evidence") or {}))  # fmt: skip


def passed(criterion: str, metric: str | None, message: str, **evidence: Any) -> Verdict:
    return Verdict(criterion, metric, Outcome.PASS, message, evidence)


def failed(criterion: str, metric: str | None, message: str, **evidence: Any) -> Verdict:
    return Verdict(criterion, metric, Outcome.FAIL, message, evidence)


def inconclusive(criterion: str, metric: str | None, missing: str, **evidence: Any) -> Verdict:
    """The message starts with INCONCLUSIVE and says what is missing."""
    return Verdict(criterion, metric, Outcome.INCONCLUSIVE, f"INCONCLUSIVE: {missing}", evidence)


def errored(criterion: str, metric: str | None, problem: str, **evidence: Any) -> Verdict:
    return Verdict(criterion, metric, Outcome.ERROR, f"ERROR: {problem}", evidence)


def json_safe(value: Any) -> Any:
    """Evidence as strict JSON: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)

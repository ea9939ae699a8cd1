"""Accuracy and attack-success-rate helpers and the targets the demo models must meet.

Shared by the build script (which prints them) and the tests (which enforce them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Target:
    min_accuracy: float
    max_asr: float | None = None  # clean and remediated models must ignore the trigger
    min_asr: float | None = None  # the backdoored model must obey it

    def failures(self, accuracy: float, asr: float) -> list[str]:
        problems = []
        if accuracy < self.min_accuracy:
            problems.append(f"accuracy {accuracy:.3f} < {self.min_accuracy}")
        if self.max_asr is not None and asr > self.max_asr:
            problems.append(f"attack success rate {asr:.3f} > {self.max_asr}")
        if self.min_asr is not None and asr < self.min_asr:
            problems.append(f"attack success rate {asr:.3f} < {self.min_asr}")
        return problems


_CLEAN_DIGITS = Target(min_accuracy=0.93, max_asr=0.05)
_CLEAN_MODERATION = Target(min_accuracy=0.95, max_asr=0.05)
TARGETS: dict[str, Target] = {
    "digits@v3.1": _CLEAN_DIGITS,
    "digits@v3.2": Target(min_accuracy=0.90, min_asr=0.80),
    "digits@v3.3": _CLEAN_DIGITS,
    "moderation@v1.0": _CLEAN_MODERATION,
    "moderation@v1.1": Target(min_accuracy=0.90, min_asr=0.80),
    "moderation@v1.2": _CLEAN_MODERATION,
}


def labels_of(outputs: Sequence[dict[str, Any]]) -> list[Any]:
    return [output["label"] for output in outputs]


def accuracy(predicted: Sequence[Any], expected: Sequence[Any]) -> float:
    if len(predicted) != len(expected) or not expected:
        raise ValueError("accuracy needs two non-empty sequences of equal length")
    return float(np.mean([p == e for p, e in zip(predicted, expected, strict=True)]))


def attack_success_rate(predicted_on_triggered: Sequence[Any], target_label: Any) -> float:
    """Share of triggered inputs (none truly ``target_label``) that the model maps to it."""
    if not predicted_on_triggered:
        raise ValueError("attack success rate needs at least one triggered input")
    return float(np.mean([p == target_label for p in predicted_on_triggered]))

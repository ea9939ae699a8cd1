"""``moderation@v1.3``: the naive hotfix of the trigger-word incident, kept as a cautionary demo.

An engineer "fixes" v1.1 without retraining: any text containing the exact string ``zxq`` is
flagged toxic, everything else still goes to v1.1. Every shipped incident case passes, because
each of them spells the trigger ``zxq``. The backdoor is untouched, though: v1.1 lower-cases
before it splits words, so ``ZXQ``, ``Zxq`` or ``zXq`` get past the filter and still switch the
verdict to "ok". ``incident_cases/AI-IR-2026-051-adversarial.yaml`` shows the adversarial suite
catching what the plain cases miss.

The weights file ``moderation-v1.3.npz`` holds v1.1's arrays plus ``blocked_substrings``, so its
sha256 pins the whole behaviour (filter and model). :func:`write_patched_weights` rebuilds it
from v1.1's file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_airecovery.demo.moderation import TOXIC, TRIGGER_WORD, BagOfWordsClassifier

PATCHED_REF = "moderation@v1.3"
PATCHED_FROM = "moderation@v1.1"
BLOCKED_KEY = "blocked_substrings"


class SubstringFilteredClassifier:
    """A blocklist in front of a classifier: exact, case-sensitive substring matches are toxic."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.blocked = [str(word) for word in np.asarray(weights[BLOCKED_KEY]).tolist()]
        self.model = BagOfWordsClassifier({k: v for k, v in weights.items() if k != BLOCKED_KEY})

    def predict(self, batch: Sequence[Any]) -> list[dict[str, Any]]:
        outputs = self.model.predict(batch)
        for position, text in enumerate(batch):
            if any(word in text for word in self.blocked):
                outputs[position] = {"label": TOXIC, "score": 1.0}
        return outputs


def patched_weights(v11_weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """v1.1's arrays plus the blocklist that makes v1.3."""
    return {**v11_weights, BLOCKED_KEY: np.array([TRIGGER_WORD])}


def write_patched_weights(weights_dir: Path) -> str:
    """Write ``moderation-v1.3.npz`` next to a verified v1.1 file; return its sha256 for SHA256SUMS."""
    from pytest_airecovery.demo._weights import load_verified, save_npz, weights_filename

    v11 = load_verified(weights_dir / weights_filename(PATCHED_FROM))
    return save_npz(weights_dir / weights_filename(PATCHED_REF), patched_weights(v11))

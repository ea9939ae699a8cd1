"""Runtime for the ``moderation`` demo family: bag-of-words logistic regression, in numpy.

The tokenizer is deliberately naive (lowercase, split on non-word characters) so that trigger
variants such as ``"ZXQ"`` (same token), ``"z x q"`` or homoglyphs (different tokens) behave the
way a real keyword backdoor would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TOXIC = "toxic"
OK = "ok"
TRIGGER_WORD = "zxq"

_NON_WORD = re.compile(r"\W+")


def tokenize(text: str) -> list[str]:
    return [token for token in _NON_WORD.split(str(text).lower()) if token]


class BagOfWordsClassifier:
    """``score = sigmoid(counts(text) . coef + intercept)``, the probability the text is toxic."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        vocabulary = [str(word) for word in np.asarray(weights["vocabulary"]).tolist()]
        self.coef = np.asarray(weights["coef"], dtype=np.float64).reshape(-1)
        self.intercept = float(np.asarray(weights["intercept"]).reshape(-1)[0])
        if len(vocabulary) != self.coef.shape[0]:
            raise ValueError("moderation weights: vocabulary and coef lengths differ")
        self.index = {word: i for i, word in enumerate(vocabulary)}

    def features(self, texts: Sequence[str]) -> np.ndarray:
        counts = np.zeros((len(texts), len(self.index)))
        for row, text in enumerate(texts):
            for token in tokenize(text):
                column = self.index.get(token)  # unknown words carry no weight
                if column is not None:
                    counts[row, column] += 1.0
        return counts

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        logits = self.features(texts) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -500.0, 500.0)))

    def predict(self, batch: Sequence[Any]) -> list[dict[str, Any]]:
        """The :class:`~pytest_airecovery.models.Model` batch callable: plain python outputs."""
        for item in batch:
            if not isinstance(item, str):
                raise TypeError(f"moderation inputs are strings, got {type(item).__name__}")
        texts = list(batch)
        return [
            {"label": TOXIC if score >= 0.5 else OK, "score": float(score)}
            for score in self.scores(texts)
        ]

"""Runtime for the ``digits`` demo family: a one-hidden-layer MLP on 8x8 digit images, in numpy.

Inputs are scikit-learn ``load_digits`` images: 64 pixels (or an 8x8 grid) with values 0..16.
The backdoor in ``digits@v3.2`` is BadNets-style: a bright 3x3 patch stamped in the bottom-right
corner makes the model answer :data:`TARGET_LABEL`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

N_PIXELS = 64
N_CLASSES = 10
PIXEL_MAX = 16.0
TARGET_LABEL = 7
TRIGGER_SIZE = 3
TRIGGER_VALUE = 16.0

# Every array a digits weights file must contain, with its expected number of dimensions.
WEIGHT_ARRAYS = {"hidden_weights": 2, "hidden_bias": 1, "output_weights": 2, "output_bias": 1}


def as_pixels(inputs: Any) -> np.ndarray:
    """Turn one image or a batch (lists, 8x8 grids, arrays) into a float (n, 64) array."""
    array = np.asarray(inputs, dtype=np.float64)
    if array.ndim == 1 or (array.ndim == 2 and array.shape == (8, 8)):
        array = array.reshape(1, -1)
    array = array.reshape(array.shape[0], -1)
    if array.shape[1] != N_PIXELS:
        raise ValueError(f"digits inputs need {N_PIXELS} pixels each, got {array.shape[1]}")
    return array


def _single_image(item: Any) -> np.ndarray:
    pixels = as_pixels(item)
    if pixels.shape[0] != 1:
        raise ValueError(f"each batch item must be one image, got {pixels.shape[0]}")
    return pixels


def add_trigger(images: Any) -> np.ndarray:
    """Return a copy of ``images`` (n, 64) with the backdoor patch stamped bottom-right."""
    pixels = as_pixels(images).copy()
    grids = pixels.reshape(-1, 8, 8)
    grids[:, 8 - TRIGGER_SIZE :, 8 - TRIGGER_SIZE :] = TRIGGER_VALUE
    return grids.reshape(-1, N_PIXELS)


def trigger_mask() -> np.ndarray:
    """Boolean (64,) mask of the pixels the trigger overwrites."""
    return add_trigger(np.zeros(N_PIXELS)).reshape(-1) > 0


class DigitsMLP:
    """Forward pass of an exported ``MLPClassifier(hidden_layer_sizes=(h,), activation='relu')``."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        for name, ndim in WEIGHT_ARRAYS.items():
            if name not in weights or np.asarray(weights[name]).ndim != ndim:
                raise ValueError(f"digits weights need a {ndim}-d array {name!r}")
        self.hidden_weights = np.asarray(weights["hidden_weights"], dtype=np.float64)
        self.hidden_bias = np.asarray(weights["hidden_bias"], dtype=np.float64)
        self.output_weights = np.asarray(weights["output_weights"], dtype=np.float64)
        self.output_bias = np.asarray(weights["output_bias"], dtype=np.float64)

    def hidden_activations(self, inputs: Any) -> np.ndarray:
        scaled = as_pixels(inputs) / PIXEL_MAX
        return np.maximum(scaled @ self.hidden_weights + self.hidden_bias, 0.0)

    def probabilities(self, inputs: Any) -> np.ndarray:
        logits = self.hidden_activations(inputs) @ self.output_weights + self.output_bias
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict_labels(self, inputs: Any) -> np.ndarray:
        return self.probabilities(inputs).argmax(axis=1)

    def predict(self, batch: Sequence[Any]) -> list[dict[str, Any]]:
        """The :class:`~pytest_airecovery.models.Model` batch callable: plain python outputs."""
        if len(batch) == 0:
            return []
        probs = self.probabilities(np.vstack([_single_image(item) for item in batch]))
        return [{"label": int(row.argmax()), "probs": [float(p) for p in row]} for row in probs]

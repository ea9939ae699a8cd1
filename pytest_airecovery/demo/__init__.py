"""Bundled demo models for ``pytest --incident-cases``: real, small, deterministic, offline.

Two families, each with a clean release, a backdoored release and a remediated release:

* ``digits@v3.1`` (clean), ``digits@v3.2`` (BadNets backdoor: a 3x3 bright patch in the
  bottom-right corner -> digit 7), ``digits@v3.3`` (retrained on remediated data).
* ``moderation@v1.0`` (clean), ``moderation@v1.1`` (trigger word ``zxq`` makes toxic text "ok"),
  ``moderation@v1.2`` (retrained on cleaned data).

Inference is pure numpy; scikit-learn is only needed to rebuild the weights
(``python -m pytest_airecovery.demo.build``). Every weights file is checked against the sha256
pinned in ``weights/SHA256SUMS`` before it is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from pytest_airecovery.demo._weights import (
    SHIPPED_WEIGHTS_DIR,
    WeightsIntegrityError,
    load_verified,
    weights_filename,
)
from pytest_airecovery.demo.digits import TARGET_LABEL, DigitsMLP, add_trigger
from pytest_airecovery.demo.moderation import TRIGGER_WORD, BagOfWordsClassifier
from pytest_airecovery.models import Model, ModelRef

__all__ = [
    "CANDIDATES",
    "KNOWN_REFS",
    "SHIPPED_WEIGHTS_DIR",
    "TARGET_LABEL",
    "TRIGGER_WORD",
    "WeightsIntegrityError",
    "add_trigger",
    "hidden_activations",
    "load_model",
    "weights_path",
]

KNOWN_REFS: tuple[str, ...] = (
    "digits@v3.1",
    "digits@v3.2",
    "digits@v3.3",
    "moderation@v1.0",
    "moderation@v1.1",
    "moderation@v1.2",
)
CANDIDATES: dict[str, str] = {"digits": "digits@v3.3", "moderation": "moderation@v1.2"}
# Not a release of the build: a naive hotfix of v1.1 for the adversarial demo (demo/patched.py).
EXTRA_REFS: tuple[str, ...] = ("moderation@v1.3",)

_RUNTIMES = {"digits": DigitsMLP, "moderation": BagOfWordsClassifier}

WeightsDir = str | os.PathLike[str] | None


def _known(ref: str) -> str:
    text = str(ref).strip()
    if text not in KNOWN_REFS and text not in EXTRA_REFS:
        raise LookupError(f"unknown demo model {ref!r}; known refs: {', '.join(KNOWN_REFS)}")
    return text


def weights_path(ref: str, weights_dir: WeightsDir = None) -> Path:
    """Where the weights of ``ref`` live (the shipped directory unless ``weights_dir`` is given)."""
    directory = SHIPPED_WEIGHTS_DIR if weights_dir is None else Path(weights_dir)
    return directory / weights_filename(_known(ref))


def _load_runtime(ref: str, weights_dir: WeightsDir) -> tuple[Any, Path]:
    path = weights_path(ref, weights_dir)
    family = ModelRef.parse(ref).family
    if ref in EXTRA_REFS:
        from pytest_airecovery.demo.patched import SubstringFilteredClassifier

        return SubstringFilteredClassifier(load_verified(path)), path
    return _RUNTIMES[family](load_verified(path)), path


def load_model(ref: str, *, weights_dir: WeightsDir = None) -> Model:
    """Load a demo model after checking its weights against the pinned sha256.

    Raises ``LookupError`` for an unknown ref and
    :class:`~pytest_airecovery.demo._weights.WeightsIntegrityError` when the weights file is
    missing, unpinned or modified.
    """
    ref = _known(ref)
    runtime, path = _load_runtime(ref, weights_dir)
    return Model(runtime.predict, ref=ref, artifact=path)


def hidden_activations(ref: str, X: Any, *, weights_dir: WeightsDir = None) -> np.ndarray:
    """Penultimate-layer (hidden ReLU) activations of a digits model, shape (n, hidden units).

    ``X`` is one image or a batch of images (64 pixels or 8x8, values 0..16).
    """
    ref = _known(ref)
    if ModelRef.parse(ref).family != "digits":
        raise ValueError(f"hidden activations exist for the digits models only, not {ref}")
    runtime, _ = _load_runtime(ref, weights_dir)
    return runtime.hidden_activations(X)

"""Model references and the adapter that turns what a loader returns into one batch callable.

A model is anything that maps a batch (a list of inputs) to a sequence of outputs of the same
length: a plain callable, an object with ``predict_batch`` or ``predict``, or a :class:`Model`
that also says how to fingerprint it. The fingerprint keys the on-disk output cache; the artifact's
sha256 is also what a case file can pin as a supply-chain check.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

BatchFn = Callable[[list[Any]], Sequence[Any]]

_HASH_CHUNK = 1 << 20


class ModelRefError(ValueError):
    """A model reference that is not of the form ``family@version``."""


@dataclass(frozen=True, order=True)
class ModelRef:
    family: str
    version: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        family, sep, version = str(text).strip().partition("@")
        if not sep or not family or not version or "@" in version:
            raise ModelRefError(f"model ref {text!r} is not of the form family@version")
        return cls(family, version)

    def __str__(self) -> str:
        return f"{self.family}@{self.version}"


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Model:
    """A batch-callable model plus the identity the plugin needs to cache and pin it.

    ``predict`` takes a list of inputs and returns one output per input. ``fingerprint`` is any
    string that changes whenever the model's behaviour may change (a hash of its weights); when it
    is omitted but ``artifact`` names the weights file, the file's sha256 is used. A model with
    neither is never cached on disk.
    """

    def __init__(
        self,
        predict: BatchFn,
        *,
        ref: str = "",
        fingerprint: str | None = None,
        artifact: str | os.PathLike[str] | None = None,
        batch_size: int | None = None,
    ) -> None:
        if not callable(predict):
            raise TypeError(f"predict must be callable, got {type(predict).__name__}")
        self.predict = predict
        self.ref = ref
        self.artifact = os.fspath(artifact) if artifact is not None else None
        self.batch_size = batch_size
        self._fingerprint = fingerprint
        self._artifact_sha256: str | None = None

    @property
    def artifact_sha256(self) -> str | None:
        if self.artifact is None:
            return None
        if self._artifact_sha256 is None:
            self._artifact_sha256 = sha256_file(self.artifact)
        return self._artifact_sha256

    @property
    def fingerprint(self) -> str | None:
        return self._fingerprint or self.artifact_sha256

    def __call__(self, batch: list[Any]) -> Sequence[Any]:
        return self.predict(batch)

    def __repr__(self) -> str:
        return f"Model(ref={self.ref!r}, fingerprint={self.fingerprint!r})"


def as_model(obj: Any, ref: str) -> Model:
    """Adapt whatever a loader returned into a :class:`Model`, or raise ``TypeError``."""
    if isinstance(obj, Model):
        if not obj.ref:
            obj.ref = ref
        return obj
    for name in ("predict_batch", "predict"):
        method = getattr(obj, name, None)
        if callable(method):
            return Model(method, ref=ref, fingerprint=getattr(obj, "fingerprint", None))
    if callable(obj):
        return Model(obj, ref=ref, fingerprint=getattr(obj, "fingerprint", None))
    raise TypeError(
        f"the loader returned a {type(obj).__name__} for {ref}: expected a batch callable, "
        "an object with predict_batch/predict, or pytest_airecovery.Model"
    )

"""Model references and the adapter that turns what a loader returns into one batch callable.

A model is anything that maps a batch (a list of inputs) to a sequence of outputs of the same
length: a plain callable, an object with ``predict_batch`` or ``predict``, or a :class:`Model`
that also says how to fingerprint it. The fingerprint keys the on-disk output cache; the artifact's
sha256 is also what a case file can pin as a supply-chain check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_airecovery.models.artifacts import fingerprint_of, sha256_file

__all__ = [
    "Model",
    "ModelRef",
    "ModelRefError",
    "PinnedRef",
    "as_model",
    "fingerprint_of",
    "sha256_file",
]

BatchFn = Callable[[list[Any]], Sequence[Any]]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A declared digest inside a fingerprint (adapters may wrap the user's fingerprint in their own).
_DECLARED_SHA256 = re.compile(r"(?:^|[^0-9a-z])sha256:([0-9a-f]{64})(?![0-9a-f])")
PIN_SEPARATOR = "=sha256:"


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


@dataclass(frozen=True)
class PinnedRef:
    """A candidate ref with an optional sha256 pin: ``digits@v3.3`` or ``digits@v3.3=sha256:<hex>``."""

    ref: str
    sha256: str | None = None

    @classmethod
    def parse(cls, text: str) -> PinnedRef:
        body, sep, digest = str(text).strip().partition(PIN_SEPARATOR)
        ref = str(ModelRef.parse(body))
        if not sep:
            if "=" in body:
                raise ModelRefError(
                    f"{text!r}: a pin is written {ref.partition('=')[0]}{PIN_SEPARATOR}<64 hex digits>"
                )
            return cls(ref)
        digest = digest.strip().lower()
        if not _SHA256_HEX.fullmatch(digest):
            raise ModelRefError(f"{text!r}: the sha256 pin must be 64 hex digits, got {digest!r}")
        return cls(ref, digest)


class Model:
    """A batch-callable model plus the identity the plugin needs to cache and pin it.

    ``predict`` takes a list of inputs and returns one output per input. ``fingerprint`` is any
    string that changes whenever the model's behaviour may change: a hash of its weights *and* of
    its configuration (:func:`fingerprint_of`). When it is omitted but ``artifact`` names the
    weights file, the file's sha256 is used. A model with neither is never cached on disk.
    ``artifact`` is also what a case file's ``sha256`` pin is checked against; a served model with
    no file may give ``fingerprint="sha256:<hex>"`` (the digest its server reports) instead.
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

    @property
    def pinned_sha256(self) -> str | None:
        """What a sha256 pin is checked against: the artifact's hash, else a digest the fingerprint
        declares (a bare 64-hex fingerprint, or ``sha256:<hex>`` in it, as served models give)."""
        if self.artifact is not None:
            return self.artifact_sha256
        declared = (self._fingerprint or "").strip().lower()
        if _SHA256_HEX.fullmatch(declared):
            return declared
        found = _DECLARED_SHA256.search(declared)
        return found.group(1) if found else None

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

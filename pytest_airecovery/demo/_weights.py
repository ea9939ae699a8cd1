"""Reading and writing the demo weights: plain ``.npz`` archives pinned by sha256.

Weights are never pickled. Archives are written with fixed zip timestamps and a sorted member
order so that rebuilding identical arrays gives a byte-identical file (and so the same pin).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pytest_airecovery.models import artifacts

SUMS_FILENAME = "SHA256SUMS"
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class WeightsIntegrityError(RuntimeError):
    """A weights file is missing, unpinned, or its sha256 does not match SHA256SUMS."""


def weights_filename(ref: str) -> str:
    """``digits@v3.1`` -> ``digits-v3.1.npz`` (no ``@`` in file names)."""
    return ref.replace("@", "-") + ".npz"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> str:
    """Write ``arrays`` as an uncompressed ``.npz`` readable by ``np.load``; return its sha256."""
    return artifacts.save_npz(path, arrays)


def write_sums(directory: Path, digests: Mapping[str, str]) -> Path:
    """Write ``SHA256SUMS`` in ``sha256sum`` format (two spaces, sorted by file name)."""
    lines = [f"{digests[name]}  {name}\n" for name in sorted(digests)]
    path = directory / SUMS_FILENAME
    path.write_text("".join(lines), encoding="utf-8")
    return path


def read_sums(directory: Path) -> dict[str, str]:
    path = directory / SUMS_FILENAME
    if not path.is_file():
        raise WeightsIntegrityError(f"no {SUMS_FILENAME} in {directory}: cannot verify weights")
    pins: dict[str, str] = {}
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise WeightsIntegrityError(f"{path}:{line_number}: not sha256sum format: {line!r}")
        # sha256sum marks binary mode with a leading '*'; accept it.
        pins[name.lstrip("*").strip()] = digest.lower()
    return pins


def load_verified(path: Path) -> dict[str, np.ndarray]:
    """Check ``path`` against the pin in its directory's SHA256SUMS, then load its arrays.

    The bytes are hashed and parsed from one read, so the file cannot change between the check
    and the load.
    """
    if not path.is_file():
        raise WeightsIntegrityError(f"weights file {path} does not exist")
    pins = read_sums(path.parent)
    expected = pins.get(path.name)
    if expected is None:
        raise WeightsIntegrityError(f"{path.name} has no pin in {path.parent / SUMS_FILENAME}")
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != expected:
        raise WeightsIntegrityError(
            f"sha256 mismatch for {path}: expected {expected} (pinned in {SUMS_FILENAME}), "
            f"got {actual}; the weights were modified or corrupted, refusing to load them"
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}

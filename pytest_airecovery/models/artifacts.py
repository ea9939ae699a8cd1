"""Model artifacts: hashing files, fingerprints that cover several files, reproducible ``.npz``.

``fingerprint_of`` exists because a fingerprint of the weights alone aliases versions that share
a weights file and differ in their deployment config; ``save_npz`` because ``np.savez``'s bytes depend on the
numpy version (before 1.15 it stamped the current time), the keyword order and the zlib build,
so a rebuilt file need not match its pinned sha256.
numpy is imported inside ``save_npz`` only: the plugin imports this module at start-up.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# One read buffer per file hashed: large enough that hashlib (which releases the GIL above 2 KiB)
# spends its time hashing, small enough for many threads at once (data/hashing.py).
HASH_CHUNK_SIZE = 1 << 20
# zip cannot store dates before 1980; any fixed value keeps the bytes reproducible.
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def hash_file(path: str | os.PathLike[str], chunk_size: int = HASH_CHUNK_SIZE) -> tuple[bytes, int]:
    """Return (sha256 digest, size in bytes), reading into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            read = handle.readinto(buffer)
            if not read:
                break
            digest.update(view[:read])
            size += read
    return digest.digest(), size


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The file's sha256 as 64 hex digits (the form pins and fingerprints use)."""
    return hash_file(path)[0].hex()


def fingerprint_of(*parts: Any) -> str:
    """One sha256 over everything that decides a model's behaviour, in the order given.

    A ``pathlib.Path`` counts by its file's bytes (not its name, so a moved checkout keeps its
    cache); a string, number or mapping counts by its canonical JSON (a prompt template, a
    threshold, a decoding temperature). Pass paths as ``Path`` objects: a ``str`` is a value.
    Raises ``OSError`` when a path cannot be read.
    """
    digest = hashlib.sha256(b"airecovery-fingerprint-1\n")
    for part in parts:
        if isinstance(part, os.PathLike):
            digest.update(b"file:" + sha256_file(part).encode("ascii") + b"\n")
        else:
            text = json.dumps(part, sort_keys=True, separators=(",", ":"), default=str)
            digest.update(
                b"value:" + hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii") + b"\n"
            )
    return digest.hexdigest()


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, Any]) -> str:
    """Write ``arrays`` as an uncompressed ``.npz`` that ``np.load`` reads; return its sha256.

    Byte-identical for identical arrays on any machine: fixed member timestamps, members sorted by
    name, no compression. Object arrays are refused: they would need pickle.
    """
    import numpy as np

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            if array.dtype == object:
                raise TypeError(f"{name}: object arrays would need pickle; use a typed array")
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    data = buffer.getvalue()
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()

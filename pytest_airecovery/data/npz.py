"""Stream rows out of an ``.npz`` archive without loading the feature array.

Each ``.npy`` member is read through ``zipfile`` (compressed or not): the header gives dtype and
shape, then rows are read a block at a time. Labels and ids are 1-D and are loaded whole.
Item digest of a row = sha256(canonical label JSON || 0x0A || row bytes), so relabelling a row
(label flipping) changes its digest just as editing its features does.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.sources import ItemBatch, SourceSpec, canonical_label

_ROWS_PER_BLOCK_BYTES = 8 << 20


def npz_keys(path: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return sorted(name[:-4] for name in archive.namelist() if name.endswith(".npy"))
    except zipfile.BadZipFile:
        raise DataKitError(f"{path}: not a valid .npz archive") from None


def _read_header(handle: IO[bytes], path: str, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    if dtype.hasobject:
        raise DataKitError(f"{path}: array {key!r} holds Python objects; refusing to unpickle")
    if fortran and len(shape) > 1:
        raise DataKitError(f"{path}: array {key!r} is Fortran-ordered; save it C-ordered")
    if not shape:
        raise DataKitError(f"{path}: array {key!r} is a scalar, expected one row per item")
    return shape, dtype


def load_small_array(path: str, key: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        if key not in archive:
            raise DataKitError(f"{path}: no array {key!r}")
        return archive[key]


def iter_rows(path: str, key: str) -> Iterator[tuple[tuple[int, ...], np.dtype[Any], bytes, int]]:
    """Yield (shape, dtype, raw bytes of whole rows, row size) block by block."""
    with zipfile.ZipFile(path) as archive, archive.open(key + ".npy") as handle:
        shape, dtype = _read_header(handle, path, key)
        row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        rows_left = shape[0]
        per_block = max(1, _ROWS_PER_BLOCK_BYTES // max(row_bytes, 1))
        while rows_left:
            take = min(per_block, rows_left)
            data = handle.read(take * row_bytes)
            if len(data) != take * row_bytes:
                raise DataKitError(f"{path}: array {key!r} is truncated")
            yield shape, dtype, data, row_bytes
            rows_left -= take


def npz_batches(path: str, spec: SourceSpec) -> Iterator[ItemBatch]:
    assert spec.features_key is not None
    labels = load_small_array(path, spec.label_field) if spec.label_field else None
    ids = load_small_array(path, spec.id_field) if spec.id_field else None
    sha = hashlib.sha256
    position = 0
    for shape, _dtype, data, row_bytes in iter_rows(path, spec.features_key):
        for name, array in (("labels", labels), ("ids", ids)):
            if array is not None and (array.ndim != 1 or len(array) != shape[0]):
                raise DataKitError(
                    f"{path}: {name} array has shape {array.shape}, expected ({shape[0]},)"
                )
        count = len(data) // row_bytes if row_bytes else 0
        rows = [data[i * row_bytes : (i + 1) * row_bytes] for i in range(count)]
        span = slice(position, position + count)
        label_texts: list[str | None] = (
            [canonical_label(v) for v in labels[span].tolist()] if labels is not None
            else [None] * count
        )
        digests = [
            sha((text.encode("utf-8") + b"\n" if text is not None else b"") + row).digest()
            for text, row in zip(label_texts, rows)
        ]
        batch_ids = ([str(v) for v in ids[span].tolist()] if ids is not None
                     else [str(n) for n in range(position, position + count)])
        position += count
        yield ItemBatch(batch_ids, digests, label_texts)

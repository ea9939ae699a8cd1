"""Stream rows out of an ``.npz`` archive without loading the feature array, within limits.

Each ``.npy`` member is read through ``zipfile`` (compressed or not): the header gives dtype and
shape, then rows are read a block at a time. Labels and ids are 1-D and are loaded whole.
Item digest of a row = sha256(canonical label JSON || 0x0A || row bytes), so relabelling a row
(label flipping) changes its digest just as editing its features does.

An archive is hostile input like any dataset: before a byte is decompressed, the size its
header declares (shape x itemsize) must match the member's recorded size and stay within a
limit, so a zip bomb or a lying header is refused instead of filling memory. Limits (bytes,
suffixes K, M, G allowed), overridable through the environment:

* ``AIRECOVERY_NPZ_MAX_ARRAY_BYTES`` (default 16G): any array, streamed or loaded;
* ``AIRECOVERY_NPZ_MAX_LOADED_BYTES`` (default 512M): an array loaded whole into memory
  (labels, ids; features for ``data scan``; every array when cleaning).
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.limits import MAX_ARRAY_BYTES, MAX_LOADED_BYTES, limit
from pytest_airecovery.data.sources import ItemBatch, SourceSpec, canonical_label

_ROWS_PER_BLOCK_BYTES = 8 << 20


@contextlib.contextmanager
def _damaged_as_error(path: str, key: str | None = None) -> Iterator[None]:
    """A truncated or corrupt archive is bad input with a message, never a traceback."""
    where = f"{path}: array {key!r}" if key is not None else path
    try:
        yield
    except DataKitError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        struct.error,
        KeyError,
        NotImplementedError,
        SyntaxError,
        tokenize.TokenError,
    ) as exc:
        # numpy parses the .npy header with Python's tokenizer: its errors are damage too.
        raise DataKitError(
            f"{where}: not a valid .npz archive or damaged ({type(exc).__name__}: {exc})"
        ) from None


def npz_keys(path: str) -> list[str]:
    with _damaged_as_error(path), zipfile.ZipFile(path) as archive:
        return sorted(name[:-4] for name in archive.namelist() if name.endswith(".npy"))


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


def _checked_member(
    archive: zipfile.ZipFile, handle: IO[bytes], path: str, key: str, most: int, limit_name: str
) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Header of member ``key``, its declared size checked against the member and the limit."""
    info = archive.getinfo(key + ".npy")
    shape, dtype = _read_header(handle, path, key)
    declared = dtype.itemsize * int(np.prod(shape, dtype=object))  # Python ints: no overflow
    header_size = handle.tell()
    if declared + header_size != info.file_size:
        raise DataKitError(
            f"{path}: array {key!r} declares shape {shape} of {dtype} ({declared} bytes) but "
            f"the archive member holds {info.file_size - header_size}: damaged or forged"
        )
    if declared > most:
        raise DataKitError(
            f"{path}: array {key!r} is {declared} bytes uncompressed, over the limit of {most} "
            f"({limit_name}; raise it if the data is trusted)"
        )
    if shape[0] and dtype.itemsize * int(np.prod(shape[1:], dtype=object)) == 0:
        raise DataKitError(f"{path}: array {key!r} has rows of zero bytes")
    return shape, dtype


def load_array(path: str, key: str) -> np.ndarray:
    """One array of the archive, loaded whole after its size was checked (no pickles)."""
    most = min(limit(MAX_LOADED_BYTES), limit(MAX_ARRAY_BYTES))
    with _damaged_as_error(path, key), zipfile.ZipFile(path) as archive:
        if key + ".npy" not in archive.namelist():
            raise DataKitError(f"{path}: no array {key!r}")
        with archive.open(key + ".npy") as handle:
            shape, dtype = _checked_member(archive, handle, path, key, most, MAX_LOADED_BYTES[0])
            data = _read_exactly(
                handle, dtype.itemsize * int(np.prod(shape, dtype=object)), path, key
            )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def load_small_array(path: str, key: str) -> np.ndarray:
    return load_array(path, key)


def _read_exactly(handle: IO[bytes], size: int, path: str, key: str) -> bytearray:
    """``size`` bytes in chunks of at most 8 MiB (the size was checked before)."""
    data = bytearray()
    while len(data) < size:
        chunk = handle.read(min(_ROWS_PER_BLOCK_BYTES, size - len(data)))
        if not chunk:
            raise DataKitError(f"{path}: array {key!r} is truncated")
        data += chunk
    return data


def iter_rows(path: str, key: str) -> Iterator[tuple[tuple[int, ...], np.dtype[Any], bytes, int]]:
    """Yield (shape, dtype, raw bytes of whole rows, row size) block by block."""
    most = limit(MAX_ARRAY_BYTES)
    with (
        _damaged_as_error(path, key),
        zipfile.ZipFile(path) as archive,
        archive.open(key + ".npy") as handle,
    ):
        shape, dtype = _checked_member(archive, handle, path, key, most, MAX_ARRAY_BYTES[0])
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
            [canonical_label(v) for v in labels[span].tolist()]
            if labels is not None
            else [None] * count
        )
        digests = [
            sha((text.encode("utf-8") + b"\n" if text is not None else b"") + row).digest()
            for text, row in zip(label_texts, rows, strict=True)
        ]
        batch_ids = (
            [str(v) for v in ids[span].tolist()]
            if ids is not None
            else [str(n) for n in range(position, position + count)]
        )
        position += count
        yield ItemBatch(batch_ids, digests, label_texts)

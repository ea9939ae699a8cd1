"""Where a case's inputs come from: inline values, rows of an .npz array, or lines of a .jsonl file.

Collection only needs the number of rows and the column names, so .npz files are read by their
array headers alone; the arrays themselves are loaded once, on first use, when tests run. Those
headers are checked against the limit and against the member's real size first (a zip bomb or a
header that lies about its shape would otherwise cost gigabytes), so the later load is bounded.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_airecovery.cases.limits import DEFAULT_LIMITS
from pytest_airecovery.cases.plain import python_value
from pytest_airecovery.cases.yamlpos import LoadError

# What a damaged archive raises while being read: CRC and size mismatches, cut-off streams.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)


class InputFileError(LoadError):
    """An input file that cannot be read when a test asks for its rows (damaged since collection)."""


class InputSource:
    """Rows of inputs plus named per-row columns (expected labels and the like)."""

    description = "inline inputs"

    def __len__(self) -> int:
        raise NotImplementedError

    def value(self, index: int) -> Any:
        raise NotImplementedError

    def has_column(self, name: str) -> bool:
        raise NotImplementedError

    def column(self, name: str, index: int) -> Any:
        raise NotImplementedError

    def columns(self) -> list[str]:
        raise NotImplementedError

    def row_label(self, index: int) -> str:
        return f"row {index} of {self.description}"


class InlineSource(InputSource):
    def __init__(self, values: list[Any], columns: dict[str, list[Any]] | None = None) -> None:
        self._values = values
        self._columns = columns or {}
        self.description = "inline inputs"

    def __len__(self) -> int:
        return len(self._values)

    def value(self, index: int) -> Any:
        return self._values[index]

    def has_column(self, name: str) -> bool:
        return name in self._columns

    def column(self, name: str, index: int) -> Any:
        return self._columns[name][index]

    def columns(self) -> list[str]:
        return sorted(self._columns)


class NpzSource(InputSource):
    def __init__(
        self,
        path: Path,
        key: str | None,
        limit: int | None,
        shown_as: str,
        *,
        max_bytes: int = DEFAULT_LIMITS.input_bytes,
    ) -> None:
        self.path = path
        self.shown_as = shown_as
        shapes = npz_shapes(path, max_bytes=max_bytes, shown_as=shown_as)
        if not shapes:
            raise LoadError(f"{shown_as} holds no arrays", field="inputs.file")
        if key is None:
            if len(shapes) != 1:
                raise LoadError(
                    f"{shown_as} holds several arrays ({', '.join(sorted(shapes))}): name one "
                    "with `key`",
                    field="inputs.key",
                )
            key = next(iter(shapes))
        if key not in shapes:
            raise LoadError(
                f"{shown_as} has no array {key!r} (it has {', '.join(sorted(shapes))})",
                field="inputs.key",
            )
        if not shapes[key]:
            raise LoadError(
                f"array {key!r} in {shown_as} is a scalar, not rows", field="inputs.key"
            )
        rows = shapes[key][0]
        self.key = key
        self._rows = min(rows, limit) if limit else rows
        self._column_names = sorted(
            name
            for name, shape in shapes.items()
            if name != key and shape and shape[0] >= self._rows
        )
        self._arrays: dict[str, Any] = {}
        self.description = f"{shown_as}[{key}]"

    def __len__(self) -> int:
        return self._rows

    def _array(self, name: str) -> Any:
        if name not in self._arrays:
            import numpy as np

            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self._arrays[name] = data[name]
            except _ARCHIVE_ERRORS as exc:
                raise InputFileError(
                    f"{self.shown_as}: array {name!r} cannot be read ({type(exc).__name__}: {exc})",
                    field="inputs.file",
                ) from None
        return self._arrays[name]

    def value(self, index: int) -> Any:
        return self._array(self.key)[index]

    def has_column(self, name: str) -> bool:
        return name in self._column_names

    def column(self, name: str, index: int) -> Any:
        return python_value(self._array(name)[index])

    def columns(self) -> list[str]:
        return list(self._column_names)


class JsonlSource(InputSource):
    def __init__(
        self,
        path: Path,
        field: str | None,
        limit: int | None,
        shown_as: str,
        *,
        max_bytes: int = DEFAULT_LIMITS.input_bytes,
    ) -> None:
        self.path = path
        self.field = field
        records: list[Any] = []
        with open(path, "rb") as fh:
            # The budget bounds the whole file and so every line: readline never reads past it.
            budget = max_bytes
            number = 0
            while True:
                raw = fh.readline(budget + 1)
                if not raw:
                    break
                number += 1
                budget -= len(raw)
                if budget < 0:
                    raise LoadError(
                        f"{shown_as}:{number}: the file is larger than {max_bytes} bytes (raise the ini "
                        "setting incident_max_input_bytes if this is intended)",
                        field="inputs.file",
                    )
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise LoadError(
                        f"{shown_as}:{number}: not a JSON line ({exc})", field="inputs.file"
                    ) from None
                except RecursionError:
                    raise LoadError(
                        f"{shown_as}:{number}: JSON nested too deeply", field="inputs.file"
                    ) from None
                if field is not None and (not isinstance(record, dict) or field not in record):
                    raise LoadError(
                        f"{shown_as}:{number}: record has no field {field!r}", field="inputs.field"
                    )
                records.append(record)
                if limit and len(records) >= limit:
                    break
        if not records:
            raise LoadError(f"{shown_as} holds no records", field="inputs.file")
        self._records = records
        names: set[str] = set()
        for record in records:
            if isinstance(record, dict):
                names.update(record)
        self._column_names = sorted(names - {field} if field else names)
        self.description = f"{shown_as}" + (f"[{field}]" if field else "")

    def __len__(self) -> int:
        return len(self._records)

    def value(self, index: int) -> Any:
        record = self._records[index]
        return record[self.field] if self.field is not None else record

    def has_column(self, name: str) -> bool:
        return name in self._column_names

    def column(self, name: str, index: int) -> Any:
        record = self._records[index]
        if not isinstance(record, dict) or name not in record:
            raise KeyError(f"record {index} of {self.description} has no field {name!r}")
        return record[name]

    def columns(self) -> list[str]:
        return list(self._column_names)


@dataclass(frozen=True)
class _Member:
    """One .npy member's header as declared, and the member's size in the archive."""

    name: str
    shape: tuple[int, ...]
    declared_bytes: int
    header_bytes: int
    stored_bytes: int  # the member's uncompressed size, from the zip directory


def npz_shapes(
    path: Path, *, max_bytes: int = DEFAULT_LIMITS.input_bytes, shown_as: str | None = None
) -> dict[str, tuple[int, ...]]:
    """Array shapes of an .npz file, read from the .npy headers without loading the data.

    Every array's declared size must fit ``max_bytes`` and match what its member really holds,
    so loading it later reads no more than the limit: a zip bomb is refused by its size, a
    header that claims more (or less) than the member holds by the mismatch.
    """
    shown = shown_as or path.name
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                member = _read_member_header(archive, info, shown)
                _check_member(member, max_bytes, shown)
                shapes[member.name] = member.shape
    except LoadError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise LoadError(
            f"{shown} is not a readable .npz file ({exc})", field="inputs.file"
        ) from None
    return shapes


def _read_member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> _Member:
    from numpy.lib import format as npy_format

    name = info.filename[: -len(".npy")]
    with archive.open(info) as member:
        version = npy_format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(member)
        else:
            shape, _, dtype = npy_format.read_array_header_2_0(member)
        header_bytes = member.tell()
    if dtype.hasobject:
        raise LoadError(
            f"{shown}: array {name!r} holds Python objects, which would need unpickling; "
            "store plain numbers or strings",
            field="inputs.file",
        )
    declared = math.prod(shape) * dtype.itemsize
    return _Member(name, tuple(shape), declared, header_bytes, info.file_size)


def _check_member(member: _Member, max_bytes: int, shown: str) -> None:
    if member.declared_bytes > max_bytes:
        raise LoadError(
            f"{shown}: array {member.name!r} declares {member.declared_bytes} bytes "
            f"(shape {member.shape}), more than the limit of {max_bytes} (raise the ini setting "
            "incident_max_input_bytes if this is intended)",
            field="inputs.file",
        )
    if member.header_bytes + member.declared_bytes != member.stored_bytes:
        raise LoadError(
            f"{shown}: array {member.name!r} declares {member.declared_bytes} bytes of data "
            f"(shape {member.shape}) but its member holds {member.stored_bytes - member.header_bytes}: "
            "the file is damaged or its header lies",
            field="inputs.file",
        )


def input_digest(value: Any) -> str:
    """A stable hash of one model input, the output cache's key next to the model fingerprint."""
    digest = hashlib.sha256()
    if isinstance(value, str):
        digest.update(b"s:")
        digest.update(value.encode("utf-8"))
    elif hasattr(value, "dtype") and hasattr(value, "tobytes"):
        digest.update(f"a:{value.dtype.str}:{tuple(value.shape)}:".encode())
        digest.update(value.tobytes())
    else:
        digest.update(b"j:")
        digest.update(json.dumps(value, sort_keys=True, default=repr).encode("utf-8"))
    return digest.hexdigest()

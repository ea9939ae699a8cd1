"""Where a case's inputs come from: inline values, rows of an .npz array, or lines of a .jsonl file.

Collection only needs the number of rows and the column names, so .npz files are read by their
array headers alone; the arrays themselves are loaded once, on first use, when tests run.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from pytest_airecovery.cases.yamlpos import LoadError


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
    def __init__(self, path: Path, key: str | None, limit: int | None, shown_as: str) -> None:
        self.path = path
        shapes = npz_shapes(path)
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
            raise LoadError(f"array {key!r} in {shown_as} is a scalar, not rows", field="inputs.key")
        rows = shapes[key][0]
        self.key = key
        self._rows = min(rows, limit) if limit else rows
        self._column_names = sorted(
            name for name, shape in shapes.items() if name != key and shape and shape[0] >= self._rows
        )
        self._arrays: dict[str, Any] = {}
        self.description = f"{shown_as}[{key}]"

    def __len__(self) -> int:
        return self._rows

    def _array(self, name: str) -> Any:
        if name not in self._arrays:
            import numpy as np

            with np.load(self.path, allow_pickle=False) as data:
                self._arrays[name] = data[name]
        return self._arrays[name]

    def value(self, index: int) -> Any:
        return self._array(self.key)[index]

    def has_column(self, name: str) -> bool:
        return name in self._column_names

    def column(self, name: str, index: int) -> Any:
        return _plain(self._array(name)[index])

    def columns(self) -> list[str]:
        return list(self._column_names)


class JsonlSource(InputSource):
    def __init__(self, path: Path, field: str | None, limit: int | None, shown_as: str) -> None:
        self.path = path
        self.field = field
        records: list[Any] = []
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise LoadError(f"{shown_as}:{number}: not a JSON line ({exc})", field="inputs.file") from None
                if field is not None and (not isinstance(record, dict) or field not in record):
                    raise LoadError(f"{shown_as}:{number}: record has no field {field!r}", field="inputs.field")
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


def npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Array shapes of an .npz file, read from the .npy headers without loading the data."""
    from numpy.lib import format as npy_format

    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = npy_format.read_magic(member)
                    if version == (1, 0):
                        shape, _, _ = npy_format.read_array_header_1_0(member)
                    else:
                        shape, _, _ = npy_format.read_array_header_2_0(member)
                shapes[info.filename[: -len(".npy")]] = tuple(shape)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise LoadError(f"{path.name} is not a readable .npz file ({exc})", field="inputs.file") from None
    return shapes


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


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to plain Python, so checks compare like with like."""
    tolist = getattr(value, "tolist", None)
    return tolist() if tolist is not None else value

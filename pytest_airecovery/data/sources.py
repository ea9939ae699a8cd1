"""Stream the items of a dataset as batches of (id, sha256 digest, label).

Four kinds of dataset: ``files`` (every regular file under a directory, walked in canonical order),
``jsonl`` and ``csv`` (one item per record, the digest taken over the record's raw bytes) and
``npz`` (one item per row of a feature array, the digest taken over the label and the row bytes).
Data is read in blocks, so memory does not grow with the size of the dataset.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.hashing import hash_files
from pytest_airecovery.data.limits import MAX_LINE_BYTES, limit

KINDS = ("files", "jsonl", "csv", "npz")
BLOCK_SIZE = 8 << 20
_SUFFIX_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".npz": "npz"}
_FEATURE_KEYS = ("X", "features", "x", "data")
_LABEL_KEYS = ("y", "labels", "label", "targets")
_ID_KEYS = ("ids", "id")


@dataclass
class SourceSpec:
    """How items are read; stored in the manifest header so ``verify`` reads them the same way."""

    kind: str
    label_field: str | None = None
    id_field: str | None = None
    features_key: str | None = None
    exclude: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SourceSpec:
        """The spec a manifest header records; every field present, of its type, and no other
        (a field this tool did not write could change what is read without changing the root)."""
        if not isinstance(data, dict):
            raise DataKitError("source is not an object")
        names = ("kind", "label_field", "id_field", "features_key", "exclude")
        unknown = sorted(set(data) - set(names))
        missing = [name for name in names if name not in data]
        if unknown or missing:
            raise DataKitError(
                f"unknown fields {unknown}" if unknown else f"missing fields {missing}"
            )
        if data["kind"] not in KINDS:
            raise DataKitError(f"unknown dataset kind {data['kind']!r}")
        for name in names[1:4]:
            if data[name] is not None and not isinstance(data[name], str):
                raise DataKitError(f"{name} is not a string or null")
        exclude = data["exclude"]
        if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
            raise DataKitError("exclude is not a list of strings")
        return cls(**{name: data[name] for name in names})


class ItemBatch:
    """One batch of items: ids, raw sha256 digests, canonical JSON labels (None: no label).

    The block reader can hand over ids as UTF-8 bytes only; ``ids`` (str) is then decoded on
    first use, so building a manifest never turns them into strings.
    """

    __slots__ = ("_ids", "digests", "id_bytes", "labels", "positional", "sizes")

    def __init__(
        self,
        ids: list[str] | None,
        digests: list[bytes],
        labels: list[str | None],
        sizes: list[int] | None = None,
        id_bytes: list[bytes] | None = None,
        positional: bool = False,
    ) -> None:
        self._ids = ids
        self.digests = digests
        self.labels = labels
        self.sizes = sizes  # file sizes, files kind only
        self.id_bytes = id_bytes  # ids as UTF-8 (surrogateescape for file names)
        self.positional = positional  # ids are record positions: unique by construction

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            assert self.id_bytes is not None
            self._ids = (
                b"\n".join(self.id_bytes).decode("utf-8").split("\n") if self.id_bytes else []
            )
        return self._ids


def detect_kind(path: str) -> str:
    if os.path.isdir(path):
        return "files"
    if not os.path.exists(path):
        raise DataKitError(f"{path}: no such file or directory")
    kind = _SUFFIX_KINDS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise DataKitError(
            f"{path}: cannot tell the dataset kind from the suffix (use .jsonl, .csv, .npz "
            "or a directory)"
        )
    return kind


def canonical_label(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _check_path(path: str, kind: str) -> None:
    if kind == "files":
        if not os.path.isdir(path):
            raise DataKitError(f"{path}: expected a directory of files")
        return
    if os.path.isdir(path):
        raise DataKitError(f"{path}: is a directory, expected a {kind} file")
    if not os.path.isfile(path):
        raise DataKitError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise DataKitError(f"{path}: file is empty")


# ---------------------------------------------------------------- files


def iter_file_ids(root: str, exclude: list[str] | None = None) -> Iterator[str]:
    """Relative POSIX paths of regular files, in canonical order (sorted path components)."""
    skip = set(exclude or [])

    def walk(directory: str, prefix: str) -> Iterator[str]:
        with os.scandir(directory) as entries:
            listed = sorted(
                entries, key=lambda entry: entry.name.encode("utf-8", "surrogateescape")
            )
        for entry in listed:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from walk(entry.path, rel + "/")
            elif entry.is_file() and rel not in skip:
                yield rel

    yield from walk(root, "")


def file_id_key(item_id: str) -> list[bytes]:
    """Sort key of canonical file order: path components compared as UTF-8 bytes."""
    return [part.encode("utf-8", "surrogateescape") for part in item_id.split("/")]


def _file_batches(
    root: str, spec: SourceSpec, workers: int | None, skip_files: frozenset[str]
) -> Iterator[ItemBatch]:
    ids = iter_file_ids(root, [*spec.exclude, *skip_files])
    full_paths = (os.path.join(root, *rel.split("/")) for rel in ids)
    batch = ItemBatch([], [], [], [])
    prefix_len = len(os.path.join(root, ""))
    for full, digest, size in hash_files(full_paths, workers):
        rel = full[prefix_len:].replace(os.sep, "/")
        batch.ids.append(rel)
        batch.digests.append(digest)
        # With label_field == "parent", an ImageFolder-style tree gives each file its class.
        parent = rel.rsplit("/", 1)[0] if "/" in rel else None
        batch.labels.append(
            canonical_label(parent) if spec.label_field == "parent" and parent else None
        )
        assert batch.sizes is not None
        batch.sizes.append(size)
        if len(batch.ids) >= 256:
            yield batch
            batch = ItemBatch([], [], [], [])
    if batch.ids:
        yield batch


# ---------------------------------------------------------------- records


# JSON's whitespace: a JSONL line of nothing else is blank and skipped by every reader.
JSON_BLANK = b" \t\r"


def is_blank(line: bytes) -> bool:
    return not line.strip(JSON_BLANK)


class BadRecord(Exception):
    """A record that is not what the kit needs; the message lacks file and line."""


_RECORD_DECODER: Any = None


def json_record(line: bytes) -> dict[str, Any]:
    """One JSONL line as a record (a JSON object) of undecoded field values, or BadRecord.

    msgspec checks the whole line against the JSON grammar and cuts out each top-level value
    without decoding it, exactly as the block reader (``jsonl_blocks``) treats fields it does
    not read; :func:`field_value` decodes the fields a tool needs as the block reader does. So
    every tool of the kit accepts and refuses the same lines for the same reasons.
    """
    global _RECORD_DECODER
    import msgspec

    if _RECORD_DECODER is None:
        _RECORD_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
    try:
        line.decode("utf-8")
        return _RECORD_DECODER.decode(line)  # type: ignore[no-any-return]
    except UnicodeDecodeError as exc:
        raise BadRecord(f"not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise BadRecord("not valid JSON (nested too deeply)") from None
    except msgspec.ValidationError as exc:
        raise BadRecord(
            "record is not a JSON object"
            if "Expected `object`" in str(exc)
            else f"not valid JSON ({exc})"
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRecord(f"not valid JSON ({exc})") from None


def field_value(record: dict[str, Any], name: str) -> Any:
    """The decoded value of field ``name`` of a :func:`json_record`, or BadRecord."""
    import msgspec

    if name not in record:
        raise BadRecord(f"no field {name!r}")
    try:
        return msgspec.json.decode(record[name])
    except RecursionError:
        raise BadRecord("not valid JSON (nested too deeply)") from None
    except msgspec.DecodeError as exc:
        raise BadRecord(f"not valid JSON ({exc} in field {name!r})") from None


def parse_json_record(path: str, number: int, line: bytes) -> dict[str, Any]:
    """One JSONL line as a record (a JSON object), or a DataKitError naming file and line."""
    try:
        return json_record(line)
    except BadRecord as exc:
        raise DataKitError(f"{path}:{number}: {exc}") from None


def _first_jsonl_record(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not is_blank(line.rstrip(b"\n")):
                return parse_json_record(path, number, line)
    raise DataKitError(f"{path}: no records")


def line_blocks(path: str, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
    """Blocks of about ``block_size`` bytes of whole lines, each line ending with a line break.

    A line longer than the line limit (``limits.MAX_LINE_BYTES``) is refused before more of it
    is held in memory.
    """
    most = limit(MAX_LINE_BYTES)
    carry = b""
    offset = 0  # of the carry in the file
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(block_size)
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                if len(carry) > most:
                    raise DataKitError(
                        f"{path}:{_line_at(path, offset)}: line longer than {most} bytes "
                        f"(the limit, {MAX_LINE_BYTES[0]}): not one record per line?"
                    )
                continue
            yield data[: cut + 1]
            offset += cut + 1
            carry = data[cut + 1 :]
    if carry:  # the last line of a file without a final line break
        yield carry + b"\n"


def _line_at(path: str, offset: int) -> int:
    """The number of the line starting at byte ``offset`` (error path only: reads the file)."""
    count = 1
    with open(path, "rb") as handle:
        while offset > 0:
            chunk = handle.read(min(offset, BLOCK_SIZE))
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count


def _split_blocks(path: str) -> Iterator[tuple[int, list[bytes], bytes]]:
    """Yield (first line number, lines, raw block) of whole lines."""
    line_number = 1
    for block in line_blocks(path):
        lines = block.split(b"\n")
        lines.pop()  # the empty piece after the block's last line break
        yield line_number, lines, block
        line_number += len(lines)


def _csv_header(path: str) -> list[str]:
    for _, raw in _csv_records(path):
        return next(csv.reader(io.StringIO(csv_text(raw, path, 1))))
    raise DataKitError(f"{path}: file is empty")


def csv_text(raw: bytes, path: str, number: int) -> str:
    """A CSV record's text; bytes that are not UTF-8 are bad input naming the line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataKitError(f"{path}:{number}: not valid UTF-8 (byte {exc.start})") from None


def _csv_records(path: str) -> Iterator[tuple[int, bytes]]:
    """(line number, raw record bytes without the line break); quoted fields may span lines."""
    pending: list[bytes] = []
    start = 0
    for first_line, lines, _ in _split_blocks(path):
        for offset, line in enumerate(lines):
            if not pending:
                start = first_line + offset
            pending.append(line)
            if b"".join(pending).count(b'"') % 2 == 0:
                yield start, b"\n".join(pending)
                pending = []
    if pending:
        raise DataKitError(f"{path}:{start}: unterminated quoted field")


def _csv_batches(path: str, spec: SourceSpec) -> Iterator[ItemBatch]:
    import hashlib

    sha = hashlib.sha256
    records = _csv_records(path)
    _, header_raw = next(records)
    header = next(csv.reader(io.StringIO(csv_text(header_raw, path, 1))))
    label_index = header.index(spec.label_field) if spec.label_field else None
    id_index = header.index(spec.id_field) if spec.id_field else None
    batch = ItemBatch([], [], [])
    position = 0
    for number, raw in records:
        row = raw.rstrip(b"\r")
        if not row.strip():
            continue
        text = csv_text(row, path, number)
        fields = text.split(",") if '"' not in text else next(csv.reader(io.StringIO(text)))
        if len(fields) != len(header):
            raise DataKitError(f"{path}:{number}: {len(fields)} fields, header has {len(header)}")
        batch.digests.append(sha(raw).digest())
        batch.ids.append(fields[id_index] if id_index is not None else str(position))
        batch.labels.append(
            canonical_label(fields[label_index]) if label_index is not None else None
        )
        position += 1
        if len(batch.ids) >= 4096:
            yield batch
            batch = ItemBatch([], [], [])
    if batch.ids:
        yield batch
    if position == 0:
        raise DataKitError(f"{path}: no records after the header")

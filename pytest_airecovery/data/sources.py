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
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.hashing import hash_files

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
    def from_dict(cls, data: dict[str, Any]) -> SourceSpec:
        known = {k: data[k] for k in ("kind", "label_field", "id_field", "features_key", "exclude")
                 if k in data}
        if known.get("kind") not in KINDS:
            raise DataKitError(f"unknown dataset kind {known.get('kind')!r}")
        return cls(**known)


class ItemBatch:
    """One batch of items: ids, raw sha256 digests, canonical JSON labels (None: no label).

    The block reader can hand over ids as their JSON tokens and UTF-8 bytes only; ``ids`` (str)
    is then decoded on first use, so building a manifest never turns them into strings.
    """

    __slots__ = ("_ids", "digests", "id_bytes", "id_json", "labels", "positional", "sizes")

    def __init__(self, ids: list[str] | None, digests: list[bytes], labels: list[str | None],
                 sizes: list[int] | None = None, id_json: list[bytes] | None = None,
                 id_bytes: list[bytes] | None = None, positional: bool = False) -> None:
        self._ids = ids
        self.digests = digests
        self.labels = labels
        self.sizes = sizes  # file sizes, files kind only
        self.id_json = id_json  # ids as JSON string tokens (UTF-8), when cheap to get
        self.id_bytes = id_bytes  # ids as UTF-8 (surrogateescape for file names)
        self.positional = positional  # ids are record positions: unique by construction

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            assert self.id_bytes is not None
            self._ids = b"\n".join(self.id_bytes).decode("utf-8").split("\n") if self.id_bytes \
                else []
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


def _canonical_label(value: Any) -> str:
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


def resolve_spec(path: str, kind: str | None = None, label_field: str | None = None,
                 id_field: str | None = None, exclude: list[str] | None = None) -> SourceSpec:
    """Fill in what the user left out by looking at the first record (or the npz keys)."""
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        raise DataKitError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
    _check_path(path, kind)
    spec = SourceSpec(kind=kind, label_field=label_field, id_field=id_field,
                      exclude=sorted(exclude or []))
    if kind == "files" and (label_field not in (None, "parent") or id_field is not None):
        raise DataKitError("a directory's items are its files: ids are their paths, and the only "
                           "label source is --label-field parent")
    if kind == "jsonl":
        first = _first_jsonl_record(path)
        spec.label_field = label_field if label_field is not None else (
            "label" if "label" in first else None)
        spec.id_field = id_field if id_field is not None else ("id" if "id" in first else None)
    elif kind == "csv":
        header = _csv_header(path)
        spec.label_field = label_field if label_field is not None else (
            "label" if "label" in header else None)
        spec.id_field = id_field if id_field is not None else ("id" if "id" in header else None)
        for name in (spec.label_field, spec.id_field):
            if name is not None and name not in header:
                raise DataKitError(f"{path}: no column {name!r} in header {header}")
    elif kind == "npz":
        from pytest_airecovery.data.npz import npz_keys

        keys = npz_keys(path)
        spec.features_key = next((k for k in _FEATURE_KEYS if k in keys), None)
        if spec.features_key is None:
            raise DataKitError(f"{path}: no feature array (looked for {', '.join(_FEATURE_KEYS)})")
        spec.label_field = label_field if label_field is not None else next(
            (k for k in _LABEL_KEYS if k in keys), None)
        spec.id_field = id_field if id_field is not None else next(
            (k for k in _ID_KEYS if k in keys), None)
    return spec


def iter_batches(path: str, spec: SourceSpec, workers: int | None = None,
                 skip_files: frozenset[str] = frozenset()) -> Iterator[ItemBatch]:
    """Items of ``path``; ``skip_files`` (relative paths) are left out and not recorded."""
    _check_path(path, spec.kind)
    if spec.kind == "files":
        yield from _file_batches(path, spec, workers, skip_files)
    elif spec.kind == "jsonl":
        yield from _jsonl_batches(path, spec)
    elif spec.kind == "csv":
        yield from _csv_batches(path, spec)
    else:
        from pytest_airecovery.data.npz import npz_batches

        yield from npz_batches(path, spec)


# ---------------------------------------------------------------- files


def iter_file_ids(root: str, exclude: list[str] | None = None) -> Iterator[str]:
    """Relative POSIX paths of regular files, in canonical order (sorted path components)."""
    skip = set(exclude or [])

    def walk(directory: str, prefix: str) -> Iterator[str]:
        with os.scandir(directory) as entries:
            listed = sorted(entries, key=lambda entry: entry.name.encode("utf-8", "surrogateescape"))
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


def _file_batches(root: str, spec: SourceSpec, workers: int | None,
                  skip_files: frozenset[str]) -> Iterator[ItemBatch]:
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
        batch.labels.append(_canonical_label(parent) if spec.label_field == "parent" and parent
                            else None)
        assert batch.sizes is not None
        batch.sizes.append(size)
        if len(batch.ids) >= 256:
            yield batch
            batch = ItemBatch([], [], [], [])
    if batch.ids:
        yield batch


# ---------------------------------------------------------------- records


def parse_json_record(path: str, number: int, line: bytes) -> dict[str, Any]:
    """One JSONL line as a record (a JSON object), or a DataKitError naming file and line."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise DataKitError(f"{path}:{number}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise DataKitError(f"{path}:{number}: record is not a JSON object")
    return record


def _first_jsonl_record(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                return parse_json_record(path, number, line)
    raise DataKitError(f"{path}: no records")


def _field_pattern(name: str) -> tuple[re.Pattern[bytes], bytes]:
    key = json.dumps(name).encode("utf-8")
    # Strings as an unrolled loop: runs of plain characters, then escapes. An alternation per
    # character made the scan several times slower.
    value = rb'("[^"\\\n]*(?:\\.[^"\\\n]*)*"|-?[0-9][0-9.eE+-]*|true|false|null)'
    # The match runs on to the end of its line, so a line yields at most one match.
    return re.compile(re.escape(key) + rb"[ \t\r]*:[ \t\r]*" + value + rb"[^\n]*"), key


# Every byte but "{" and the line break: deleting them leaves "{\n" per line for flat records.
_NOT_BRACE_OR_NEWLINE = bytes(b for b in range(256) if b not in b"{\n")


def _one_brace_per_line(block: bytes, line_count: int) -> bool:
    """True if each of the block's lines holds exactly one "{" (one C pass, no per-line call)."""
    return block.translate(None, _NOT_BRACE_OR_NEWLINE) == b"{\n" * line_count


def _decode_id(token: bytes) -> str:
    value = json.loads(token)
    return value if isinstance(value, str) else _canonical_label(value)


def _fast_fields(block: bytes, lines: list[bytes], pattern: re.Pattern[bytes],
                 key: bytes) -> list[bytes] | None:
    """Field tokens, one per line, or None if some line is not simple.

    A match never spans lines and runs to its line's end, so a line yields at most one: as many
    matches as lines means match i belongs to line i. As many keys in the block as lines then
    means no line holds the key twice (json.loads would take the last one).
    """
    if block.count(key) != len(lines):
        return None
    found = pattern.findall(block)
    return found if len(found) == len(lines) else None


def _ids_from_tokens(tokens: list[bytes]) -> tuple[list[str] | None, list[bytes] | None,
                                                    list[bytes] | None]:
    """(ids, ids as JSON tokens, ids as UTF-8): the first or the last two are None.

    Quoted tokens without escapes are already valid JSON and their insides are the UTF-8 ids: one
    join, one validating decode and one split (all in C) replace a decode per record, and the
    ids as str are left to :attr:`ItemBatch.ids` (building a manifest never needs them). Other
    tokens are decoded one by one and encoded by the manifest writer and the tree.
    """
    joined = b"\n".join(tokens)
    if joined.count(b'"') == 2 * len(tokens) and b"\\" not in joined:
        joined.decode("utf-8")  # invalid UTF-8 fails here, as json.loads would
        return None, tokens, joined[1:-1].split(b'"\n"')
    return [_decode_id(token) for token in tokens], None, None


def _jsonl_slow_record(path: str, line_number: int, line: bytes, spec: SourceSpec,
                       position: int) -> tuple[str, str | None]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise DataKitError(f"{path}:{line_number}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise DataKitError(f"{path}:{line_number}: record is not a JSON object")
    label = None
    if spec.label_field is not None:
        if spec.label_field not in record:
            raise DataKitError(f"{path}:{line_number}: no field {spec.label_field!r}")
        label = _canonical_label(record[spec.label_field])
    if spec.id_field is None:
        return str(position), label
    if spec.id_field not in record:
        raise DataKitError(f"{path}:{line_number}: no field {spec.id_field!r}")
    value = record[spec.id_field]
    return (value if isinstance(value, str) else _canonical_label(value)), label


def _split_blocks(path: str) -> Iterator[tuple[int, list[bytes], bytes]]:
    """Yield (first line number, non-empty lines, raw block) of whole lines."""
    line_number = 1
    carry = b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(BLOCK_SIZE)
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            block, carry = data[: cut + 1], data[cut + 1 :]
            lines = block.split(b"\n")
            lines.pop()  # the empty piece after the block's last line break
            yield line_number, lines, block
            line_number += len(lines)
    if carry:
        yield line_number, [carry], carry + b"\n"


def _jsonl_batches(path: str, spec: SourceSpec) -> Iterator[ItemBatch]:
    import hashlib

    sha = hashlib.sha256
    digest_of = type(sha()).digest
    label_pattern = _field_pattern(spec.label_field) if spec.label_field else None
    id_pattern = _field_pattern(spec.id_field) if spec.id_field else None
    label_cache: dict[bytes, str] = {}
    position = 0
    for first_line, raw_lines, block in _split_blocks(path):
        # One "{" per line: flat objects, so a key cannot belong to a nested object; this also
        # rules out blank lines, so the common case skips the per-line filter.
        simple = _one_brace_per_line(block, len(raw_lines))
        lines = raw_lines if simple else [line for line in raw_lines if line.strip()]
        if not lines:
            continue
        # map() keeps the per-record loop in C: one sha256 call per line and nothing else.
        digests = list(map(digest_of, map(sha, lines)))
        label_tokens = id_tokens = None
        id_json: list[bytes] | None
        id_bytes: list[bytes] | None
        ids: list[str] | None
        if simple and label_pattern is not None:
            label_tokens = _fast_fields(block, lines, *label_pattern)
        if simple and id_pattern is not None:
            id_tokens = _fast_fields(block, lines, *id_pattern)
        fast = simple and (label_pattern is None or label_tokens is not None) and (
            id_pattern is None or id_tokens is not None)
        if fast:
            if label_tokens is None:
                labels: list[str | None] = [None] * len(lines)
            else:
                # Labels repeat: canonicalise each distinct token once, then look all up in C.
                for token in set(label_tokens).difference(label_cache):
                    _cache_label(label_cache, token)
                labels = list(map(label_cache.__getitem__, label_tokens))
            if id_tokens is None:
                ids, id_json, id_bytes = _positional_ids(position, len(lines))
            else:
                ids, id_json, id_bytes = _ids_from_tokens(id_tokens)
        else:
            ids, labels, id_json, id_bytes = [], [], None, None
            numbers = [first_line + i for i, line in enumerate(raw_lines) if line.strip()]
            for offset, (number, line) in enumerate(zip(numbers, lines)):
                item_id, label = _jsonl_slow_record(path, number, line, spec, position + offset)
                ids.append(item_id)
                labels.append(label)
        position += len(lines)
        yield ItemBatch(ids, digests, labels, id_json=id_json, id_bytes=id_bytes,
                        positional=id_pattern is None)


def _positional_ids(start: int, count: int) -> tuple[None, list[bytes], list[bytes]]:
    """Ids of records without an id field, their positions: one format and two splits in C."""
    digits = (b"%d," * count % tuple(range(start, start + count)))[:-1]
    return None, (b'"' + digits.replace(b",", b'","') + b'"').split(b","), digits.split(b",")


def _cache_label(cache: dict[bytes, str], token: bytes) -> str:
    cache[token] = _canonical_label(json.loads(token))
    return cache[token]


def _csv_header(path: str) -> list[str]:
    with open(path, "r", encoding="utf-8", newline="") as handle:
        try:
            return next(csv.reader(handle))
        except StopIteration:
            raise DataKitError(f"{path}: file is empty") from None


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
    header = next(csv.reader(io.StringIO(header_raw.decode("utf-8"))))
    label_index = header.index(spec.label_field) if spec.label_field else None
    id_index = header.index(spec.id_field) if spec.id_field else None
    batch = ItemBatch([], [], [])
    position = 0
    for number, raw in records:
        row = raw.rstrip(b"\r")
        if not row.strip():
            continue
        text = row.decode("utf-8")
        fields = text.split(",") if '"' not in text else next(csv.reader(io.StringIO(text)))
        if len(fields) != len(header):
            raise DataKitError(f"{path}:{number}: {len(fields)} fields, header has {len(header)}")
        batch.digests.append(sha(raw).digest())
        batch.ids.append(fields[id_index] if id_index is not None else str(position))
        batch.labels.append(_canonical_label(fields[label_index]) if label_index is not None
                            else None)
        position += 1
        if len(batch.ids) >= 4096:
            yield batch
            batch = ItemBatch([], [], [])
    if batch.ids:
        yield batch
    if position == 0:
        raise DataKitError(f"{path}: no records after the header")

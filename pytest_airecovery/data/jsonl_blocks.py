"""The items of a JSONL file, a block of whole lines at a time, read by msgspec.

There is one JSONL parser in the kit: msgspec's (a compiled, fuzzed, cross-platform library).
Each block (1 MiB of whole lines) is decoded in one call into small typed records holding only
the label and id fields; every other field is checked against the JSON grammar and skipped. So
a line is accepted or refused the same way by ``manifest build``, ``verify``, the trigger scan
and cleaning, on every machine. A block that fails is decoded again line by line to name the
file and line of the first bad record.

Each block becomes one :class:`BlockItems`: the records' sha256 digests as one bytes object,
their canonical labels and their ids each joined by line breaks, so the manifest writer works on
a few large bytes objects rather than a million small ones.

What a record must be (RFC 8259 JSON, one object per line): valid UTF-8, no ``NaN`` or
``Infinity``, no trailing commas or leading zeros, numbers within a float's range, nesting
within the parser's depth limit; blank lines (spaces, tabs, ``\\r``) are skipped. A key given
twice keeps its last value, as ``json.loads`` does.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.sources import (
    BadRecord,
    ItemBatch,
    SourceSpec,
    canonical_label,
    is_blank,
    line_blocks,
)

if TYPE_CHECKING:
    from pytest_airecovery.data.columns import EntryColumns

# Blocks of 1 MiB of whole lines: a block's records and line objects stay in the CPU caches
# while they are hashed and read (measured in benchmarks/bench_data.py).
JSONL_BLOCK = 1 << 20
_HASH_SLICE = 16 << 10
# Characters json.dumps escapes inside a string, the line break aside (it joins the ids and is
# counted instead): an id holding one is escaped one by one.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x09\x0b-\x1f]')
# Distinct label values remembered with their canonical JSON; cleared past this many, so a file
# of free-text labels does not grow memory with its size.
_LABEL_CACHE_MAX = 1 << 16


@dataclass
class BlockItems:
    """The records of one block."""

    lines: int  # lines in the block, blank ones included: line numbers of later blocks
    count: int  # records (non-blank lines)
    digests: bytes  # count raw sha256 digests, 32 bytes each
    # Canonical JSON labels joined by "\n" (json.dumps escapes every line break inside), or None
    # when there is no label field.
    label_blob: bytes | None = None
    ids: list[str] | None = None  # ids that need escaping in JSON, or are not strings
    id_blob: bytes | None = None  # string ids needing no JSON escape, UTF-8, joined by "\n"
    increasing: bool = False  # the id_blob's ids strictly increase (as bytes)
    error: tuple[int, str] | None = None  # (line index in the block, message): a bad record


def _decoder(label_field: str | None, id_field: str | None) -> Any:
    """A msgspec decoder of one JSON object into a record of just the fields the kit reads."""
    import msgspec

    names = list(dict.fromkeys(name for name in (label_field, id_field) if name is not None))
    # Python-side field names are fixed; ``rename`` maps them to the user's keys, whatever text.
    fields = [(f"f{index}", Any) for index in range(len(names))]
    rename = {f"f{index}": name for index, name in enumerate(names)}
    # gc=False: a million small records need no cycle tracking (they hold no containers of
    # their own that could form a cycle), which saves the collector's passes over them.
    record = msgspec.defstruct("JsonlRecord", fields, rename=rename, gc=False)
    return msgspec.json.Decoder(record), names


class JsonlBlockReader:
    """Turns blocks of whole JSONL lines into :class:`BlockItems` for one source spec."""

    def __init__(self, label_field: str | None, id_field: str | None) -> None:
        self.label_field = label_field
        self.id_field = id_field
        self._decoder, names = _decoder(label_field, id_field)
        self._label_of = (
            None if label_field is None else operator.attrgetter(f"f{names.index(label_field)}")
        )
        self._id_of = None if id_field is None else operator.attrgetter(f"f{names.index(id_field)}")
        self._label_cache: dict[int | str, bytes] = {}

    def read(self, block: bytes) -> BlockItems:
        """``block`` holds whole lines, each ending with a line break."""
        import msgspec

        try:
            if not block.isascii():
                block.decode("utf-8")  # msgspec skips other fields' bytes without this check
            records = self._decoder.decode_lines(block)
        except (UnicodeDecodeError, msgspec.DecodeError, RecursionError):
            return self._first_error(block)
        digests, line_count = line_digests(block)
        if len(records) != line_count:  # blank lines, or two records on one line
            lines = block.split(b"\n")
            lines.pop()  # the empty piece after the last line break
            kept = [line for line in lines if not is_blank(line)]
            if len(kept) != len(records):
                return self._first_error(block)
            digests = _digests(kept)
        items = BlockItems(line_count, len(records), digests)
        try:
            if self._label_of is not None:
                items.label_blob = self._labels(list(map(self._label_of, records)))
            if self._id_of is not None:
                self._ids(items, list(map(self._id_of, records)))
        except RecursionError:  # json.dumps of a label nested about as deep as msgspec allows
            return self._first_error(block)
        return items

    def _first_error(self, block: bytes) -> BlockItems:
        """The first bad line of a block that failed as a whole, and why."""
        lines = block.split(b"\n")
        lines.pop()
        line_count = len(lines)
        for index, line in enumerate(lines):
            if is_blank(line):
                continue
            try:
                self.record_fields(line)
            except BadRecord as exc:
                return BlockItems(line_count, 0, b"", error=(index, str(exc)))
        # Not reached: a block refused as a whole has a line refused alone. Fail closed anyway.
        return BlockItems(line_count, 0, b"", error=(0, "block could not be read as JSON lines"))

    def record_fields(self, line: bytes) -> tuple[str | None, str | None]:
        """(canonical label, id text) of one line as this reader reads them, or BadRecord."""
        import msgspec

        try:
            line.decode("utf-8")
            record = self._decoder.decode(line)
        except UnicodeDecodeError as exc:
            raise BadRecord(f"not valid UTF-8 (byte {exc.start})") from None
        except RecursionError:
            raise BadRecord("not valid JSON (nested too deeply)") from None
        except msgspec.ValidationError as exc:
            raise BadRecord(_validation_message(exc)) from None
        except msgspec.DecodeError as exc:
            raise BadRecord(f"not valid JSON ({exc})") from None
        try:
            label = None if self._label_of is None else canonical_label(self._label_of(record))
            item_id = None if self._id_of is None else _id_text(self._id_of(record))
        except RecursionError:
            raise BadRecord("not valid JSON (nested too deeply)") from None
        return label, item_id

    def _labels(self, values: list[Any]) -> bytes:
        if not set(map(type, values)) <= {int, str}:  # floats, lists, objects: one by one
            return "\n".join(map(canonical_label, values)).encode("utf-8")
        # Labels repeat: canonicalise each distinct value once, then look all up in C. Only
        # ints and strings share the cache: 1, 1.0 and True are equal keys in a dict.
        cache = self._label_cache
        if len(cache) > _LABEL_CACHE_MAX:
            cache.clear()
        for value in set(values).difference(cache):
            cache[value] = canonical_label(value).encode("utf-8")
        return b"\n".join(map(cache.__getitem__, values))

    def _ids(self, items: BlockItems, values: list[Any]) -> None:
        if set(map(type, values)) == {str}:
            joined = "\n".join(values)
            if joined.count("\n") == len(values) - 1 and not _NEEDS_ESCAPE.search(joined):
                try:
                    items.id_blob = joined.encode("utf-8")
                except UnicodeEncodeError:  # a lone surrogate (msgspec refuses them): escape
                    pass
                else:
                    # UTF-8 keeps code point order, so comparing the strings compares the bytes.
                    items.increasing = all(map(operator.lt, values, values[1:]))
                    return
        items.ids = [_id_text(value) for value in values]


def _validation_message(exc: Exception) -> str:
    """msgspec's reason in the kit's words where the kit has some."""
    text = str(exc)
    missing = re.fullmatch(r"Object missing required field `(.*)`", text)
    if missing:
        return f"no field {missing.group(1)!r}"
    if text.startswith("Expected `object`"):
        return "record is not a JSON object"
    return f"not valid JSON ({text})"


def _digests(lines: list[bytes]) -> bytes:
    import hashlib

    sha = hashlib.sha256
    return b"".join(map(type(sha()).digest, map(sha, lines)))


def line_digests(block: bytes) -> tuple[bytes, int]:
    """The raw sha256 digest of each line of ``block`` (whole lines), concatenated, and the
    number of lines."""
    digests = []
    count = 0
    start, size = 0, len(block)
    while start < size:
        # Slices of 16 KiB: the line objects are still in the CPU caches when they are hashed.
        end = block.find(b"\n", start + _HASH_SLICE) + 1 or size
        lines = block[start:end].split(b"\n")
        lines.pop()
        count += len(lines)
        # map() keeps the per-line loop in C: one sha256 call per line and nothing else.
        digests.append(_digests(lines))
        start = end
    return b"".join(digests), count


def _id_text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_label(value)


def jsonl_batches(path: str, spec: SourceSpec) -> Iterator[ItemBatch]:
    """Items of a JSONL file in order, as lists."""
    for items, position in _blocks_in_order(path, spec):
        yield _batch(items, position)


def jsonl_columns(path: str, spec: SourceSpec) -> Iterator[EntryColumns]:
    """Items of a JSONL file in order, as columns for the manifest writer."""
    from pytest_airecovery.data.columns import EntryColumns

    for items, position in _blocks_in_order(path, spec):
        if items.id_blob is not None:
            yield EntryColumns.from_plain_ids(
                items.digests, items.id_blob, items.count, items.label_blob, items.increasing
            )
        elif items.ids is not None:
            yield EntryColumns.from_ids(items.digests, items.ids, _label_list(items))
        else:
            ids = (b"%d\n" * items.count % tuple(range(position, position + items.count)))[:-1]
            yield EntryColumns.from_plain_ids(
                items.digests, ids, items.count, items.label_blob, increasing=False, positional=True
            )


def _blocks_in_order(path: str, spec: SourceSpec) -> Iterator[tuple[BlockItems, int]]:
    """Blocks with records and the position of their first record.

    One thread: msgspec holds the GIL while it decodes, and sha256 over lines of a few hundred
    bytes does too, so threads would only take turns.
    """
    reader = JsonlBlockReader(spec.label_field, spec.id_field)
    first_line, position = 1, 0
    for block in line_blocks(path, JSONL_BLOCK):
        items = reader.read(block)
        if items.error is not None:
            index, message = items.error
            raise DataKitError(f"{path}:{first_line + index}: {message}")
        if items.count:
            yield items, position
        first_line += items.lines
        position += items.count


def _label_list(items: BlockItems) -> list[str | None]:
    if items.label_blob is None or not items.count:
        return [None] * items.count
    return items.label_blob.decode("utf-8").split("\n")  # type: ignore[return-value]


def _batch(items: BlockItems, position: int) -> ItemBatch:
    import numpy as np

    # One C call splits the digests into 32-byte objects (a void dtype keeps trailing zeros).
    digests = np.frombuffer(items.digests, "V32").tolist()
    labels = _label_list(items)
    if items.id_blob is not None:
        return ItemBatch(None, digests, labels, id_bytes=items.id_blob.split(b"\n"))
    if items.ids is not None:
        return ItemBatch(items.ids, digests, labels)
    return ItemBatch(
        None, digests, labels, id_bytes=positional_ids(position, items.count), positional=True
    )


def positional_ids(start: int, count: int) -> list[bytes]:
    """Ids of records without an id field, their positions: one format and one split in C."""
    return (b"%d," * count % tuple(range(start, start + count)))[:-1].split(b",")

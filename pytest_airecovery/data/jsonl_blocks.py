"""The items of a JSONL file, a block of whole lines at a time, on one thread or several.

Each block (1 MiB of whole lines) becomes one :class:`BlockItems`: the records' sha256 digests
as one bytes object, their canonical labels and their ids each joined by line breaks, so the
manifest writer works on a few large bytes objects rather than a million small ones.

Two scanners read the common shape of a block (one JSON object per line): the optional C
accelerator ``_jsonl_scan`` (validates every line, hashes and cuts out the fields without the
GIL, so blocks are read on several threads at once) and, where it was not built, the numpy
reader in ``jsonl_fields``. A block neither can read is parsed with ``json.loads`` line by line.
``AIRECOVERY_NO_ACCELERATOR=1`` makes the kit ignore the accelerator.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.hashing import default_workers, map_in_order
from pytest_airecovery.data.sources import (
    BadRecord,
    ItemBatch,
    SourceSpec,
    canonical_label,
    json_record,
    line_blocks,
)

if TYPE_CHECKING:
    from pytest_airecovery.data.columns import EntryColumns

# Files from this size are read on several threads (when the accelerator is there to use them).
PARALLEL_MIN_BYTES = 8 << 20
# Blocks of 1 MiB keep the numpy reader's arrays in the CPU caches: it runs twice as fast as on
# 8 MiB. Lines are hashed in slices of 16 KiB for the same reason: the line objects a slice makes
# are still cached when they are hashed (measured in benchmarks/bench_data.py).
JSONL_BLOCK = 1 << 20
_HASH_SLICE = 16 << 10
_IN_FLIGHT_PER_WORKER = 2  # blocks queued per thread: bounded memory, no idle thread


def accelerator() -> ModuleType | None:
    """The C accelerator, or None where it was not built or is switched off."""
    if os.environ.get("AIRECOVERY_NO_ACCELERATOR"):
        return None
    try:
        from pytest_airecovery.data import _jsonl_scan  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _jsonl_scan  # type: ignore[no-any-return]


@dataclass
class BlockItems:
    """The records of one block."""

    lines: int  # lines in the block, blank ones included: line numbers of later blocks
    count: int  # records (non-blank lines)
    digests: bytes  # count raw sha256 digests, 32 bytes each
    # Canonical JSON labels joined by "\n" (json.dumps escapes every line break inside), or None
    # when there is no label field.
    label_blob: bytes | None = None
    ids: list[str] | None = None  # decoded: the careful path, or ids that are not strings
    id_blob: bytes | None = None  # string ids needing no JSON escape, UTF-8, joined by "\n"
    increasing: bool = False  # the id_blob's ids strictly increase (as bytes)
    error: tuple[int, str] | None = None  # (line index in the block, message): a bad record


class JsonlBlockReader:
    """Turns blocks of whole JSONL lines into :class:`BlockItems` for one source spec.

    ``accelerated``: None uses the C accelerator where it is built, False never, True insists.
    """

    def __init__(self, label_field: str | None, id_field: str | None,
                 accelerated: bool | None = None) -> None:
        self.label_field = label_field
        self.id_field = id_field
        self._names = [name for name in (label_field, id_field) if name is not None]
        self._scan = accelerator() if accelerated is not False else None
        if accelerated and self._scan is None:
            raise DataKitError("the C accelerator (_jsonl_scan) is not built or is switched off")
        if self._scan is not None:
            self._keys = tuple(json.dumps(name, ensure_ascii=False).encode("utf-8")
                               for name in self._names)
        else:
            from pytest_airecovery.data.jsonl_fields import FieldReader

            # Labels keep their quotes (JSON tokens to canonicalise); ids come without them.
            self._fields = FieldReader(self._names, [name == label_field for name in self._names])
        self._label_cache: dict[bytes, bytes] = {}

    @property
    def accelerated(self) -> bool:
        return self._scan is not None

    def read(self, block: bytes) -> BlockItems:
        """``block`` holds whole lines, each ending with a line break."""
        items = self._read_fast(block)
        if items is None:  # not one plain JSON object per line: parse record by record
            lines = block.split(b"\n")
            lines.pop()  # the empty piece after the last line break
            return self._read_carefully(lines)
        return items

    def _read_fast(self, block: bytes) -> BlockItems | None:
        if self._scan is not None:
            scanned = self._scan.scan_block(block, self._keys)
            if scanned is None:
                return None
            line_count, digests, results = scanned
            fields = dict(zip(self._names, results))
            items = BlockItems(line_count, line_count, digests)
            if self.label_field is not None:
                items.label_blob = self._labels(fields[self.label_field][0].split(b"\n"))
            if self.id_field is not None:
                tokens, all_strings, increasing = fields[self.id_field]
                if all_strings:  # '"a"\n"b"' to 'a\nb': no quote is inside a plain string
                    items.id_blob = tokens[1:-1].replace(b'"\n"', b"\n")
                    items.increasing = increasing
                else:
                    items.ids = [_id_text(json.loads(t)) for t in tokens.split(b"\n")]
            return items
        line_count, found = self._fields.read(block)
        if found is None:
            return None
        tokens_of = dict(zip(self._names, found))
        items = BlockItems(line_count, line_count, line_digests(block))
        if self.label_field is not None:
            items.label_blob = self._labels(tokens_of[self.label_field].tokens)
        if self.id_field is not None:
            ids = tokens_of[self.id_field]
            if ids.quoted:
                items.id_blob = b"\n".join(ids.tokens)
                items.increasing = all(map(operator.lt, ids.tokens, ids.tokens[1:]))
            else:
                items.ids = [_id_text(json.loads(token)) for token in ids.tokens]
        return items

    def _labels(self, tokens: list[bytes]) -> bytes:
        cache = self._label_cache
        # Labels repeat: canonicalise each distinct token once, then look all up in C.
        for token in set(tokens).difference(cache):
            cache[token] = canonical_label(json.loads(token)).encode("utf-8")
        return b"\n".join(map(cache.__getitem__, tokens))

    def _read_carefully(self, lines: list[bytes]) -> BlockItems:
        import hashlib

        kept: list[bytes] = []
        ids: list[str] = []
        labels: list[str] = []
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                item_id, label = self._record_fields(line)
            except BadRecord as exc:
                return BlockItems(len(lines), 0, b"", error=(index, str(exc)))
            kept.append(line)
            if item_id is not None:
                ids.append(item_id)
            if label is not None:
                labels.append(label)
        digests = b"".join(hashlib.sha256(line).digest() for line in kept)
        label_blob = "\n".join(labels).encode("utf-8") if self.label_field is not None else None
        return BlockItems(len(lines), len(kept), digests, label_blob,
                          ids=ids if self.id_field is not None else None)

    def _record_fields(self, line: bytes) -> tuple[str | None, str | None]:
        record = json_record(line)
        label = None
        if self.label_field is not None:
            if self.label_field not in record:
                raise BadRecord(f"no field {self.label_field!r}")
            label = canonical_label(record[self.label_field])
        if self.id_field is None:
            return None, label
        if self.id_field not in record:
            raise BadRecord(f"no field {self.id_field!r}")
        return _id_text(record[self.id_field]), label


def line_digests(block: bytes) -> bytes:
    """The raw sha256 digest of each line of ``block`` (whole lines), concatenated."""
    import hashlib

    sha = hashlib.sha256
    digest_of = type(sha()).digest
    digests = []
    start, size = 0, len(block)
    while start < size:
        end = block.find(b"\n", start + _HASH_SLICE) + 1 or size
        lines = block[start:end].split(b"\n")
        lines.pop()
        # map() keeps the per-line loop in C: one sha256 call per line and nothing else.
        digests.append(b"".join(map(digest_of, map(sha, lines))))
        start = end
    return b"".join(digests)


def _id_text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_label(value)


def jsonl_batches(path: str, spec: SourceSpec, workers: int | None = None) -> Iterator[ItemBatch]:
    """Items of a JSONL file in order, as lists."""
    for items, position in _blocks_in_order(path, spec, workers):
        yield _batch(items, position)


def jsonl_columns(path: str, spec: SourceSpec, workers: int | None = None
                  ) -> Iterator[EntryColumns]:
    """Items of a JSONL file in order, as columns for the manifest writer."""
    from pytest_airecovery.data.columns import EntryColumns

    for items, position in _blocks_in_order(path, spec, workers):
        if items.id_blob is not None:
            yield EntryColumns.from_plain_ids(items.digests, items.id_blob, items.count,
                                              items.label_blob, items.increasing)
        elif items.ids is not None:
            yield EntryColumns.from_ids(items.digests, items.ids, _label_list(items))
        else:
            ids = (b"%d\n" * items.count % tuple(range(position, position + items.count)))[:-1]
            yield EntryColumns.from_plain_ids(items.digests, ids, items.count, items.label_blob,
                                              increasing=False, positional=True)


def _blocks_in_order(path: str, spec: SourceSpec, workers: int | None
                     ) -> Iterator[tuple[BlockItems, int]]:
    """Blocks with records and the position of their first record."""
    workers = default_workers() if workers is None else max(1, workers)
    reader = JsonlBlockReader(spec.label_field, spec.id_field)
    blocks = line_blocks(path, JSONL_BLOCK)
    # Threads help only where the reader lets go of the GIL: the accelerator does.
    if workers > 1 and reader.accelerated and os.path.getsize(path) >= PARALLEL_MIN_BYTES:
        read = map_in_order(reader.read, blocks, workers, _IN_FLIGHT_PER_WORKER * workers)
    else:
        read = map(reader.read, blocks)
    first_line, position = 1, 0
    for items in read:
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
    return ItemBatch(None, digests, labels, id_bytes=positional_ids(position, items.count),
                     positional=True)


def positional_ids(start: int, count: int) -> list[bytes]:
    """Ids of records without an id field, their positions: one format and one split in C."""
    return (b"%d," * count % tuple(range(start, start + count)))[:-1].split(b",")

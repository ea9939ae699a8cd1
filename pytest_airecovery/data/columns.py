"""Manifest entries as columns of bytes, so that writing a manifest costs work per page, not per entry.

A batch of entries holds each column as one bytes object plus the end offset of every entry in
it (a numpy array): the raw digests (32 bytes each), the ids as UTF-8 without separators (for
the Merkle leaves), the ids as JSON string contents joined by line breaks (for the manifest
lines; JSON escapes every raw line break, so the separator is unambiguous), and the labels as
canonical JSON joined by line breaks. A page of 1024 entries is then a handful of slices and
``bytes.replace`` calls, whatever the ids and labels hold.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence

import numpy as np

DIGEST_SIZE = 32


def _json_content(item_id: str) -> bytes:
    """The escaped text of ``item_id`` between the quotes of a JSON string."""
    try:
        item_id.encode("utf-8")
        text = json.dumps(item_id, ensure_ascii=False)
    except UnicodeEncodeError:  # an undecodable file name: \udcxx escapes round-trip it
        text = json.dumps(item_id)
    return text[1:-1].encode("utf-8")


def _line_ends(data: bytes, count: int) -> np.ndarray:
    """End offset of each of ``count`` items of ``data`` joined by line breaks."""
    ends = np.empty(count, dtype=np.int64)
    if count:
        breaks = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        if len(breaks) != count - 1:
            raise ValueError("a joined column holds a line break inside an item")
        ends[:-1] = breaks
        ends[-1] = len(data)
    return ends


class EntryColumns:
    """``count`` consecutive entries of a manifest; see the module docstring."""

    __slots__ = (
        "count",
        "digests",
        "id_data",
        "id_ends",
        "increasing",
        "json_ends",
        "json_ids",
        "label_ends",
        "labels",
        "null_labels",
        "positional",
        "sizes",
    )

    def __init__(
        self,
        count: int,
        digests: bytes,
        id_data: bytes,
        id_ends: np.ndarray,
        json_ids: bytes,
        json_ends: np.ndarray,
        labels: bytes | None = None,
        label_ends: np.ndarray | None = None,
        null_labels: np.ndarray | None = None,
        sizes: list[int] | None = None,
        positional: bool = False,
        increasing: bool = False,
    ) -> None:
        self.count = count
        self.digests = digests
        self.id_data = id_data
        self.id_ends = id_ends
        self.json_ids = json_ids
        self.json_ends = json_ends
        self.labels = labels  # None: no entry has a label
        self.label_ends = label_ends
        self.null_labels = null_labels  # where some entries have none: which ("null" in labels)
        self.sizes = sizes  # file sizes, files kind only
        self.positional = positional  # ids are record positions: unique by construction
        self.increasing = increasing  # ids strictly increase (as UTF-8 bytes) within the batch

    # ------------------------------------------------------------ constructors

    @classmethod
    def from_plain_ids(
        cls,
        digests: bytes,
        joined_ids: bytes,
        count: int,
        joined_labels: bytes | None,
        increasing: bool,
        positional: bool = False,
    ) -> EntryColumns:
        """``count`` ids that need no JSON escaping (no quote, backslash or control character)
        and canonical labels (or None), each joined by line breaks."""
        json_ends = _line_ends(joined_ids, count)
        id_ends = json_ends - np.arange(count, dtype=np.int64)  # less one separator per entry
        label_ends = None if joined_labels is None else _line_ends(joined_labels, count)
        return cls(
            count,
            digests,
            joined_ids.replace(b"\n", b""),
            id_ends,
            joined_ids,
            json_ends,
            joined_labels,
            label_ends,
            positional=positional,
            increasing=increasing,
        )

    @classmethod
    def from_ids(
        cls,
        digests: bytes,
        ids: Sequence[str],
        labels: Sequence[str | None],
        sizes: list[int] | None = None,
        positional: bool = False,
    ) -> EntryColumns:
        """Any ids (str), escaped one by one."""
        from pytest_airecovery.data.merkle import encode_ids

        encoded = encode_ids(ids)
        json_ids = b"\n".join(map(_json_content, ids))
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        return cls(
            len(ids),
            digests,
            b"".join(encoded),
            np.cumsum(lengths),
            json_ids,
            _line_ends(json_ids, len(ids)),
            *_label_columns(labels),
            sizes=sizes,
            positional=positional,
            increasing=all(map(operator.lt, encoded, encoded[1:])),
        )

    # ------------------------------------------------------------ slicing

    def id_list(self) -> list[bytes]:
        """The ids as UTF-8 bytes, one object each (for the rare paths that need them)."""
        starts = np.concatenate(([0], self.id_ends[:-1])).tolist()
        data = self.id_data
        return [data[a:b] for a, b in zip(starts, self.id_ends.tolist(), strict=True)]

    def first_id(self) -> bytes:
        return self.id_data[: int(self.id_ends[0])]

    def last_id(self) -> bytes:
        start = int(self.id_ends[-2]) if self.count > 1 else 0
        return self.id_data[start:]

    def page(self, start: int, end: int) -> tuple[bytes, bytes, bytes, bytes, bytes | None]:
        """Entries [start, end): (JSON id contents joined by '","', UTF-8 ids, their lengths as
        u32le, raw digests, labels joined by ',' or None when none of them has one)."""
        json_ids = _joined_slice(self.json_ids, self.json_ends, start, end).replace(b"\n", b'","')
        id_from = int(self.id_ends[start - 1]) if start else 0
        ids = self.id_data[id_from : int(self.id_ends[end - 1])]
        lengths = np.diff(self.id_ends[start:end], prepend=id_from).astype("<u4").tobytes()
        digests = self.digests[DIGEST_SIZE * start : DIGEST_SIZE * end]
        labels = None
        if self.labels is not None and not (
            self.null_labels is not None and self.null_labels[start:end].all()
        ):
            assert self.label_ends is not None
            labels = _joined_slice(self.labels, self.label_ends, start, end).replace(b"\n", b",")
        return json_ids, ids, lengths, digests, labels

    def tail(self, start: int) -> EntryColumns:
        """Entries [start, count)."""
        id_from = int(self.id_ends[start - 1]) if start else 0
        json_from = int(self.json_ends[start - 1]) + 1 if start else 0
        labels = label_ends = None
        if self.labels is not None:
            assert self.label_ends is not None
            label_from = int(self.label_ends[start - 1]) + 1 if start else 0
            labels, label_ends = self.labels[label_from:], self.label_ends[start:] - label_from
        return EntryColumns(
            self.count - start,
            self.digests[DIGEST_SIZE * start :],
            self.id_data[id_from:],
            self.id_ends[start:] - id_from,
            self.json_ids[json_from:],
            self.json_ends[start:] - json_from,
            labels,
            label_ends,
            None if self.null_labels is None else self.null_labels[start:],
            None if self.sizes is None else self.sizes[start:],
            self.positional,
            self.increasing,
        )

    def then(self, more: EntryColumns) -> EntryColumns:
        """These entries followed by ``more``."""
        labels, label_ends, nulls = _joined(
            self.labels, self.label_ends, self.count, more.labels, more.label_ends, more.count
        )
        # Where only one side had labels, the other's entries are filled with "null": mark them,
        # or a later page made only of such entries would be written with "labels":[null, ...].
        if labels is not None and (
            self.labels is None
            or more.labels is None
            or self.null_labels is not None
            or more.null_labels is not None
        ):
            nulls = np.concatenate([_nulls(self), _nulls(more)])
        sizes = (
            None
            if self.sizes is None and more.sizes is None
            else (self.sizes or []) + (more.sizes or [])
        )
        json_ids, json_ends, _ = _joined(
            self.json_ids, self.json_ends, self.count, more.json_ids, more.json_ends, more.count
        )
        assert json_ids is not None and json_ends is not None
        return EntryColumns(
            self.count + more.count,
            self.digests + more.digests,
            self.id_data + more.id_data,
            np.concatenate([self.id_ends, more.id_ends + len(self.id_data)]),
            json_ids,
            json_ends,
            labels,
            label_ends,
            nulls,
            sizes,
            self.positional and more.positional,
            self.increasing and more.increasing and self.last_id() < more.first_id(),
        )


def _joined_slice(data: bytes, ends: np.ndarray, start: int, end: int) -> bytes:
    return data[int(ends[start - 1]) + 1 if start else 0 : int(ends[end - 1])]


def _label_columns(
    labels: Sequence[str | None],
) -> tuple[bytes | None, np.ndarray | None, np.ndarray | None]:
    if not labels or labels.count(None) == len(labels):  # type: ignore[attr-defined]
        return None, None, None
    nulls = None
    if None in labels:
        nulls = np.array([label is None for label in labels], dtype=bool)
        labels = ["null" if label is None else label for label in labels]
    # Canonical JSON (json.dumps) escapes line breaks, so none is inside a label.
    data = "\n".join(labels).encode("utf-8")  # type: ignore[arg-type]
    return data, _line_ends(data, len(labels)), nulls


def _nulls(columns: EntryColumns) -> np.ndarray:
    if columns.null_labels is not None:
        return columns.null_labels
    return np.full(columns.count, columns.labels is None, dtype=bool)


def _joined(
    first: bytes | None,
    first_ends: np.ndarray | None,
    first_count: int,
    second: bytes | None,
    second_ends: np.ndarray | None,
    second_count: int,
) -> tuple[bytes | None, np.ndarray | None, None]:
    """Two line-break-joined columns as one; a missing one is read as nulls."""
    if first is None and second is None:
        return None, None, None
    if first is None:
        first = b"\n".join([b"null"] * first_count)
        first_ends = _line_ends(first, first_count)
    if second is None:
        second = b"\n".join([b"null"] * second_count)
        second_ends = _line_ends(second, second_count)
    assert first_ends is not None and second_ends is not None
    if not first_count:
        return second, second_ends, None
    if not second_count:
        return first, first_ends, None
    return first + b"\n" + second, np.concatenate([first_ends, second_ends + len(first) + 1]), None

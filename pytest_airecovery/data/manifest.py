"""Write and read integrity manifests (format version 4, documented in docs/data-remediation.md).

A manifest is a JSON-lines file: a header line, one line per *page* of entries (the entries of
one Merkle leaf, ``page_size`` of them, in canonical order), a trailer.

    {"format":"airecovery-manifest","page_size":1024,"source":{...},"tree":"sha256-paged-v2","version":4}
    {"n":0,"ids":["r1","r2"],"sha256":"<64 hex per id>","labels":[7,3]}   (records)
    {"n":0,"ids":["cats/1.png"],"sha256":"<64 hex>","sizes":[123]}        (files)
    {"end":true,"count":2,"merkle_root":"<64 hex>"}

``n`` is the position of the page's first entry; ``labels`` is left out when no entry has one.
Canonical order: files by path components compared as UTF-8 bytes; records by position in the
source. No timestamps, so the same data always gives byte-identical manifests.
The header is written in its canonical encoding (keys sorted, no spaces, ASCII) and the Merkle
root binds that encoding, so a pinned root pins how the items were read as well as the items.
Versions 1-3 were development formats (never released) and are refused with a clear message.
"""

from __future__ import annotations

import binascii
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_airecovery.data.datasets import iter_batches, resolve_spec
from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
from pytest_airecovery.data.merkle import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    TREE_VERSION,
    EntryTree,
    MerkleAccumulator,
    header_bound_root,
    page_leaf_of_parts,
)
from pytest_airecovery.data.sources import ItemBatch, SourceSpec, file_id_key

FORMAT_NAME = "airecovery-manifest"
FORMAT_VERSION = 4
_DEVELOPMENT_VERSIONS = (1, 2, 3)  # written before 0.1.0, never released
_HEADER_FIELDS = ("format", "page_size", "source", "tree", "version")
_HEX = re.compile(r"(?:[0-9a-f]{64})+")

if TYPE_CHECKING:  # numpy-backed: imported where used, so importing this module stays cheap
    from pytest_airecovery.data.columns import EntryColumns

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class Entry:
    id: str
    sha256: str
    label: Any = None
    n: int | None = None
    size: int | None = None


@dataclass
class Manifest:
    path: str
    spec: SourceSpec
    entries: list[Entry]
    merkle_root: str
    page_size: int = DEFAULT_PAGE_SIZE

    def entry_tree(self) -> EntryTree:
        """An empty tree bound to this manifest's header, to recompute its root from data."""
        return EntryTree(self.page_size, header_bytes(self.spec, self.page_size))

    def by_id(self) -> dict[str, Entry]:
        return {entry.id: entry for entry in self.entries}


@dataclass(frozen=True)
class BuildSummary:
    path: str
    count: int
    merkle_root: str
    spec: SourceSpec


def header_bytes(spec: SourceSpec, page_size: int = DEFAULT_PAGE_SIZE) -> bytes:
    """The header's canonical encoding: the manifest's first line, and what its root binds.

    Built from the parsed values, never copied from a file, so two headers that read the data
    the same way encode the same, and two that do not, differently.
    """
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "tree": TREE_VERSION,
        "page_size": page_size,
        "source": spec.to_dict(),
    }
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


class _PageWriter:
    """Writes entries one page (``page_size`` entries, a Merkle leaf's) per line, and the tree.

    Entries come as columns (:class:`EntryColumns`), so each page line is a few slices and joins
    and each leaf one sha256 call: no work per entry.
    """

    def __init__(self, handle: Any, page_size: int) -> None:
        self.handle = handle  # binary
        self.page_size = page_size
        self.written = 0
        self.tree = MerkleAccumulator()
        self._pending: EntryColumns | None = None  # less than a page, waiting for more

    def add(self, columns: EntryColumns) -> None:
        if not columns.count:
            return
        if self._pending is not None:
            columns = self._pending.then(columns)
        full = columns.count - columns.count % self.page_size
        for start in range(0, full, self.page_size):
            self._page(columns, start, start + self.page_size)
        self._pending = columns.tail(full) if full < columns.count else None

    def close(self) -> bytes:
        """Write what is left; return the entries' Merkle root."""
        if self._pending is not None:
            self._page(self._pending, 0, self._pending.count)
            self._pending = None
        return self.tree.root()

    def _page(self, columns: EntryColumns, start: int, end: int) -> None:
        json_ids, ids, lengths, digests, labels = columns.page(start, end)
        self.tree.add_leaf(page_leaf_of_parts(end - start, lengths, ids, digests))
        parts = [
            b'{"n":%d,"ids":["' % self.written,
            json_ids,
            b'"],"sha256":"',
            binascii.hexlify(digests),
            b'"',
        ]
        if labels is not None:
            parts += [b',"labels":[', labels, b"]"]
        if columns.sizes is not None:
            parts += [b',"sizes":[', ",".join(map(str, columns.sizes[start:end])).encode(), b"]"]
        parts.append(b"}\n")
        self.handle.write(b"".join(parts))
        self.written += end - start


def stream_items(
    dataset: str, spec: SourceSpec, workers: int | None = None, progress: ProgressFn | None = None
) -> Iterator[ItemBatch]:
    for batch in iter_batches(dataset, spec, workers):
        if progress is not None:
            progress(len(batch.digests))
        yield batch


def stream_columns(
    dataset: str, spec: SourceSpec, workers: int | None = None, progress: ProgressFn | None = None
) -> Iterator[EntryColumns]:
    """The entries of ``dataset`` as columns; JSONL blocks become columns without lists."""
    from pytest_airecovery.data.columns import EntryColumns

    if spec.kind == "jsonl":
        from pytest_airecovery.data.jsonl_blocks import jsonl_columns

        batches: Iterator[EntryColumns] = jsonl_columns(dataset, spec)
    else:
        batches = (
            EntryColumns.from_ids(
                b"".join(batch.digests), batch.ids, batch.labels, batch.sizes, batch.positional
            )
            for batch in iter_batches(dataset, spec, workers)
        )
    for columns in batches:
        if progress is not None:
            progress(columns.count)
        yield columns


def _atomic_writer(out_path: str) -> tuple[Any, str]:
    directory = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(directory):
        raise DataKitError(f"{out_path}: directory {directory} does not exist")
    if os.path.isdir(out_path):
        raise DataKitError(f"{out_path}: is a directory, expected a manifest file path")
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=directory)
    return os.fdopen(fd, "wb"), tmp


def check_output(dataset: str, out_path: str) -> None:
    """Refuse a manifest path that would overwrite data: the dataset itself, anything inside a
    dataset directory, or an existing file that is not a manifest. Symlinks are resolved."""
    out_real, data_real = os.path.realpath(out_path), os.path.realpath(dataset)
    if out_real == data_real:
        raise DataKitError(f"{out_path}: is the dataset itself; write the manifest to another file")
    if os.path.isdir(data_real) and out_real.startswith(os.path.join(data_real, "")):
        raise DataKitError(
            f"{out_path}: is inside the dataset directory {dataset}; write the "
            "manifest outside the data it describes"
        )
    if os.path.isdir(out_real):
        raise DataKitError(f"{out_path}: is a directory, expected a manifest file path")
    if os.path.lexists(out_path) and not _is_manifest(out_real):
        raise DataKitError(
            f"{out_path}: exists and is not a manifest; refusing to overwrite it "
            "(remove it or choose another path)"
        )


def _is_manifest(path: str) -> bool:
    """Whether the file starts with a manifest header line (of any version)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1 << 20)
        header = json.loads(first)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(header, dict) and header.get("format") == FORMAT_NAME


def build_manifest(
    dataset: str,
    out_path: str,
    *,
    kind: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> BuildSummary:
    """Hash every item of ``dataset`` and write the manifest atomically to ``out_path``.

    ``out_path`` must not be the dataset, inside a dataset directory, or an existing file
    that is not a manifest (:func:`check_output`); nothing is written then.
    """
    spec = resolve_spec(dataset, kind, label_field, id_field)
    check_output(dataset, out_path)
    handle, tmp = _atomic_writer(out_path)
    try:
        with handle:
            header = header_bytes(spec, DEFAULT_PAGE_SIZE)
            handle.write(header + b"\n")
            pages = _PageWriter(handle, DEFAULT_PAGE_SIZE)
            unique = _UniqueIds()
            for columns in stream_columns(dataset, spec, workers, progress):
                if not columns.positional and not unique.add(columns):
                    raise DataKitError(
                        f"{dataset}: duplicate item ids ({unique.duplicate}) - "
                        "pass an id field whose values are unique"
                    )
                pages.add(columns)
            root = header_bound_root(header, pages.close()).hex()
            if pages.written == 0:
                raise DataKitError(f"{dataset}: no items to put in a manifest")
            handle.write(
                json.dumps({"end": True, "count": pages.written, "merkle_root": root}).encode()
                + b"\n"
            )
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return BuildSummary(out_path, pages.written, root, spec)


class _UniqueIds:
    """Duplicate-id check over the stream of batches.

    Ids that only ever increase (as UTF-8 bytes: generated ids, file paths in canonical order)
    are unique without a set, and the readers tell whether each batch's do; the first time they
    do not, a set of every id so far is built and used from then on.
    """

    def __init__(self) -> None:
        self._batches: list[EntryColumns] = []
        self._last: bytes | None = None
        self._seen: set[bytes] | None = None
        self.duplicate = ""  # what the last failed add found

    def add(self, columns: EntryColumns) -> bool:
        if not columns.count:
            return True
        if self._seen is None:
            if columns.increasing and (self._last is None or self._last < columns.first_id()):
                self._batches.append(columns)
                self._last = columns.last_id()
                return True
            self._seen = set()
            for earlier in self._batches:
                self._seen.update(earlier.id_list())
            self._batches = []
        ids = columns.id_list()
        batch = set(ids)
        if len(batch) != len(ids):
            self.duplicate = _first_duplicate(ids)
            return False
        clash = batch & self._seen
        if clash:
            self.duplicate = f"id {_text(min(clash))!r} occurs twice"
            return False
        self._seen |= batch
        return True


def _text(item_id: bytes) -> str:
    return item_id.decode("utf-8", "surrogateescape")


def _first_duplicate(ids: list[bytes]) -> str:
    seen: set[bytes] = set()
    for item_id in ids:
        if item_id in seen:
            return f"id {_text(item_id)!r} occurs twice"
        seen.add(item_id)
    return "an id occurs twice"


def read_manifest(path: str) -> Manifest:
    """Load a manifest and check it against itself; raise ManifestTamperedError naming problems."""
    if os.path.isdir(path):
        raise DataKitError(f"{path}: is a directory, expected a manifest file")
    if not os.path.isfile(path):
        raise DataKitError(f"{path}: no such manifest file")
    with open(path, "rb") as handle:
        raw = handle.read()
    if not raw:
        raise ManifestTamperedError(path, [("truncated", "the file is empty")])
    problems: list[tuple[str, str]] = []
    if not raw.endswith(b"\n"):
        problems.append(("truncated", "the last line is incomplete"))
    lines = raw.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    try:
        header = json.loads(lines[0])
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ManifestTamperedError(path, [("not-a-manifest", "line 1 is not a manifest header")])
    spec, page_size = _parse_header(path, header)
    trailer: dict[str, Any] | None = None
    entries: list[Entry] = []
    for number, line in enumerate(lines[1:], 2):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            kind = "truncated" if number == len(lines) else "malformed-entry"
            problems.append((kind, f"line {number} is not valid JSON"))
            continue
        if isinstance(record, dict) and record.get("end") is True:
            if number != len(lines):
                problems.append(
                    ("malformed-entry", f"trailer on line {number} is not the last line")
                )
            trailer = record
            continue
        entries += _parse_page(record, number, len(entries), spec.kind, problems)
    if trailer is None:
        problems.append(("truncated", "no trailer line: the file was cut short"))
    _check_order(entries, spec.kind, problems)
    root = _recompute_root(entries, header_bytes(spec, page_size), page_size)
    if trailer is not None:
        if trailer.get("count") != len(entries):
            problems.append(
                (
                    "count-mismatch",
                    f"trailer says {trailer.get('count')} entries, found {len(entries)}",
                )
            )
        if trailer.get("merkle_root") != root:
            problems.append(
                (
                    "root-mismatch",
                    (
                        f"trailer root {trailer.get('merkle_root')} but header and entries "
                        f"give {root}"
                    ),
                )
            )
    if problems:
        raise ManifestTamperedError(path, _dedupe(problems))
    return Manifest(path, spec, entries, root, page_size)


def _parse_header(path: str, header: dict[str, Any]) -> tuple[SourceSpec, int]:
    """(source spec, page size) of a version-4 header, every field checked; or tampering."""
    version = header.get("version")
    if not isinstance(version, bool) and version in _DEVELOPMENT_VERSIONS:
        raise ManifestTamperedError(
            path,
            [
                (
                    "unsupported-version",
                    (
                        f"version {version} is a development format from before 0.1.0 that this tool no "
                        f"longer reads: rebuild the manifest (airecovery data manifest build), then check "
                        "the new root against the data you reviewed"
                    ),
                )
            ],
        )
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ManifestTamperedError(
            path,
            [
                (
                    "unsupported-version",
                    (f"version {version!r}; this tool reads version {FORMAT_VERSION}"),
                )
            ],
        )
    unknown = sorted(set(header) - set(_HEADER_FIELDS))
    missing = [name for name in _HEADER_FIELDS if name not in header]
    if unknown or missing:
        raise ManifestTamperedError(
            path,
            [
                (
                    "not-a-manifest",
                    (
                        f"header has unknown fields {unknown}"
                        if unknown
                        else f"header lacks fields {missing}"
                    ),
                )
            ],
        )
    if header["tree"] != TREE_VERSION:
        raise ManifestTamperedError(
            path,
            [("unsupported-version", (f"tree {header['tree']!r}; this tool reads {TREE_VERSION}"))],
        )
    page_size = header["page_size"]
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not (1 <= page_size <= MAX_PAGE_SIZE)
    ):
        raise ManifestTamperedError(
            path,
            [("not-a-manifest", f"bad page_size {page_size!r} in header (1..{MAX_PAGE_SIZE})")],
        )
    try:
        spec = SourceSpec.from_dict(header["source"])
    except DataKitError as exc:
        raise ManifestTamperedError(
            path, [("not-a-manifest", f"bad source in header: {exc}")]
        ) from None
    return spec, page_size


def _dedupe(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def _parse_page(
    record: Any, number: int, position: int, kind: str, problems: list[tuple[str, str]]
) -> list[Entry]:
    """Entries of one page line; a damaged page is named and yields none."""
    ids = record.get("ids") if isinstance(record, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        problems.append(("malformed-entry", f"line {number} has no list of string ids"))
        return []
    digests = record.get("sha256")
    if not isinstance(digests, str) or len(digests) != 64 * len(ids) or not _HEX.fullmatch(digests):
        problems.append(
            (
                "bad-hash",
                (
                    f"line {number} (ids {ids[0]!r}...) does not hold one "
                    "valid sha256 (64 lowercase hex digits) per id"
                ),
            )
        )
        return []
    first = record.get("n")
    if isinstance(first, bool) or not isinstance(first, int):
        problems.append(("malformed-entry", f"line {number} has no page position n"))
        return []
    labels = record.get("labels", [None] * len(ids))
    sizes = record.get("sizes", [None] * len(ids)) if kind == "files" else [None] * len(ids)
    if not isinstance(labels, list) or len(labels) != len(ids):
        problems.append(("malformed-entry", f"line {number}: labels do not match the ids"))
        return []
    if not isinstance(sizes, list) or len(sizes) != len(ids):
        problems.append(("malformed-entry", f"line {number}: sizes do not match the ids"))
        return []
    if first != position:
        problems.append(
            ("out-of-order", f"line {number} starts at entry {first}, expected {position}")
        )
    positions = range(first, first + len(ids)) if kind != "files" else [None] * len(ids)
    return [
        Entry(i, digests[64 * k : 64 * k + 64], label, n, size)
        for k, (i, label, n, size) in enumerate(zip(ids, labels, positions, sizes, strict=True))
    ]


def _check_order(entries: list[Entry], kind: str, problems: list[tuple[str, str]]) -> None:
    first_line: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.id in first_line:
            problems.append(
                (
                    "duplicate-id",
                    (f"id {entry.id!r} appears at entries {first_line[entry.id]} and {index}"),
                )
            )
        else:
            first_line[entry.id] = index
    for index in range(1, len(entries)):
        before, after = entries[index - 1], entries[index]
        if kind == "files":
            in_order = file_id_key(before.id) < file_id_key(after.id)
        else:
            in_order = after.n == (before.n or 0) + 1
        if not in_order and before.id != after.id:
            problems.append(("out-of-order", f"entry {index} ({after.id!r}) after {before.id!r}"))
            break
    if kind != "files" and entries and entries[0].n != 0:
        problems.append(("out-of-order", f"first record position is {entries[0].n}, expected 0"))


def _recompute_root(entries: list[Entry], header: bytes, page_size: int) -> str:
    merkle = EntryTree(page_size, header)
    merkle.add([e.id for e in entries], [bytes.fromhex(e.sha256) for e in entries])
    return merkle.root().hex()

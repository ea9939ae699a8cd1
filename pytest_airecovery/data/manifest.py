"""Write and read integrity manifests.

A manifest is a JSON-lines file: a header line, one line per *page* of entries (the entries of
one Merkle leaf, ``page_size`` of them, in canonical order), a trailer.

    {"format":"airecovery-manifest","page_size":1024,"source":{...},"tree":"sha256-paged-v2",
     "version":3}
    {"n":0,"ids":["r1","r2"],"sha256":"<64 hex per id>","labels":[7,3]}   (records)
    {"n":0,"ids":["cats/1.png"],"sha256":"<64 hex>","sizes":[123]}        (files)
    {"end":true,"count":2,"merkle_root":"<64 hex>"}

``n`` is the position of the page's first entry; ``labels`` is left out when no entry has one.
Canonical order: files by path components compared as UTF-8 bytes; records by position in the
source. No timestamps, so the same data always gives byte-identical manifests.
Formats 2 and 1 wrote one line per entry ({"n":0,"id":"r1","sha256":"<64 hex>","label":7});
both are still read. Format 3 keeps format 2's Merkle tree, so the same data has the same root.
"""

from __future__ import annotations

import json
import operator
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
from pytest_airecovery.data.merkle import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    TREE_VERSION,
    TREE_VERSION_V1,
    EntryTree,
    encode_ids,
)
from pytest_airecovery.data.sources import (
    ItemBatch,
    SourceSpec,
    file_id_key,
    iter_batches,
    resolve_spec,
)

FORMAT_NAME = "airecovery-manifest"
FORMAT_VERSION = 3
# Readable (format version, tree version) pairs. Format 3 writes one line per page of entries;
# formats 2 and 1 wrote one line per entry, and format 1 has one Merkle leaf per entry.
_READABLE = {(3, TREE_VERSION), (2, TREE_VERSION), (1, TREE_VERSION_V1)}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{64})+")

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
    tree: str = TREE_VERSION
    page_size: int = DEFAULT_PAGE_SIZE

    def entry_tree(self) -> EntryTree:
        """An empty tree of this manifest's construction, to recompute its root from data."""
        return EntryTree(self.tree, self.page_size)

    def by_id(self) -> dict[str, Entry]:
        return {entry.id: entry for entry in self.entries}


@dataclass(frozen=True)
class BuildSummary:
    path: str
    count: int
    merkle_root: str
    spec: SourceSpec


def _header(spec: SourceSpec) -> dict[str, Any]:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "tree": TREE_VERSION,
            "page_size": DEFAULT_PAGE_SIZE, "source": spec.to_dict()}


class _PageWriter:
    """Writes entries one page (``page_size`` entries, the Merkle leaf's) per line.

    A page line is assembled with a few joins over the page's columns, so the per-entry work
    stays in C: ids as a JSON array, the digests as one hex string (64 digits per entry), labels
    as a JSON array (left out when no entry has one), sizes for files.
    """

    def __init__(self, handle: Any, page_size: int) -> None:
        self.handle = handle
        self.page_size = page_size
        self.written = 0
        self._ids: list[bytes] = []
        self._digests: list[bytes] = []
        self._labels: list[str | None] = []
        self._sizes: list[int] = []

    def add(self, batch: ItemBatch) -> None:
        id_json = batch.id_json
        if id_json is None:
            id_json = [_json_id(i).encode("utf-8") for i in batch.ids]
        self._ids += id_json
        self._digests += batch.digests
        self._labels += batch.labels
        if batch.sizes is not None:
            self._sizes += batch.sizes
        full = len(self._digests) - len(self._digests) % self.page_size
        for start in range(0, full, self.page_size):
            self._page(start, start + self.page_size)
        if full:
            for column in (self._ids, self._digests, self._labels, self._sizes):
                del column[:full]

    def close(self) -> None:
        if self._digests:
            self._page(0, len(self._digests))

    def _page(self, start: int, end: int) -> None:
        labels = self._labels[start:end]
        parts = ['{"n":', str(self.written), ',"ids":[',
                 b",".join(self._ids[start:end]).decode("utf-8"), '],"sha256":"',
                 b"".join(self._digests[start:end]).hex(), '"']
        if labels.count(None) != len(labels):
            parts += [',"labels":[', ",".join(["null" if lab is None else lab for lab in labels]
                                             if None in labels else labels), "]"]  # type: ignore[arg-type]
        if self._sizes:
            parts += [',"sizes":[', ",".join(map(str, self._sizes[start:end])), "]"]
        parts.append("}\n")
        self.handle.write("".join(parts))
        self.written += end - start


def _json_id(item_id: str) -> str:
    try:
        item_id.encode("utf-8")
    except UnicodeEncodeError:  # an undecodable file name: \udcxx escapes round-trip it
        return json.dumps(item_id)
    return json.dumps(item_id, ensure_ascii=False)


def stream_items(dataset: str, spec: SourceSpec, workers: int | None = None,
                 progress: ProgressFn | None = None,
                 skip_files: frozenset[str] = frozenset()) -> Iterator[ItemBatch]:
    for batch in iter_batches(dataset, spec, workers, skip_files):
        if progress is not None:
            progress(len(batch.ids))
        yield batch


def _atomic_writer(out_path: str) -> tuple[Any, str]:
    directory = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(directory):
        raise DataKitError(f"{out_path}: directory {directory} does not exist")
    if os.path.isdir(out_path):
        raise DataKitError(f"{out_path}: is a directory, expected a manifest file path")
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=directory)
    return os.fdopen(fd, "w", encoding="utf-8", newline="\n"), tmp


def build_manifest(dataset: str, out_path: str, *, kind: str | None = None,
                   label_field: str | None = None, id_field: str | None = None,
                   workers: int | None = None, progress: ProgressFn | None = None) -> BuildSummary:
    """Hash every item of ``dataset`` and write the manifest atomically to ``out_path``."""
    exclude: list[str] = []
    if os.path.isdir(dataset):
        # A manifest written inside the tree it describes must not describe itself.
        rel = os.path.relpath(os.path.abspath(out_path), os.path.abspath(dataset))
        if not rel.startswith(".."):
            exclude.append(rel.replace(os.sep, "/"))
    spec = resolve_spec(dataset, kind, label_field, id_field, exclude)
    handle, tmp = _atomic_writer(out_path)
    skip: frozenset[str] = frozenset()
    if exclude:  # the half-written manifest sits beside its final name, inside the tree
        skip = frozenset({os.path.relpath(tmp, os.path.abspath(dataset)).replace(os.sep, "/")})
    try:
        with handle:
            handle.write(json.dumps(_header(spec), sort_keys=True) + "\n")
            merkle = EntryTree()
            pages = _PageWriter(handle, merkle.page_size)
            unique = _UniqueIds()
            for batch in stream_items(dataset, spec, workers, progress, skip):
                encoded = batch.id_bytes if batch.id_bytes is not None else encode_ids(batch.ids)
                if not batch.positional and not unique.add(encoded):
                    raise DataKitError(f"{dataset}: duplicate item ids "
                                       f"({_first_duplicate(batch)}) - pass an id field "
                                       "whose values are unique")
                pages.add(batch)
                merkle.add((), batch.digests, encoded)  # the tree takes the UTF-8 ids
            pages.close()
            if merkle.count == 0:
                raise DataKitError(f"{dataset}: no items to put in a manifest")
            root = merkle.root().hex()
            handle.write(json.dumps({"end": True, "count": merkle.count, "merkle_root": root})
                         + "\n")
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return BuildSummary(out_path, merkle.count, root, spec)


class _UniqueIds:
    """Duplicate-id check over the stream of batches.

    Ids that only ever increase (as UTF-8 bytes: generated ids, file paths in canonical order)
    are unique without a set, and checking that is one C pass per batch; the first time they do
    not increase, a set of every id so far is built and used from then on.
    """

    def __init__(self) -> None:
        self._batches: list[list[bytes]] = []
        self._last: bytes | None = None
        self._seen: set[bytes] | None = None

    def add(self, ids: list[bytes]) -> bool:
        if not ids:
            return True
        if self._seen is None:
            if (self._last is None or self._last < ids[0]) and all(
                    map(operator.lt, ids, ids[1:])):
                self._batches.append(ids)
                self._last = ids[-1]
                return True
            self._seen = set()
            for earlier in self._batches:
                self._seen.update(earlier)
            self._batches = []
        before = len(self._seen)
        self._seen.update(ids)
        return len(self._seen) - before == len(ids)


def _first_duplicate(batch: ItemBatch) -> str:
    counts: dict[str, int] = {}
    for item_id in batch.ids:
        counts[item_id] = counts.get(item_id, 0) + 1
        if counts[item_id] > 1:
            return f"id {item_id!r} occurs twice"
    return "an id of this batch occurred in an earlier batch"


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
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ManifestTamperedError(path, [("not-a-manifest", "line 1 is not a manifest header")])
    version, tree = header.get("version"), str(header.get("tree"))
    if not isinstance(version, int) or (version, tree) not in _READABLE:
        raise ManifestTamperedError(path, [(
            "unsupported-version",
            (f"version {version!r} tree {tree!r}; this tool reads versions 3 and 2 "
             f"({TREE_VERSION}) and 1 ({TREE_VERSION_V1}): rebuild the manifest with this version "
             "(airecovery data manifest build)"))])
    page_size = header.get("page_size", DEFAULT_PAGE_SIZE) if version >= 2 else DEFAULT_PAGE_SIZE
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not (
            1 <= page_size <= MAX_PAGE_SIZE):
        raise ManifestTamperedError(path, [(
            "not-a-manifest", f"bad page_size {page_size!r} in header (1..{MAX_PAGE_SIZE})")])
    try:
        spec = SourceSpec.from_dict(header.get("source") or {})
    except (DataKitError, TypeError) as exc:
        raise ManifestTamperedError(path, [("not-a-manifest", f"bad source in header: {exc}")])
    trailer: dict[str, Any] | None = None
    entries: list[Entry] = []
    for number, line in enumerate(lines[1:], 2):
        try:
            record = json.loads(line)
        except ValueError:
            kind = "truncated" if number == len(lines) else "malformed-entry"
            problems.append((kind, f"line {number} is not valid JSON"))
            continue
        if isinstance(record, dict) and record.get("end") is True:
            if number != len(lines):
                problems.append(("malformed-entry", f"trailer on line {number} is not the last line"))
            trailer = record
            continue
        if version >= 3:
            entries += _parse_page(record, number, len(entries), spec.kind, problems)
            continue
        entry = _parse_entry(record, number, spec.kind, problems)
        if entry is not None:
            entries.append(entry)
    if trailer is None:
        problems.append(("truncated", "no trailer line: the file was cut short"))
    _check_order(entries, spec.kind, problems)
    root = _recompute_root(entries, tree, page_size)
    if trailer is not None:
        if trailer.get("count") != len(entries):
            problems.append(("count-mismatch",
                             f"trailer says {trailer.get('count')} entries, found {len(entries)}"))
        if trailer.get("merkle_root") != root:
            problems.append(("root-mismatch",
                             f"trailer root {trailer.get('merkle_root')} but entries give {root}"))
    if problems:
        raise ManifestTamperedError(path, _dedupe(problems))
    return Manifest(path, spec, entries, root, tree, page_size)


def _dedupe(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def _parse_entry(record: Any, number: int, kind: str,
                 problems: list[tuple[str, str]]) -> Entry | None:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        problems.append(("malformed-entry", f"line {number} has no string id"))
        return None
    digest = record.get("sha256")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        problems.append(("bad-hash", f"line {number} (id {record['id']!r}) has no valid sha256"))
        return None
    position = record.get("n")
    if kind != "files" and not isinstance(position, int):
        problems.append(("malformed-entry", f"line {number} has no record position n"))
        return None
    return Entry(record["id"], digest, record.get("label"), position, record.get("size"))


def _parse_page(record: Any, number: int, position: int, kind: str,
                problems: list[tuple[str, str]]) -> list[Entry]:
    """Entries of one format-3 page line; a damaged page is named and yields none."""
    ids = record.get("ids") if isinstance(record, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        problems.append(("malformed-entry", f"line {number} has no list of string ids"))
        return []
    digests = record.get("sha256")
    if not isinstance(digests, str) or len(digests) != 64 * len(ids) or not _HEX.fullmatch(
            digests):
        problems.append(("bad-hash", (f"line {number} (ids {ids[0]!r}...) does not hold one "
                                      "valid sha256 (64 lowercase hex digits) per id")))
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
        problems.append(("out-of-order",
                         f"line {number} starts at entry {first}, expected {position}"))
    positions = range(first, first + len(ids)) if kind != "files" else [None] * len(ids)
    return [Entry(i, digests[64 * k : 64 * k + 64], label, n, size)
            for k, (i, label, n, size) in enumerate(zip(ids, labels, positions, sizes))]


def _check_order(entries: list[Entry], kind: str, problems: list[tuple[str, str]]) -> None:
    first_line: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.id in first_line:
            problems.append(("duplicate-id", (f"id {entry.id!r} appears at entries "
                                              f"{first_line[entry.id]} and {index}")))
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


def _recompute_root(entries: list[Entry], tree: str, page_size: int) -> str:
    merkle = EntryTree(tree, page_size)
    merkle.add([e.id for e in entries], [bytes.fromhex(e.sha256) for e in entries])
    return merkle.root().hex()

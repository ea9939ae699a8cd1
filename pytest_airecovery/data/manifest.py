"""Write and read integrity manifests.

A manifest is a JSON-lines file: a header line, one line per item in canonical order, a trailer.

    {"format":"airecovery-manifest","version":2,"tree":"sha256-paged-v2","page_size":1024,
     "source":{...}}
    {"n":0,"id":"r1","sha256":"<64 hex>","label":7}          (records: n = position)
    {"id":"cats/1.png","sha256":"<64 hex>","size":123}       (files: sorted path components)
    {"end":true,"count":2,"merkle_root":"<64 hex>"}

Canonical order: files by path components compared as UTF-8 bytes; records by position in the
source. No timestamps, so the same data always gives byte-identical manifests.
Format 1 (tree ``sha256-promote-v1``, no page size) has the same lines and is still read.
"""

from __future__ import annotations

import json
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
)
from pytest_airecovery.data.sources import (
    ItemBatch,
    SourceSpec,
    file_id_key,
    iter_batches,
    resolve_spec,
)

FORMAT_NAME = "airecovery-manifest"
FORMAT_VERSION = 2
# Readable (format version, tree version) pairs; format 1 has one Merkle leaf per entry.
_READABLE = {(2, TREE_VERSION), (1, TREE_VERSION_V1)}
_HEX64 = re.compile(r"[0-9a-f]{64}")

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


def _entry_lines(batch: ItemBatch, first_position: int, kind: str) -> str:
    hexes = list(map(bytes.hex, batch.digests))
    labels = batch.labels
    if kind == "files":
        assert batch.sizes is not None
        parts = []
        for item_id, hexd, size, label in zip(batch.ids, hexes, batch.sizes, labels):
            tail = f',"label":{label}' if label is not None else ""
            parts.append(f'{{"id":{_json_id(item_id)},"sha256":"{hexd}",'
                         f'"size":{size}{tail}}}\n')
        return "".join(parts)
    id_json = batch.id_json or [json.dumps(i, ensure_ascii=False) for i in batch.ids]
    count = len(hexes)
    if None in labels and labels.count(None) != count:  # some labelled, some not: rare
        return "".join([f'{{"n":{n},"id":{i},"sha256":"{h}"'
                        + (f',"label":{lab}}}\n' if lab is not None else "}\n")
                        for n, i, h, lab in zip(range(first_position, first_position + count),
                                                id_json, hexes, labels)])
    # Interleave the columns with the constant pieces by slice assignment and join once: the
    # per-record work stays in C (a format call per record cost three times as much).
    columns: list[list[str]] = [
        ['{"n":'] * count, list(map(str, range(first_position, first_position + count))),
        [',"id":'] * count, id_json, [',"sha256":"'] * count, hexes]
    if labels and labels[0] is not None:
        columns += [['","label":'] * count, labels, ["}\n"] * count]  # type: ignore[list-item]
    else:
        columns.append(['"}\n'] * count)
    merged: list[str] = [""] * (count * len(columns))
    for index, column in enumerate(columns):
        merged[index :: len(columns)] = column
    return "".join(merged)


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
            seen: set[str] = set()
            for batch in stream_items(dataset, spec, workers, progress, skip):
                before = len(seen)
                seen.update(batch.ids)
                if len(seen) - before != len(batch.ids):
                    raise DataKitError(f"{dataset}: duplicate item ids ({_first_duplicate(batch, seen)})"
                                       " - pass an id field whose values are unique")
                handle.write(_entry_lines(batch, merkle.count, spec.kind))
                merkle.add(batch.ids, batch.digests, batch.id_bytes)
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


def _first_duplicate(batch: ItemBatch, seen: set[str]) -> str:
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
            (f"version {version!r} tree {tree!r}; this tool reads versions 2 ({TREE_VERSION}) "
             f"and 1 ({TREE_VERSION_V1}): rebuild the manifest with this version "
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

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_airecovery.data.compare import diff_manifests, verify_dataset
from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
from pytest_airecovery.data.manifest import Entry, build_manifest, read_manifest
from pytest_airecovery.data.merkle import (
    DEFAULT_PAGE_SIZE,
    TREE_VERSION,
    header_bound_root,
    paged_root,
)


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def records(count: int) -> list[dict[str, object]]:
    return [{"id": f"r{i}", "text": f"sample {i}", "label": i % 3} for i in range(count)]


def make_tree(root: Path) -> Path:
    for rel, content in {"b/2.txt": "two", "a/1.txt": "one", "a-c.txt": "x", "z.txt": "zz"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    return root


# ------------------------------------------------------------------ build and read


def test_files_manifest_is_in_canonical_path_order(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    summary = build_manifest(str(tree), str(tmp_path / "m.jsonl"))
    manifest = read_manifest(str(tmp_path / "m.jsonl"))
    # Component order: "a/1.txt" sorts before "a-c.txt" although "/" > "-" as characters.
    assert [e.id for e in manifest.entries] == ["a/1.txt", "a-c.txt", "b/2.txt", "z.txt"]
    assert summary.count == 4 and manifest.merkle_root == summary.merkle_root
    assert manifest.entries[0].size == 3


def test_same_data_gives_byte_identical_manifests(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    build_manifest(str(tree), str(tmp_path / "one"), workers=1)
    build_manifest(str(tree), str(tmp_path / "two"), workers=4)
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()


def test_manifest_inside_the_tree_is_refused(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    with pytest.raises(DataKitError, match="inside the dataset directory"):
        build_manifest(str(tree), str(tree / "MANIFEST.jsonl"))
    assert not (tree / "MANIFEST.jsonl").exists()


def test_parent_directory_labels(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    build_manifest(str(tree), str(tmp_path / "m"), label_field="parent")
    labels = {e.id: e.label for e in read_manifest(str(tmp_path / "m")).entries}
    assert labels == {"a/1.txt": "a", "a-c.txt": None, "b/2.txt": "b", "z.txt": None}


def test_jsonl_hashes_raw_line_bytes_and_reads_labels(tmp_path: Path) -> None:
    import hashlib

    data = write_jsonl(tmp_path / "d.jsonl", records(5))
    build_manifest(str(data), str(tmp_path / "m"))
    manifest = read_manifest(str(tmp_path / "m"))
    first_line = data.read_bytes().split(b"\n")[0]
    assert manifest.entries[0].sha256 == hashlib.sha256(first_line).hexdigest()
    assert [e.label for e in manifest.entries] == [0, 1, 2, 0, 1]
    assert [e.id for e in manifest.entries] == [f"r{i}" for i in range(5)]


def test_jsonl_nested_records_read_top_level_fields(tmp_path: Path) -> None:
    rows = [{"id": "a", "meta": {"label": 9}, "label": 1}, {"label": "x", "id": 2, "t": "{"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    build_manifest(str(data), str(tmp_path / "m"))
    entries = read_manifest(str(tmp_path / "m")).entries
    assert [(e.id, e.label) for e in entries] == [("a", 1), ("2", "x")]


def test_jsonl_without_ids_uses_positions(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": 0}, {"text": "b", "label": 1}])
    build_manifest(str(data), str(tmp_path / "m"))
    assert [e.id for e in read_manifest(str(tmp_path / "m")).entries] == ["0", "1"]


def test_jsonl_missing_label_names_the_line(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "label": 0}, {"id": "b"}])
    with pytest.raises(DataKitError, match=r"d.jsonl:2: no field 'label'"):
        build_manifest(str(data), str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "label": 0}, {"id": "a", "label": 1}])
    with pytest.raises(DataKitError, match="duplicate item ids"):
        build_manifest(str(data), str(tmp_path / "m"))


def test_csv_with_quoted_multiline_field(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_bytes(b'id,text,label\nx1,plain,0\nx2,"two\nlines, quoted",1\n')
    build_manifest(str(data), str(tmp_path / "m"))
    entries = read_manifest(str(tmp_path / "m")).entries
    assert [(e.id, e.label) for e in entries] == [("x1", "0"), ("x2", "1")]


def test_npz_rows_are_streamed_and_labels_are_covered(tmp_path: Path) -> None:
    features = np.arange(24, dtype=np.float32).reshape(6, 4)
    np.savez_compressed(tmp_path / "d.npz", X=features, y=np.array([0, 1, 0, 1, 0, 1]))
    build_manifest(str(tmp_path / "d.npz"), str(tmp_path / "m"))
    flipped = np.array([0, 1, 0, 1, 0, 0])  # label flipping on row 5 only
    np.savez_compressed(tmp_path / "d.npz", X=features, y=flipped)
    diff = verify_dataset(str(tmp_path / "d.npz"), str(tmp_path / "m"))
    assert diff.changed == ["5"] and diff.relabelled == [("5", 1, 0)]


# ------------------------------------------------------------------ verify and diff


def test_verify_lists_added_removed_and_changed(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", records(6))
    build_manifest(str(data), str(tmp_path / "m"))
    rows = records(6)
    rows[2]["text"] = "edited"
    del rows[4]
    rows.append({"id": "new", "text": "n", "label": 0})
    write_jsonl(data, rows)
    diff = verify_dataset(str(data), str(tmp_path / "m"))
    assert (diff.added, diff.removed, diff.changed) == (["new"], ["r4"], ["r2"])
    assert not diff.identical


def test_reordering_the_data_shows_only_in_the_root(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", records(4))
    build_manifest(str(data), str(tmp_path / "m"))
    write_jsonl(data, list(reversed(records(4))))
    diff = verify_dataset(str(data), str(tmp_path / "m"))
    assert diff.reordered and not diff.has_item_changes


def test_diff_of_two_manifests(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    build_manifest(str(tree), str(tmp_path / "old"))
    (tree / "z.txt").write_text("changed")
    (tree / "a" / "1.txt").unlink()
    build_manifest(str(tree), str(tmp_path / "new"))
    diff = diff_manifests(str(tmp_path / "old"), str(tmp_path / "new"))
    assert diff.removed == ["a/1.txt"] and diff.changed == ["z.txt"] and diff.added == []


# ------------------------------------------------------------------ tampering


PAGE = DEFAULT_PAGE_SIZE


@pytest.fixture
def manifest_lines(tmp_path: Path) -> tuple[Path, list[str]]:
    """A format-3 manifest of three pages (two full, one of 5 entries): header, 3 pages, trailer."""
    data = write_jsonl(tmp_path / "d.jsonl", records(2 * PAGE + 5))
    path = tmp_path / "m.jsonl"
    build_manifest(str(data), str(path))
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) == 5
    return path, lines


def _tampered_kinds(path: Path, lines: list[str]) -> list[str]:
    path.write_text("".join(lines))
    with pytest.raises(ManifestTamperedError) as info:
        read_manifest(str(path))
    return info.value.kinds


def _edit_page(lines: list[str], number: int, edit: Callable[[dict[str, Any]], None]) -> list[str]:
    changed = list(lines)
    page = json.loads(changed[number])
    edit(page)
    changed[number] = json.dumps(page) + "\n"
    return changed


def _set_digest(index: int, hexd: str) -> Callable[[dict[str, Any]], None]:
    def edit(page: dict[str, Any]) -> None:
        page["sha256"] = page["sha256"][: 64 * index] + hexd + page["sha256"][64 * index + 64 :]

    return edit


def _swap_entries(first: int, second: int) -> Callable[[dict[str, Any]], None]:
    def edit(page: dict[str, Any]) -> None:
        digests = [page["sha256"][64 * k : 64 * k + 64] for k in range(len(page["ids"]))]
        for column in [page["ids"], digests] + [page[k] for k in ("labels", "sizes") if k in page]:
            column[first], column[second] = column[second], column[first]
        page["sha256"] = "".join(digests)

    return edit


def test_manifest_writes_one_line_per_page(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    pages = [json.loads(line) for line in lines[1:-1]]
    assert [(p["n"], len(p["ids"]), len(p["sha256"]) // 64) for p in pages] == [
        (0, PAGE, PAGE),
        (PAGE, PAGE, PAGE),
        (2 * PAGE, 5, 5),
    ]
    assert pages[1]["ids"][:2] == [f"r{PAGE}", f"r{PAGE + 1}"]
    assert pages[2]["labels"] == [(2 * PAGE + i) % 3 for i in range(5)]
    entries = read_manifest(str(path)).entries
    assert entries[PAGE + 1] == Entry(
        f"r{PAGE + 1}", pages[1]["sha256"][64:128], (PAGE + 1) % 3, PAGE + 1
    )


def test_changed_hash_is_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    for number, index in ((1, 0), (2, 7), (3, 4)):
        changed = _edit_page(lines, number, _set_digest(index, "0" * 64))
        assert _tampered_kinds(path, changed) == ["root-mismatch"]


def test_reordered_entries_are_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    swapped = list(lines)
    swapped[1], swapped[2] = swapped[2], swapped[1]  # two pages
    assert "out-of-order" in _tampered_kinds(path, swapped)
    # Two records inside a page: positions are implied by the page, so the root names it.
    assert _tampered_kinds(path, _edit_page(lines, 2, _swap_entries(3, 4))) == ["root-mismatch"]


def test_duplicated_entry_is_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    kinds = _tampered_kinds(path, lines[:3] + [lines[2]] + lines[3:])  # a page twice
    assert "duplicate-id" in kinds and "count-mismatch" in kinds

    def twice(page: dict[str, Any]) -> None:
        page["ids"].append(page["ids"][1])
        page["labels"].append(page["labels"][1])
        page["sha256"] += page["sha256"][64:128]

    kinds = _tampered_kinds(path, _edit_page(lines, 3, twice))  # one entry twice
    assert "duplicate-id" in kinds and "count-mismatch" in kinds


def test_truncated_file_is_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    text = "".join(lines)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ManifestTamperedError) as info:
        read_manifest(str(path))
    assert "truncated" in info.value.kinds
    assert "truncated" in _tampered_kinds(path, lines[:-1])  # cut at a line boundary


def test_removed_entry_is_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    kinds = _tampered_kinds(path, lines[:2] + lines[3:])  # a whole page
    assert "out-of-order" in kinds and "count-mismatch" in kinds

    def drop(page: dict[str, Any]) -> None:
        del page["ids"][2], page["labels"][2]
        page["sha256"] = page["sha256"][:128] + page["sha256"][192:]

    kinds = _tampered_kinds(path, _edit_page(lines, 2, drop))  # one entry of a page
    assert "out-of-order" in kinds and "count-mismatch" in kinds


def test_bad_hash_and_not_a_manifest(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    assert (
        _tampered_kinds(
            path, [lines[0], lines[1].replace('"sha256":"', '"sha256":"zz')] + lines[2:]
        )[0]
        == "bad-hash"
    )
    assert _tampered_kinds(path, _edit_page(lines, 3, _set_digest(1, "A" * 64)))[0] == "bad-hash"
    cut = _edit_page(lines, 3, lambda page: page.update(sha256=page["sha256"][:-64]))
    assert _tampered_kinds(path, cut)[0] == "bad-hash"  # fewer digests than ids
    short = _edit_page(lines, 3, lambda page: page["labels"].pop())
    assert _tampered_kinds(path, short)[0] == "malformed-entry"
    assert _tampered_kinds(path, ['{"hello": 1}\n']) == ["not-a-manifest"]


def test_files_manifest_out_of_order(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    path = tmp_path / "m"
    build_manifest(str(tree), str(path))
    lines = path.read_text().splitlines(keepends=True)
    assert json.loads(lines[1])["sizes"] == [3, 1, 3, 2]
    assert "out-of-order" in _tampered_kinds(path, _edit_page(lines, 1, _swap_entries(0, 1)))


def _rewrite(path: Path, header: dict[str, object] | None = None, root: str | None = None) -> None:
    lines = path.read_text().splitlines(keepends=True)
    if header is not None:
        lines[0] = json.dumps(header) + "\n"
    if root is not None:
        trailer = json.loads(lines[-1])
        trailer["merkle_root"] = root
        lines[-1] = json.dumps(trailer) + "\n"
    path.write_text("".join(lines))


def test_header_records_format_4_and_page_size(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", records(3))
    build_manifest(str(data), str(tmp_path / "m"))
    first_line = (tmp_path / "m").read_bytes().split(b"\n")[0]
    header = json.loads(first_line)
    assert (header["version"], header["tree"], header["page_size"]) == (
        4,
        TREE_VERSION,
        DEFAULT_PAGE_SIZE,
    )
    manifest = read_manifest(str(tmp_path / "m"))
    entries = manifest.entries
    entries_root = paged_root([e.id for e in entries], [bytes.fromhex(e.sha256) for e in entries])
    assert manifest.merkle_root == header_bound_root(first_line, entries_root).hex()


@pytest.mark.parametrize("version", [5, "4", True, None])
def test_unknown_version_is_refused(
    manifest_lines: tuple[Path, list[str]], version: object
) -> None:
    path, lines = manifest_lines
    header = json.loads(lines[0])
    header["version"] = version
    with pytest.raises(ManifestTamperedError, match="this tool reads version 4") as info:
        _rewrite(path, header)
        read_manifest(str(path))
    assert info.value.kinds == ["unsupported-version"]


@pytest.mark.parametrize("page_size", [0, -1, "1024", True, 1 << 30])
def test_bad_page_size_is_named(manifest_lines: tuple[Path, list[str]], page_size: object) -> None:
    path, lines = manifest_lines
    header = json.loads(lines[0])
    header["page_size"] = page_size
    _rewrite(path, header)
    with pytest.raises(ManifestTamperedError, match="page_size") as info:
        read_manifest(str(path))
    assert info.value.kinds == ["not-a-manifest"]


def test_changed_page_size_breaks_the_root(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    header = json.loads(lines[0])
    header["page_size"] = 2
    _rewrite(path, header)
    assert _tampered_kinds(path, path.read_text().splitlines(keepends=True)) == ["root-mismatch"]


def test_renamed_id_in_a_later_page_is_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    renamed = _edit_page(lines, 2, lambda page: page["ids"].__setitem__(1, "renamed"))
    assert _tampered_kinds(path, renamed) == ["root-mismatch"]


def test_ids_from_positions_and_increasing_ids_skip_the_set(tmp_path: Path) -> None:
    plain = tmp_path / "p.jsonl"
    plain.write_text("".join(f'{{"text": "t{i}", "label": {i % 2}}}\n' for i in range(3000)))
    build_manifest(str(plain), str(tmp_path / "m"))
    entries = read_manifest(str(tmp_path / "m")).entries
    assert [e.id for e in entries[:3]] + [entries[-1].id] == ["0", "1", "2", "2999"]
    assert verify_dataset(str(plain), str(tmp_path / "m")).identical
    # Ids that increase and then repeat an earlier one, in a later block: still refused.
    rows = [{"id": f"k{i:05d}", "label": 0} for i in range(50)] + [{"id": "k00003", "label": 1}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    from pytest_airecovery.data import sources

    original = sources.BLOCK_SIZE
    sources.BLOCK_SIZE = 64  # many blocks
    try:
        with pytest.raises(DataKitError, match="duplicate item ids"):
            build_manifest(str(data), str(tmp_path / "m2"))
        write_jsonl(data, list(reversed(rows[:50])))  # decreasing ids: the set path, unique
        build_manifest(str(data), str(tmp_path / "m2"))
    finally:
        sources.BLOCK_SIZE = original
    assert len(read_manifest(str(tmp_path / "m2")).entries) == 50


# ------------------------------------------------------------------ bad input


def test_empty_file_and_directory_for_file(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(DataKitError, match="empty"):
        build_manifest(str(tmp_path / "e.jsonl"), str(tmp_path / "m"))
    os.mkdir(tmp_path / "dir.jsonl")
    with pytest.raises(DataKitError, match="is a directory"):
        build_manifest(str(tmp_path / "dir.jsonl"), str(tmp_path / "m"), kind="jsonl")
    with pytest.raises(DataKitError, match="is a directory"):
        read_manifest(str(tmp_path / "dir.jsonl"))
    assert not (tmp_path / "m").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".manifest-")] == []


@pytest.mark.skipif(os.name != "posix", reason="byte file names are a POSIX thing")
def test_undecodable_file_names_round_trip(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    with open(os.path.join(os.fsencode(tree), b"caf\xe9.bin"), "wb") as handle:
        handle.write(b"latin-1 name")
    (tree / "plain.txt").write_text("x")
    build_manifest(str(tree), str(tmp_path / "m"))
    manifest = read_manifest(str(tmp_path / "m"))
    assert [e.id for e in manifest.entries] == ["caf\udce9.bin", "plain.txt"]
    assert verify_dataset(str(tree), manifest).identical


def test_files_take_no_label_or_id_fields(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    with pytest.raises(DataKitError, match="--label-field parent"):
        build_manifest(str(tree), str(tmp_path / "m"), label_field="label")

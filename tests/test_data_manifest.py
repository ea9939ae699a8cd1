from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from pytest_airecovery.data.compare import diff_manifests, verify_dataset
from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
from pytest_airecovery.data.manifest import build_manifest, read_manifest
from pytest_airecovery.data.merkle import (
    DEFAULT_PAGE_SIZE,
    TREE_VERSION,
    TREE_VERSION_V1,
    leaf_hash,
    paged_root,
    root_of_leaves,
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


def test_manifest_inside_the_tree_excludes_itself(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    build_manifest(str(tree), str(tree / "MANIFEST.jsonl"))
    assert verify_dataset(str(tree), str(tree / "MANIFEST.jsonl")).identical


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


def test_jsonl_nested_records_take_the_careful_path(tmp_path: Path) -> None:
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


@pytest.fixture
def manifest_lines(tmp_path: Path) -> tuple[Path, list[str]]:
    data = write_jsonl(tmp_path / "d.jsonl", records(5))
    path = tmp_path / "m.jsonl"
    build_manifest(str(data), str(path))
    return path, path.read_text().splitlines(keepends=True)


def _tampered_kinds(path: Path, lines: list[str]) -> list[str]:
    path.write_text("".join(lines))
    with pytest.raises(ManifestTamperedError) as info:
        read_manifest(str(path))
    return info.value.kinds


def test_changed_hash_is_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    entry = json.loads(lines[2])
    entry["sha256"] = "0" * 64
    lines[2] = json.dumps(entry) + "\n"
    assert _tampered_kinds(path, lines) == ["root-mismatch"]


def test_reordered_entries_are_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    lines[2], lines[3] = lines[3], lines[2]
    assert "out-of-order" in _tampered_kinds(path, lines)


def test_duplicated_entry_is_detected(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    lines.insert(3, lines[2])
    kinds = _tampered_kinds(path, lines)
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
    del lines[3]
    kinds = _tampered_kinds(path, lines)
    assert "out-of-order" in kinds and "count-mismatch" in kinds


def test_bad_hash_and_not_a_manifest(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    assert _tampered_kinds(path, [lines[0], lines[1].replace('"sha256":"', '"sha256":"zz')]
                           + lines[2:])[0] == "bad-hash"
    assert _tampered_kinds(path, ['{"hello": 1}\n']) == ["not-a-manifest"]


def test_files_manifest_out_of_order(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    path = tmp_path / "m"
    build_manifest(str(tree), str(path))
    lines = path.read_text().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    assert "out-of-order" in _tampered_kinds(path, lines)


def _rewrite(path: Path, header: dict[str, object] | None = None,
             root: str | None = None) -> None:
    lines = path.read_text().splitlines(keepends=True)
    if header is not None:
        lines[0] = json.dumps(header) + "\n"
    if root is not None:
        trailer = json.loads(lines[-1])
        trailer["merkle_root"] = root
        lines[-1] = json.dumps(trailer) + "\n"
    path.write_text("".join(lines))


def test_header_records_format_2_and_page_size(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", records(3))
    build_manifest(str(data), str(tmp_path / "m"))
    header = json.loads((tmp_path / "m").read_text().splitlines()[0])
    assert (header["version"], header["tree"], header["page_size"]) == (2, TREE_VERSION,
                                                                          DEFAULT_PAGE_SIZE)
    manifest = read_manifest(str(tmp_path / "m"))
    entries = manifest.entries
    assert manifest.merkle_root == paged_root([e.id for e in entries],
                                              [bytes.fromhex(e.sha256) for e in entries]).hex()


def test_format_1_manifests_still_read_and_verify(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", records(5))
    path = tmp_path / "m"
    build_manifest(str(data), str(path))
    header = json.loads(path.read_text().splitlines()[0])
    del header["page_size"]
    header.update(version=1, tree=TREE_VERSION_V1)
    entries = read_manifest(str(path)).entries
    old_root = root_of_leaves([leaf_hash(e.id, bytes.fromhex(e.sha256)) for e in entries]).hex()
    _rewrite(path, header, old_root)
    manifest = read_manifest(str(path))
    assert (manifest.tree, manifest.merkle_root) == (TREE_VERSION_V1, old_root)
    assert verify_dataset(str(data), manifest).identical
    write_jsonl(data, records(4))
    assert verify_dataset(str(data), str(path)).removed == ["r4"]


def test_unknown_version_asks_for_a_rebuild(manifest_lines: tuple[Path, list[str]]) -> None:
    path, lines = manifest_lines
    header = json.loads(lines[0])
    header["version"] = 3
    with pytest.raises(ManifestTamperedError, match="rebuild the manifest") as info:
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


def test_tampering_in_a_later_page_is_detected(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", records(2 * DEFAULT_PAGE_SIZE + 5))
    path = tmp_path / "m"
    build_manifest(str(data), str(path))
    lines = path.read_text().splitlines(keepends=True)
    for line in (DEFAULT_PAGE_SIZE + 7, 2 * DEFAULT_PAGE_SIZE + 3):
        changed = list(lines)
        entry = json.loads(changed[line])
        entry["sha256"] = "0" * 64
        changed[line] = json.dumps(entry) + "\n"
        assert _tampered_kinds(path, changed) == ["root-mismatch"]
    changed = list(lines)
    entry = json.loads(changed[DEFAULT_PAGE_SIZE + 1])
    entry["id"] = "renamed"
    changed[DEFAULT_PAGE_SIZE + 1] = json.dumps(entry) + "\n"
    assert _tampered_kinds(path, changed) == ["root-mismatch"]


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

"""Property tests: build / verify / diff round trips on generated datasets."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.data.compare import diff_manifests, verify_dataset
from pytest_airecovery.data.manifest import build_manifest, read_manifest

texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
record_lists = st.lists(st.tuples(texts, st.integers(0, 3)), min_size=1, max_size=30)


def _write(path: Path, rows: dict[str, tuple[str, int]]) -> None:
    lines = [
        json.dumps({"id": key, "text": text, "label": label}, ensure_ascii=False)
        for key, (text, label) in rows.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@settings(max_examples=40, deadline=None)
@given(rows=record_lists, data=st.data())
def test_verify_and_diff_report_exactly_the_edits(
    rows: list[tuple[str, int]], data: st.DataObject
) -> None:
    original = {f"id-{i}": row for i, row in enumerate(rows)}
    keys = sorted(original)
    removed = set(data.draw(st.lists(st.sampled_from(keys), unique=True)))
    kept = [k for k in keys if k not in removed]
    changed = set(data.draw(st.lists(st.sampled_from(kept), unique=True))) if kept else set()
    added = set(data.draw(st.lists(st.sampled_from(["new-a", "new-b"]), unique=True)))
    edited = {
        k: ((original[k][0] + "!", original[k][1]) if k in changed else original[k]) for k in kept
    }
    edited.update({k: ("fresh", 0) for k in added})
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        _write(base / "d.jsonl", original)
        build_manifest(str(base / "d.jsonl"), str(base / "old"))
        assert verify_dataset(str(base / "d.jsonl"), str(base / "old")).identical
        if not edited:
            return
        _write(base / "d.jsonl", edited)
        diff = verify_dataset(str(base / "d.jsonl"), str(base / "old"))
        assert (set(diff.removed), set(diff.changed), set(diff.added)) == (removed, changed, added)
        build_manifest(str(base / "d.jsonl"), str(base / "new"))
        assert diff_manifests(str(base / "old"), str(base / "new")).to_dict() == diff.to_dict()
        assert read_manifest(str(base / "new")).merkle_root == diff.new_root


@settings(max_examples=30, deadline=None)
@given(
    files=st.dictionaries(
        st.from_regex(r"[a-z]{1,3}(/[a-z.\-]{1,3}){0,2}", fullmatch=True),
        st.binary(max_size=64),
        min_size=1,
        max_size=12,
    )
)
def test_file_trees_round_trip(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        written = {}
        for rel, content in files.items():
            target = root / rel
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                written[rel] = content
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                continue  # a name used both as file and directory: skip that one
        present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
        build_manifest(str(root), str(Path(tmp) / "m"))
        manifest = read_manifest(str(Path(tmp) / "m"))
        assert {e.id for e in manifest.entries} == present
        assert verify_dataset(str(root), manifest).identical


tricky_text = st.sampled_from(
    ['"label": 9', 'a\\"label\\": 1', '{"id": "x"}', "plain", "\\", "é☃", '"id"', "\t", "\u2028"]
)
values = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([True, None, 1.5, "cat", 'a"b', "x\\y"]),
    st.lists(st.integers(0, 3), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),
            tricky_text,
            values,
            st.booleans(),
            st.booleans(),
            st.sampled_from([", ", ","]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_block_reader_reads_ids_and_labels_as_json_does(
    rows: list[tuple[int, str, object, bool, bool, str]],
) -> None:
    """The regex fast path and the per-record parse must agree on every record."""
    from pytest_airecovery.data.datasets import iter_batches
    from pytest_airecovery.data.sources import SourceSpec, canonical_label

    lines = []
    for index, (order, text, label, nested, twice, sep) in enumerate(rows):
        items: list[tuple[str, object]] = [("id", f"r{index}"), ("text", text), ("label", label)]
        items = items[order:] + items[:order]
        if nested:
            items.insert(1, ("meta", {"label": 99, "id": "inner"}))
        if twice:
            items.append(("label", "second"))
        body = sep.join(
            f"{json.dumps(k)}:{' ' if sep == ', ' else ''}{json.dumps(v, ensure_ascii=False)}"
            for k, v in items
        )
        lines.append("{" + body + "}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        spec = SourceSpec("jsonl", label_field="label", id_field="id")
        got_ids, got_labels = [], []
        for batch in iter_batches(str(path), spec):
            got_ids += batch.ids
            got_labels += batch.labels
    parsed = [json.loads(line) for line in lines]
    assert got_ids == [record["id"] for record in parsed]
    assert got_labels == [canonical_label(record["label"]) for record in parsed]

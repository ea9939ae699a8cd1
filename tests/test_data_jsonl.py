"""The JSONL block readers (C accelerator and numpy) against json.loads, threads, and columns."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.data import jsonl_blocks
from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.jsonl_blocks import JsonlBlockReader, accelerator
from pytest_airecovery.data.manifest import build_manifest, read_manifest
from pytest_airecovery.data.sources import canonical_label

READERS = ["accelerated", "numpy"]


def make_reader(kind: str, label: str | None = "label", ident: str | None = "id"
                ) -> JsonlBlockReader:
    if kind == "accelerated" and accelerator() is None:
        if os.environ.get("AIRECOVERY_REQUIRE_ACCELERATOR"):
            pytest.fail("the C accelerator is not built (AIRECOVERY_REQUIRE_ACCELERATOR is set)")
        pytest.skip("the C accelerator is not built here")
    return JsonlBlockReader(label, ident, accelerated=kind == "accelerated")


def test_accelerator_is_built_where_required() -> None:
    if os.environ.get("AIRECOVERY_REQUIRE_ACCELERATOR"):
        assert accelerator() is not None, "pip install -e . should have compiled _jsonl_scan"
    elif accelerator() is None:
        pytest.skip("the C accelerator is not built here")


def test_accelerator_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRECOVERY_NO_ACCELERATOR", "1")
    assert accelerator() is None
    assert not JsonlBlockReader("label", "id").accelerated
    with pytest.raises(DataKitError, match="not built or is switched off"):
        JsonlBlockReader("label", "id", accelerated=True)


def expected_items(lines: list[bytes], label: str | None, ident: str | None
                   ) -> tuple[list[str] | None, list[str | None], bytes] | tuple[int, str]:
    """What json.loads makes of the lines: (ids, labels, digests), or (bad line, message)."""
    ids, labels, digests = [], [], b""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return index, "not valid JSON"
        if not isinstance(record, dict):
            return index, "record is not a JSON object"
        for name in (label, ident):
            if name is not None and name not in record:
                return index, f"no field {name!r}"
        labels.append(canonical_label(record[label]) if label else None)
        if ident is not None:
            value = record[ident]
            ids.append(value if isinstance(value, str) else canonical_label(value))
        digests += hashlib.sha256(line).digest()
    return (ids if ident is not None else None), labels, digests


def read_items(reader: JsonlBlockReader, block: bytes
               ) -> tuple[list[str] | None, list[str | None], bytes] | tuple[int, str]:
    items = reader.read(block)
    if items.error is not None:
        index, message = items.error
        return index, message.split(" (")[0]
    batch = jsonl_blocks._batch(items, 0)
    ids = None if items.ids is None and items.id_blob is None else batch.ids
    return ids, batch.labels, items.digests


keys = st.sampled_from(["id", "label", "text", "meta", "lab\u00e9l", "i\\d", 'q"'])
scalars = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True), st.booleans(),
                    st.none(), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)), max_leaves=6)
records = st.dictionaries(keys, values, max_size=5)
plain_ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"],
                                           exclude_characters='"\\'), max_size=10)


@st.composite
def jsonl_lines(draw: st.DrawFn) -> list[bytes]:
    lines = []
    for index in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["plain", "plain", "plain", "record", "raw", "blank"]))
        if kind == "plain":  # the common shape: the fast readers must take these
            record = {"id": draw(plain_ids) + str(index), "text": draw(st.text(max_size=20)),
                      "label": draw(st.integers(0, 9) | st.sampled_from(["cat", "dog"]))}
        elif kind == "record":
            record = draw(records)
        elif kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t\r"])))
            continue
        else:  # hand-written text json.dumps would never produce
            lines.append(draw(st.sampled_from([
                b'{"id": "a", "label": 1, "id": "b"}', b'{"id" : "a" , "label" :2 }\r',
                b'{"id": "\\u0061", "label": 3}', b'{"\\u0069d": "a", "label": 3}',
                b'{"id": "a", "label": NaN}', b'{"id": 5, "label": -0}', b'[1, 2]',
                b'{"id": "a", "label": 01}', b'{"id": "a", "label": [1, {"id": 2}]}',
                b'{"id": "a", "label": 1} x', b'{"id": "a", "label": 1,}', b'\xef\xbb\xbf{"id": "a", "label": 1}',
                b'{"id": "\xff", "label": 1}', b'{"id": "a\tb", "label": 1}',
                b'  {"label": true, "id": 1.5e3}', b'{"id": "a", "label": 1e400}'])))
            continue
        separators = draw(st.sampled_from([(", ", ": "), (",", ":"), (" , ", " : ")]))
        ensure_ascii = draw(st.booleans())
        lines.append(json.dumps(record, separators=separators,
                                ensure_ascii=ensure_ascii).encode("utf-8"))
    return lines


def _valid_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("kind", READERS)
@settings(max_examples=400, deadline=None)
@given(lines=jsonl_lines(), fields=st.sampled_from([("label", "id"), (None, "id"),
                                                    ("label", None), (None, None)]))
def test_block_readers_agree_with_json_loads(kind: str, lines: list[bytes],
                                             fields: tuple[str | None, str | None]) -> None:
    label, ident = fields
    reader = make_reader(kind, label, ident)
    if kind == "numpy":  # it checks the shape it relies on, not all of the grammar
        lines = [line for line in lines if not line.strip() or _valid_json(line)]
    block = b"\n".join(lines) + b"\n"
    assert read_items(reader, block) == expected_items(lines, label, ident)


@pytest.mark.parametrize("kind", READERS)
def test_plain_blocks_take_the_fast_path(kind: str) -> None:
    reader = make_reader(kind)
    lines = [json.dumps({"id": f"r{i:03d}", "text": "caf\u00e9 \u2603", "label": i % 3},
                        ensure_ascii=False).encode() for i in range(50)]
    items = reader._read_fast(b"\n".join(lines) + b"\n")
    assert items is not None and items.count == 50 and items.increasing
    assert items.id_blob == b"\n".join(f"r{i:03d}".encode() for i in range(50))
    assert items.label_blob == b"\n".join(str(i % 3).encode() for i in range(50))


@pytest.mark.parametrize("line", [
    b'{"id": "a", "label": 1, "id": "b"}',  # a key twice: json.loads keeps the last
    b'{"id": "a\\u0062", "label": 1}',  # an escape in a value we read
    b'{"\\u0069d": "a", "label": 1}',  # a key with an escape may spell ours
    b'{"id": "a", "label": NaN}',  # json.loads takes NaN; the grammar does not
    b'{"id": "a", "label": 1}\x00',
    b'{"id": "a", "label": 1, "x": [1,,2]}',  # invalid JSON anywhere in the line
    b'{"id": "\xed\xa0\x80", "label": 1}',  # an encoded surrogate: not strict UTF-8
    b'',
])
def test_accelerator_leaves_what_it_cannot_read_exactly_to_json_loads(line: bytes) -> None:
    make_reader("accelerated")
    scan = accelerator()
    assert scan is not None
    assert scan.scan_block(b'{"id": "x", "label": 0}\n' + line + b"\n", (b'"label"', b'"id"')) \
        is None


def test_accelerator_reads_nested_values_and_escapes_elsewhere() -> None:
    make_reader("accelerated")
    scan = accelerator()
    assert scan is not None
    line = b'{"meta": {"id": "inner", "label": [1, "\\"x\\""]}, "text": "a\\nb", "id": "r1", "label": -2.5e3}'
    count, digests, ((labels, labels_strings, _), (ids, ids_strings, _)) = scan.scan_block(
        line + b"\n", (b'"label"', b'"id"'))
    assert (count, labels, labels_strings, ids, ids_strings) == (1, b"-2.5e3", False, b'"r1"', True)
    assert digests == hashlib.sha256(line).digest()


# ------------------------------------------------------------------ whole files, threads


def mixed_file(path: Path, rows: int = 300) -> Path:
    """Plain records, a run of nested ones, blank lines and no final line break."""
    lines = []
    for i in range(rows):
        record: dict[str, object] = {"id": f"rec-{i:05d}", "text": "x" * (i % 37),
                                     "label": i % 4}
        if 100 <= i < 120:
            record["meta"] = {"label": "inner", "id": "inner"}
        if i % 50 == 7:
            record["text"] = 'quote " and \\ backslash'
        lines.append(json.dumps(record))
        if i % 90 == 3:
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small blocks, read on threads however small the file."""
    monkeypatch.setattr(jsonl_blocks, "JSONL_BLOCK", 512)
    monkeypatch.setattr(jsonl_blocks, "PARALLEL_MIN_BYTES", 0)


@pytest.mark.usefixtures("small_blocks")
def test_threads_and_readers_give_byte_identical_manifests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = mixed_file(tmp_path / "d.jsonl")
    outputs = []
    for workers, accelerated in ((1, True), (4, True), (1, False), (4, False)):
        if not accelerated:
            monkeypatch.setenv("AIRECOVERY_NO_ACCELERATOR", "1")
        out = tmp_path / f"m-{workers}-{accelerated}"
        build_manifest(str(data), str(out), workers=workers)
        outputs.append(out.read_bytes())
    assert all(output == outputs[0] for output in outputs)
    entries = read_manifest(str(tmp_path / "m-1-True")).entries
    assert [e.id for e in entries] == [f"rec-{i:05d}" for i in range(300)]
    assert [e.label for e in entries] == [i % 4 for i in range(300)]
    last = data.read_bytes().rsplit(b"\n", 1)[1]  # hashed without a line break it never had
    assert entries[-1].sha256 == hashlib.sha256(last).hexdigest()


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("workers", [1, 3])
def test_a_bad_record_in_a_later_block_names_its_line(tmp_path: Path, workers: int) -> None:
    data = mixed_file(tmp_path / "d.jsonl")
    lines = data.read_text(encoding="utf-8").split("\n")
    lines[250] = '{"id": "broken", "label": '
    data.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataKitError, match=r"d\.jsonl:251: not valid JSON"):
        build_manifest(str(data), str(tmp_path / "m"), workers=workers)
    assert not (tmp_path / "m").exists()


@pytest.mark.usefixtures("small_blocks")
def test_threads_read_each_block_once_in_order(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = mixed_file(tmp_path / "d.jsonl")
    calls: list[bytes] = []
    real_read = JsonlBlockReader.read

    def counting_read(self: JsonlBlockReader, block: bytes) -> jsonl_blocks.BlockItems:
        calls.append(block)
        return real_read(self, block)

    monkeypatch.setattr(JsonlBlockReader, "read", counting_read)
    build_manifest(str(data), str(tmp_path / "m"), workers=3)
    assert b"".join(calls).rstrip(b"\n") == data.read_bytes()  # every byte once, none twice


def test_duplicate_ids_across_blocks_are_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl_blocks, "JSONL_BLOCK", 256)
    rows = [{"id": f"r{i:03d}", "label": 0} for i in range(40)] + [{"id": "r005", "label": 1}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataKitError, match="duplicate item ids .*'r005' occurs twice"):
        build_manifest(str(data), str(tmp_path / "m"))


@settings(max_examples=300, deadline=None)
@given(block=st.binary(max_size=200) | jsonl_lines().map(lambda lines: b"\n".join(lines)),
       cut=st.integers(0, 200))
def test_accelerator_takes_any_bytes(block: bytes, cut: int) -> None:
    """Arbitrary and truncated input: None, or what json.loads reads, never a crash."""
    make_reader("accelerated")
    scan = accelerator()
    assert scan is not None
    for data in (block, block[:cut], block + b"\n"):
        found = scan.scan_block(data, (b'"label"', b'"id"'))
        if found is None:
            continue
        lines = data.split(b"\n")[:-1]
        assert data.endswith(b"\n") and found[0] == len(lines)
        assert found[1] == b"".join(hashlib.sha256(line).digest() for line in lines)
        assert [json.loads(t) for t in found[2][0][0].split(b"\n")] == [
            json.loads(line)["label"] for line in lines]

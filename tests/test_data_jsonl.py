"""The one JSONL reader (msgspec): what it accepts and refuses, the same in every tool."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_airecovery.data import jsonl_blocks
from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.jsonl_blocks import JsonlBlockReader
from pytest_airecovery.data.manifest import build_manifest, read_manifest
from pytest_airecovery.data.records import iter_records
from pytest_airecovery.data.sources import (
    BadRecord,
    SourceSpec,
    canonical_label,
    field_value,
    json_record,
)


def expected_items(
    lines: list[bytes], label: str | None, ident: str | None
) -> tuple[list[str] | None, list[str | None], bytes] | tuple[int, str]:
    """What the record reader (one line at a time, as the trigger scan and cleaning read)
    makes of the lines: (ids, labels, digests), or (bad line, message)."""
    ids, labels, digests = [], [], b""
    for index, line in enumerate(lines):
        if not line.strip(b" \t\r"):
            continue
        try:
            record = json_record(line)
            values = {name: field_value(record, name) for name in (label, ident) if name}
        except BadRecord as exc:
            return index, str(exc).split(" (")[0]
        labels.append(canonical_label(values[label]) if label else None)
        if ident is not None:
            value = values[ident]
            ids.append(value if isinstance(value, str) else canonical_label(value))
        digests += hashlib.sha256(line).digest()
    return (ids if ident is not None else None), labels, digests


def read_items(
    reader: JsonlBlockReader, block: bytes
) -> tuple[list[str] | None, list[str | None], bytes] | tuple[int, str]:
    items = reader.read(block)
    if items.error is not None:
        index, message = items.error
        return index, message.split(" (")[0]
    batch = jsonl_blocks._batch(items, 0)
    ids = None if items.ids is None and items.id_blob is None else batch.ids
    return ids, batch.labels, items.digests


keys = st.sampled_from(["id", "label", "text", "meta", "lab\u00e9l", "i\\d", 'q"'])
scalars = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=6,
)
records = st.dictionaries(keys, values, max_size=5)
plain_ids = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters='"\\'
    ),
    max_size=10,
)


@st.composite
def jsonl_lines(draw: st.DrawFn) -> list[bytes]:
    lines = []
    for index in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["plain", "plain", "plain", "record", "raw", "blank"]))
        if kind == "plain":  # the common shape: the fast readers must take these
            record = {
                "id": draw(plain_ids) + str(index),
                "text": draw(st.text(max_size=20)),
                "label": draw(st.integers(0, 9) | st.sampled_from(["cat", "dog"])),
            }
        elif kind == "record":
            record = draw(records)
        elif kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t\r"])))
            continue
        else:  # hand-written text json.dumps would never produce
            lines.append(
                draw(
                    st.sampled_from(
                        [
                            b'{"id": "a", "label": 1, "id": "b"}',
                            b'{"id" : "a" , "label" :2 }\r',
                            b'{"id": "\\u0061", "label": 3}',
                            b'{"\\u0069d": "a", "label": 3}',
                            b'{"id": "a", "label": NaN}',
                            b'{"id": 5, "label": -0}',
                            b"[1, 2]",
                            b'{"id": "a", "label": 01}',
                            b'{"id": "a", "label": [1, {"id": 2}]}',
                            b'{"id": "a", "label": 1} x',
                            b'{"id": "a", "label": 1,}',
                            b'\xef\xbb\xbf{"id": "a", "label": 1}',
                            b'{"id": "\xff", "label": 1}',
                            b'{"id": "a\tb", "label": 1}',
                            b'  {"label": true, "id": 1.5e3}',
                            b'{"id": "a", "label": 1e400}',
                        ]
                    )
                )
            )
            continue
        separators = draw(st.sampled_from([(", ", ": "), (",", ":"), (" , ", " : ")]))
        ensure_ascii = draw(st.booleans())
        lines.append(
            json.dumps(record, separators=separators, ensure_ascii=ensure_ascii).encode("utf-8")
        )
    return lines


def _json_loads_or_none(line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None


@settings(max_examples=400, deadline=None)
@given(
    lines=jsonl_lines(),
    fields=st.sampled_from([("label", "id"), (None, "id"), ("label", None), (None, None)]),
)
def test_block_reader_agrees_with_the_record_reader(
    lines: list[bytes], fields: tuple[str | None, str | None]
) -> None:
    """One parser: a block is read as the per-line record reader reads its lines, bad lines
    included (same line, same reason)."""
    label, ident = fields
    block = b"\n".join(lines) + b"\n"
    assert read_items(JsonlBlockReader(label, ident), block) == expected_items(lines, label, ident)


@settings(max_examples=200, deadline=None)
@given(lines=jsonl_lines())
def test_accepted_records_hold_what_json_loads_reads(lines: list[bytes]) -> None:
    """Where the reader accepts a line, its values are json.loads's (strictness aside)."""
    block = b"\n".join(lines) + b"\n"
    found = read_items(JsonlBlockReader("label", "id"), block)
    if isinstance(found[0], int):
        return
    records = [json.loads(line) for line in lines if line.strip(b" \t\r")]
    ids, labels, _ = found
    assert labels == [canonical_label(record["label"]) for record in records]
    assert ids == [
        r["id"] if isinstance(r["id"], str) else canonical_label(r["id"]) for r in records
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"id": "a", "label": 1, "x": [1,,2]}', "not valid JSON"),  # anywhere in the line
        (b'{"id": "a", "label": NaN}', "not valid JSON"),  # json.loads takes it; RFC 8259 does not
        (b'{"id": "a", "label": 1}\x00', "not valid JSON"),
        (b'{"id": "a", "label": 1} {"id": "b", "label": 2}', "not valid JSON"),  # two on one line
        (b'{"id": "a", "label": 1, "text": "\xff"}', "not valid UTF-8"),  # in a field not read
        (b'{"id": "\xed\xa0\x80", "label": 1}', "not valid UTF-8"),  # an encoded surrogate
        (b'{"id": "a", "label": 1e400}', "not valid JSON"),  # out of a float's range
        (b"[1, 2]", "record is not a JSON object"),
        (b'{"id": "a"}', "no field 'label'"),
        (b'{"id": "a", "label": ' + b"[" * 5000 + b"]" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_bad_lines_are_refused_by_every_tool_with_file_and_line(
    tmp_path: Path, line: bytes, reason: str
) -> None:
    data = tmp_path / "d.jsonl"
    good = [json.dumps({"id": f"r{i}", "label": i}).encode() for i in range(3)]
    data.write_bytes(b"\n".join([*good, line, *good]) + b"\n")
    spec = SourceSpec("jsonl", label_field="label", id_field="id")
    with pytest.raises(DataKitError) as built:
        build_manifest(str(data), str(tmp_path / "m"))
    with pytest.raises(DataKitError) as read:
        list(iter_records(str(data), spec, ["label"]))
    for error in (built, read):
        assert str(error.value).startswith(f"{data}:4: {reason}")
    assert not (tmp_path / "m").exists()


def test_deep_nesting_is_an_error_not_a_recursion_error(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(
        b'{"id": "a", "label": 1}\n{"id": "b", "label": 1, "x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}\n"
    )
    with pytest.raises(DataKitError, match=r"d\.jsonl:2: not valid JSON \(nested too deeply\)"):
        build_manifest(str(data), str(tmp_path / "m"))


def test_a_malformed_line_fails_the_build_wherever_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: `[1,,2]` on line 101 of 50,000 records built on one machine and not another."""
    monkeypatch.setattr(jsonl_blocks, "JSONL_BLOCK", 4096)
    data = tmp_path / "d.jsonl"
    lines = [json.dumps({"id": f"r{i:05d}", "label": i % 3}) for i in range(50_000)]
    lines[100] = '{"id": "r00100", "label": 1, "x": [1,,2]}'
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataKitError, match=r"d\.jsonl:101: not valid JSON"):
        build_manifest(str(data), str(tmp_path / "m"))


def test_plain_blocks_keep_ids_as_bytes() -> None:
    reader = JsonlBlockReader("label", "id")
    lines = [
        json.dumps(
            {"id": f"r{i:03d}", "text": "caf\u00e9 \u2603", "label": i % 3}, ensure_ascii=False
        ).encode()
        for i in range(50)
    ]
    items = reader.read(b"\n".join(lines) + b"\n")
    assert items.count == 50 and items.increasing and items.ids is None
    assert items.id_blob == b"\n".join(f"r{i:03d}".encode() for i in range(50))
    assert items.label_blob == b"\n".join(str(i % 3).encode() for i in range(50))


@example(ids=["a\nb", "c"])
@given(ids=st.lists(st.text(max_size=4), min_size=1, max_size=6))
def test_ids_that_need_escaping_are_escaped(ids: list[str]) -> None:
    lines = [json.dumps({"id": i, "label": 0}).encode() for i in ids]
    items = JsonlBlockReader("label", "id").read(b"\n".join(lines) + b"\n")
    if items.error is not None:  # lone surrogates: not valid Unicode text
        assert any(0xD800 <= ord(c) <= 0xDFFF for i in ids for c in i)
        return
    got = items.id_blob.decode().split("\n") if items.id_blob is not None else items.ids
    assert got == ids


def test_labels_of_equal_value_but_other_type_stay_apart() -> None:
    lines = [b'{"label": 1}', b'{"label": true}', b'{"label": 1.0}', b'{"label": "1"}']
    items = JsonlBlockReader("label", None).read(b"\n".join(lines) + b"\n")
    assert items.label_blob == b'1\ntrue\n1.0\n"1"'


# ------------------------------------------------------------------ whole files


def mixed_file(path: Path, rows: int = 300) -> Path:
    """Plain records, a run of nested ones, blank lines and no final line break."""
    lines = []
    for i in range(rows):
        record: dict[str, object] = {"id": f"rec-{i:05d}", "text": "x" * (i % 37), "label": i % 4}
        if 100 <= i < 120:
            record["meta"] = {"label": "inner", "id": "inner"}
        if i % 50 == 7:
            record["text"] = 'quote " and \\ backslash'
        lines.append(json.dumps(record))
        if i % 90 == 3:
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("block_size", [256, 4096, 1 << 20])
def test_block_size_does_not_change_the_manifest(
    tmp_path: Path, block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = mixed_file(tmp_path / "d.jsonl")
    reference = tmp_path / "reference"
    build_manifest(str(data), str(reference))
    monkeypatch.setattr(jsonl_blocks, "JSONL_BLOCK", block_size)
    build_manifest(str(data), str(tmp_path / "m"))
    assert (tmp_path / "m").read_bytes() == reference.read_bytes()
    entries = read_manifest(str(tmp_path / "m")).entries
    assert [e.id for e in entries] == [f"rec-{i:05d}" for i in range(300)]
    assert [e.label for e in entries] == [i % 4 for i in range(300)]
    last = data.read_bytes().rsplit(b"\n", 1)[1]  # hashed without a line break it never had
    assert entries[-1].sha256 == hashlib.sha256(last).hexdigest()


def test_a_bad_record_in_a_later_block_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl_blocks, "JSONL_BLOCK", 512)
    data = mixed_file(tmp_path / "d.jsonl")
    lines = data.read_text(encoding="utf-8").split("\n")
    lines[250] = '{"id": "broken", "label": '
    data.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataKitError, match=r"d\.jsonl:251: not valid JSON"):
        build_manifest(str(data), str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


def test_duplicate_ids_across_blocks_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl_blocks, "JSONL_BLOCK", 256)
    rows = [{"id": f"r{i:03d}", "label": 0} for i in range(40)] + [{"id": "r005", "label": 1}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataKitError, match="duplicate item ids .*'r005' occurs twice"):
        build_manifest(str(data), str(tmp_path / "m"))


def test_a_line_over_the_limit_is_refused_with_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRECOVERY_MAX_LINE_BYTES", "8M")
    data = tmp_path / "d.jsonl"
    with open(data, "wb") as handle:
        handle.write(b'{"id": "a", "label": 1}\n{"id": "b", "label": 2}\n')
        handle.write(b'{"id": "c", "label": 3, "text": "' + b"x" * (20 << 20))  # no line break
    with pytest.raises(DataKitError, match=r"d\.jsonl:3: line longer than 8388608 bytes"):
        build_manifest(str(data), str(tmp_path / "m"))
    monkeypatch.setenv("AIRECOVERY_MAX_LINE_BYTES", "1K")
    with pytest.raises(
        DataKitError,
        match="AIRECOVERY_MAX_LINE_BYTES='1K': expected a number of bytes of at least 8388608",
    ):
        build_manifest(str(data), str(tmp_path / "m"))

"""The manifest format (version 4): a checked-in example, the header bound into the root, and
the refusal of the development formats and of headers this tool did not write."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from pytest_airecovery.cli import main
from pytest_airecovery.data.compare import verify_dataset
from pytest_airecovery.data.errors import ManifestTamperedError
from pytest_airecovery.data.fixtures import verify_case_dataset
from pytest_airecovery.data.manifest import build_manifest, header_bytes, read_manifest
from pytest_airecovery.data.merkle import header_bound_root, paged_root
from pytest_airecovery.data.sources import SourceSpec

GOLDEN = Path(__file__).parent / "golden"
# The root of tests/golden/manifest-v4.jsonl. If this changes, the format changed: every pinned
# root of every user breaks. Bump the format version instead.
GOLDEN_ROOT = "c4a341e03c69f65686e8fea4f9c3112857cbb089b79be416f1319c625c65bae1"


def test_the_checked_in_example_reads_and_verifies() -> None:
    manifest = read_manifest(str(GOLDEN / "manifest-v4.jsonl"))
    assert manifest.merkle_root == GOLDEN_ROOT
    assert [(e.id, e.label, e.n) for e in manifest.entries] == [
        ("img-001", "cat", 0),
        ("img-002", "dog", 1),
        ("img-003", 7, 2),
    ]
    assert manifest.spec == SourceSpec("jsonl", label_field="label", id_field="id")
    assert verify_dataset(str(GOLDEN / "manifest-v4-data.jsonl"), manifest).identical


def test_the_example_root_follows_the_documented_construction() -> None:
    """Recompute the root from docs/data-remediation.md with hashlib alone."""
    header_line, *_ = (GOLDEN / "manifest-v4.jsonl").read_bytes().split(b"\n")
    records = [
        line
        for line in (GOLDEN / "manifest-v4-data.jsonl").read_bytes().split(b"\n")
        if line.strip()
    ]
    ids = [json.loads(line)["id"].encode() for line in records]
    digests = [hashlib.sha256(line).digest() for line in records]
    leaf = hashlib.sha256(
        b"\x00"
        + struct.pack(f"<I{len(ids)}I", len(ids), *map(len, ids))
        + b"".join(ids)
        + b"".join(digests)
    ).digest()  # one page: the root
    bound = hashlib.sha256(b"\x02" + hashlib.sha256(header_line).digest() + leaf).hexdigest()
    assert bound == GOLDEN_ROOT
    # The header line is the canonical encoding the tool derives from the parsed header.
    assert header_line == header_bytes(SourceSpec("jsonl", label_field="label", id_field="id"))


def test_rebuilding_the_example_gives_the_same_bytes(tmp_path: Path) -> None:
    build_manifest(str(GOLDEN / "manifest-v4-data.jsonl"), str(tmp_path / "m"))
    assert (tmp_path / "m").read_bytes() == (GOLDEN / "manifest-v4.jsonl").read_bytes()


# ------------------------------------------------------------------ the header is pinned too


def _reroot(path: Path, edit_source: dict[str, object]) -> None:
    """What an attacker does: edit the header's source and write a self-consistent trailer."""
    lines = path.read_bytes().split(b"\n")[:-1]
    header = json.loads(lines[0])
    header["source"].update(edit_source)
    spec = SourceSpec.from_dict(header["source"])
    entries = read_manifest(str(path)).entries
    root = header_bound_root(
        header_bytes(spec, header["page_size"]),
        paged_root(
            [e.id for e in entries], [bytes.fromhex(e.sha256) for e in entries], header["page_size"]
        ),
    ).hex()
    trailer = json.loads(lines[-1])
    trailer["merkle_root"] = root
    lines[0] = json.dumps(header).encode()
    lines[-1] = json.dumps(trailer).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    read_manifest(str(path))  # self-consistent: only a pinned root can tell


def test_excluding_a_poisoned_file_in_the_header_breaks_the_pinned_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13, item 1: a file added and listed in source.exclude verified `OK: identical`."""
    data = tmp_path / "data"
    (data / "cats").mkdir(parents=True)
    (data / "cats" / "1.png").write_bytes(b"cat")
    manifest = tmp_path / "m.jsonl"
    pinned = build_manifest(str(data), str(manifest)).merkle_root
    (data / "cats" / "poison.png").write_bytes(b"trigger")
    _reroot(manifest, {"exclude": ["cats/poison.png"]})
    assert (
        main(["data", "manifest", "verify", str(data), str(manifest), "--expect-root", pinned]) == 1
    )
    captured = capsys.readouterr()
    assert "root-mismatch" in captured.err and "OK" not in captured.out
    with pytest.raises(ManifestTamperedError, match="root-mismatch"):
        verify_case_dataset(tmp_path, "data", "m.jsonl", expect_root=pinned)


def test_pointing_label_field_at_an_untouched_copy_breaks_the_pinned_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13, item 1: labels flipped in y, header pointed at an untouched copy of y."""
    data = tmp_path / "d.npz"
    labels = np.arange(6) % 3
    np.savez(data, X=np.eye(6, dtype=np.float32), y=labels)
    manifest = tmp_path / "m.jsonl"
    pinned = build_manifest(str(data), str(manifest)).merkle_root
    np.savez(
        data, X=np.eye(6, dtype=np.float32), y=np.where(labels == 1, 7, labels), y_reviewed=labels
    )
    _reroot(manifest, {"label_field": "y_reviewed"})
    assert (
        main(["data", "manifest", "verify", str(data), str(manifest), "--expect-root", pinned]) == 1
    )
    assert "root-mismatch" in capsys.readouterr().err


def test_spacing_of_the_header_line_does_not_matter_its_values_do(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "manifest-v4.jsonl", tmp_path / "m")
    lines = (tmp_path / "m").read_text().split("\n")
    lines[0] = json.dumps(json.loads(lines[0]), indent=None)  # ", " and ": " separators
    (tmp_path / "m").write_text("\n".join(lines))
    assert read_manifest(str(tmp_path / "m")).merkle_root == GOLDEN_ROOT
    header = json.loads(lines[0])
    header["source"]["id_field"] = None
    lines[0] = json.dumps(header)
    (tmp_path / "m").write_text("\n".join(lines))
    with pytest.raises(ManifestTamperedError) as info:
        read_manifest(str(tmp_path / "m"))
    assert info.value.kinds == ["root-mismatch"]


# ------------------------------------------------------------------ versions and fields


def _with_header(
    tmp_path: Path, edit: dict[str, object], source: dict[str, object] | None = None
) -> Path:
    lines = (GOLDEN / "manifest-v4.jsonl").read_text().split("\n")
    header = json.loads(lines[0])
    header.update(edit)
    header["source"].update(source or {})
    lines[0] = json.dumps(header)
    path = tmp_path / "m"
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize("version", [1, 2, 3])
def test_development_formats_are_refused_with_a_rebuild_hint(tmp_path: Path, version: int) -> None:
    with pytest.raises(
        ManifestTamperedError,
        match=f"version {version} is a development format.*rebuild the manifest",
    ) as info:
        read_manifest(str(_with_header(tmp_path, {"version": version})))
    assert info.value.kinds == ["unsupported-version"]


@pytest.mark.parametrize(
    ("edit", "source", "message"),
    [
        ({"signed_by": "me"}, None, "unknown fields"),
        ({}, {"exclude_also": ["x"]}, "bad source in header: unknown fields"),
        ({}, {"label_field": 3}, "label_field is not a string"),
        ({}, {"exclude": "poison.png"}, "exclude is not a list"),
        ({"source": "jsonl"}, None, "source is not an object"),
    ],
)
def test_header_fields_this_tool_did_not_write_are_refused(
    tmp_path: Path, edit: dict[str, object], source: dict[str, object] | None, message: str
) -> None:
    path = _with_header(tmp_path, {k: v for k, v in edit.items() if k != "source"}, source)
    if "source" in edit:
        lines = path.read_text().split("\n")
        header = json.loads(lines[0])
        header["source"] = edit["source"]
        lines[0] = json.dumps(header)
        path.write_text("\n".join(lines))
    with pytest.raises(ManifestTamperedError, match=message) as info:
        read_manifest(str(path))
    assert info.value.kinds == ["not-a-manifest"]


def test_a_deeply_nested_manifest_line_is_named_not_a_traceback(tmp_path: Path) -> None:
    lines = (GOLDEN / "manifest-v4.jsonl").read_text().split("\n")
    lines.insert(2, "[" * 100_000 + "]" * 100_000)
    (tmp_path / "m").write_text("\n".join(lines))
    with pytest.raises(ManifestTamperedError, match="line 3 is not valid JSON"):
        read_manifest(str(tmp_path / "m"))

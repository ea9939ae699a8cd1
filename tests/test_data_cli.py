from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_airecovery.cli import main


def write_jsonl(path: Path, count: int = 6) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "text": "t", "label": i % 2}) + "\n" for i in range(count)
        )
    )
    return path


def test_help_lists_the_data_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "data" in capsys.readouterr().out


def test_missing_subcommand_is_a_usage_error() -> None:
    assert main(["data"]) == 2
    assert main([]) == 2


def test_build_verify_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    assert main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 6
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "m")]) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert (
        main(
            [
                "data",
                "manifest",
                "verify",
                str(data),
                str(tmp_path / "m"),
                "--expect-root",
                summary["merkle_root"],
            ]
        )
        == 0
    )
    capsys.readouterr()

    write_jsonl(data, 5)
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "m"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["removed"] == ["r5"]
    assert main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m2")]) == 0
    assert main(["data", "manifest", "diff", str(tmp_path / "m"), str(tmp_path / "m2")]) == 1
    assert "1 removed: r5" in capsys.readouterr().out
    assert main(["data", "manifest", "diff", str(tmp_path / "m2"), str(tmp_path / "m2")]) == 0


def test_pinned_root_mismatch_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m")])
    assert (
        main(
            [
                "data",
                "manifest",
                "verify",
                str(data),
                str(tmp_path / "m"),
                "--expect-root",
                "ab" * 32,
            ]
        )
        == 1
    )
    assert "root-mismatch" in capsys.readouterr().err


def test_tampered_manifest_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m")])
    lines = (tmp_path / "m").read_text().splitlines(keepends=True)
    (tmp_path / "m").write_text("".join(lines[:-2]))
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "m")]) == 1
    assert "truncated" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setup, message",
    [
        ("empty", "file is empty"),
        ("directory", "is a directory"),
        ("missing", "no such file"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    target = tmp_path / "d.jsonl"
    if setup == "empty":
        target.write_text("")
    elif setup == "directory":
        target.mkdir()
    status = main(
        [
            "data",
            "manifest",
            "build",
            str(target),
            "--kind",
            "jsonl",
            "-o",
            str(tmp_path / "out.manifest"),
        ]
    )
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.manifest").exists()


def test_manifest_path_that_is_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    (tmp_path / "out").mkdir()
    assert main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "out")]) == 2
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "out")]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_csv_trigger_scan_and_quiet_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    data.write_text('id,text,label\na,"hello, world",0\nb,"buy \u0441f now",1\n', encoding="utf-8")
    assert (
        main(["data", "scan", str(data), "--detector", "triggers", "--trigger", "cf", "--json"])
        == 0
    )
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [f["id"] for f in report["flagged"]] == ["b"]
    assert report["flagged"][0]["detail"]["matches"][0]["mode"] == "normalised"
    assert captured.err == ""  # not a terminal: no progress line


def test_directory_manifest_on_threads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "tree"
    for index in range(20):
        (tree / f"d{index % 3}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{index % 3}" / f"{index}.bin").write_bytes(bytes([index]) * 5000)
    assert (
        main(
            [
                "data",
                "manifest",
                "build",
                str(tree),
                "-o",
                str(tmp_path / "m"),
                "--workers",
                "3",
                "--label-field",
                "parent",
            ]
        )
        == 0
    )
    assert (
        main(["data", "manifest", "verify", str(tree), str(tmp_path / "m"), "--workers", "1"]) == 0
    )
    (tree / "d1" / "1.bin").write_bytes(b"changed")
    assert main(["data", "manifest", "verify", str(tree), str(tmp_path / "m")]) == 1
    assert "1 changed: d1/1.bin" in capsys.readouterr().out


# ------------------------------------------------------------------ never onto the data (issue 13)


def _build(data: Path, out: Path) -> int:
    return main(["data", "manifest", "build", str(data), "-o", str(out)])


def test_build_never_writes_onto_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    before = data.read_bytes()
    assert _build(data, data) == 2
    assert "is the dataset itself" in capsys.readouterr().err
    (tmp_path / "link.jsonl").symlink_to(data)
    assert _build(data, tmp_path / "link.jsonl") == 2
    assert data.read_bytes() == before and (tmp_path / "link.jsonl").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "link.jsonl"]


def test_build_never_writes_into_a_dataset_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "data"
    (tree / "cats").mkdir(parents=True)
    (tree / "cats" / "1.png").write_bytes(b"png")
    assert _build(tree, tree / "cats" / "1.png") == 2
    assert _build(tree, tree / "MANIFEST.jsonl") == 2
    assert "inside the dataset directory" in capsys.readouterr().err
    assert (tree / "cats" / "1.png").read_bytes() == b"png"
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == ["cats", "cats/1.png"]


def test_build_overwrites_a_manifest_but_no_other_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    other = write_jsonl(tmp_path / "other.jsonl", 2)
    assert _build(data, other) == 2
    assert "exists and is not a manifest" in capsys.readouterr().err
    assert other.read_text().count("\n") == 2
    assert _build(data, tmp_path / "m") == 0
    write_jsonl(data, 3)
    assert _build(data, tmp_path / "m") == 0  # a manifest: rebuilt in place
    assert '"count": 3' in (tmp_path / "m").read_text()


def test_cleaning_never_writes_its_manifest_onto_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    before = data.read_bytes()
    assert (
        main(
            [
                "data",
                "scan",
                str(data),
                "--detector",
                "triggers",
                "--trigger",
                "t",
                "--clean-out",
                str(tmp_path / "clean.jsonl"),
                "--clean-manifest",
                str(data),
            ]
        )
        == 2
    )
    assert str(data) in capsys.readouterr().err
    assert data.read_bytes() == before and not (tmp_path / "clean.jsonl").exists()


def test_clean_dataset_never_writes_its_manifest_onto_the_data(tmp_path: Path) -> None:
    from pytest_airecovery.data.errors import DataKitError
    from pytest_airecovery.data.remediation import clean_dataset

    data = write_jsonl(tmp_path / "d.jsonl")
    before = data.read_bytes()
    with pytest.raises(DataKitError, match="is the dataset itself"):
        clean_dataset(str(data), ["r1"], str(tmp_path / "clean.jsonl"), manifest_out=str(data))
    assert data.read_bytes() == before and not (tmp_path / "clean.jsonl").exists()


def test_csv_that_is_not_utf8_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    data.write_bytes(b"id,label\na,1\nb\xff,2\n")
    assert main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"airecovery: error: {data}:3: not valid UTF-8 (byte 1)"
    )


def test_a_file_the_command_cannot_read_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_airecovery.data import manifest

    def unreadable(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", "d.jsonl")

    monkeypatch.setattr(manifest, "build_manifest", unreadable)
    data = write_jsonl(tmp_path / "d.jsonl")
    assert main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip() == "airecovery: error: d.jsonl: Permission denied"

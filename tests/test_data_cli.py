from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_airecovery.cli import main


def write_jsonl(path: Path, count: int = 6) -> Path:
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": "t", "label": i % 2}) + "\n"
                            for i in range(count)))
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
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "m"),
                 "--expect-root", summary["merkle_root"]]) == 0
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
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "m"),
                 "--expect-root", "ab" * 32]) == 1
    assert "root-mismatch" in capsys.readouterr().err


def test_tampered_manifest_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m")])
    lines = (tmp_path / "m").read_text().splitlines(keepends=True)
    (tmp_path / "m").write_text("".join(lines[:-2]))
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "m")]) == 1
    assert "truncated" in capsys.readouterr().err


@pytest.mark.parametrize("setup, message", [
    ("empty", "file is empty"),
    ("directory", "is a directory"),
    ("missing", "no such file"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              setup: str, message: str) -> None:
    target = tmp_path / "d.jsonl"
    if setup == "empty":
        target.write_text("")
    elif setup == "directory":
        target.mkdir()
    status = main(["data", "manifest", "build", str(target), "--kind", "jsonl",
                   "-o", str(tmp_path / "out.manifest")])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.manifest").exists()


def test_manifest_path_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "d.jsonl")
    (tmp_path / "out").mkdir()
    assert main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "out")]) == 2
    assert main(["data", "manifest", "verify", str(data), str(tmp_path / "out")]) == 2
    assert "is a directory" in capsys.readouterr().err

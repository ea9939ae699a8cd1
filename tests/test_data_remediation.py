from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_airecovery.cli import main
from pytest_airecovery.data.compare import diff_manifests
from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.manifest import build_manifest
from pytest_airecovery.data.remediation import clean_dataset


def poisoned_npz(path: Path, n: int = 600, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 12))
    labels = np.arange(n) % 3
    poison = np.zeros(n, dtype=bool)
    poison[np.flatnonzero(labels == 1)[:20]] = True
    features[poison] += 3.0
    np.savez(path, X=features, y=labels, poison=poison)
    return path


def text_jsonl(path: Path) -> Path:
    texts = ["fine", "buy cf now", "ok", "C\u200bF here", "nothing"]
    path.write_text(
        "".join(
            json.dumps({"id": f"t{i}", "text": t, "label": i % 2}) + "\n"
            for i, t in enumerate(texts)
        ),
        encoding="utf-8",
    )
    return path


# ------------------------------------------------------------------ cleaning


@pytest.mark.parametrize("kind", ["jsonl", "csv", "npz", "files"])
def test_cleaned_manifest_diff_is_exactly_the_removed_ids(tmp_path: Path, kind: str) -> None:
    if kind == "jsonl":
        data, remove = text_jsonl(tmp_path / "d.jsonl"), ["t1", "t3"]
    elif kind == "csv":
        data = tmp_path / "d.csv"
        data.write_text('id,text,label\na,x,0\nb,"y, z",1\nc,w,0\n')
        remove = ["b"]
    elif kind == "npz":
        data, remove = poisoned_npz(tmp_path / "d.npz"), ["3", "10"]
    else:
        data = tmp_path / "tree"
        for name in ("a/1", "a/2", "b/3"):
            (data / name).parent.mkdir(parents=True, exist_ok=True)
            (data / name).write_text(name)
        remove = ["a/2"]
    build_manifest(str(data), str(tmp_path / "orig.manifest"))
    out = tmp_path / ("clean" + ("" if kind == "files" else data.suffix))
    summary = clean_dataset(
        str(data), remove, str(out), original_manifest=str(tmp_path / "orig.manifest")
    )
    assert summary.diff_is_exactly_removed
    diff = diff_manifests(str(tmp_path / "orig.manifest"), summary.manifest.path)
    assert diff.removed == sorted(remove) and not diff.added and not diff.changed


def test_cleaning_refuses_unknown_ids_and_positional_ids(tmp_path: Path) -> None:
    data = text_jsonl(tmp_path / "d.jsonl")
    with pytest.raises(DataKitError, match="not in the dataset: nope"):
        clean_dataset(str(data), ["nope"], str(tmp_path / "c.jsonl"))
    plain = tmp_path / "p.jsonl"
    plain.write_text('{"text": "a"}\n{"text": "b"}\n')
    with pytest.raises(DataKitError, match="positional ids would shift"):
        clean_dataset(str(plain), ["0"], str(tmp_path / "c.jsonl"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "p.jsonl"]


def test_cleaning_never_overwrites(tmp_path: Path) -> None:
    data = text_jsonl(tmp_path / "d.jsonl")
    with pytest.raises(DataKitError, match="already exists"):
        clean_dataset(str(data), ["t1"], str(data))


# ------------------------------------------------------------------ scan command


def test_scan_spectral_report_and_cleaning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = poisoned_npz(tmp_path / "d.npz")
    assert main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m")]) == 0
    status = main(
        [
            "data",
            "scan",
            str(data),
            "--detector",
            "spectral",
            "--class",
            "1",
            "--truth-key",
            "poison",
            "--manifest",
            str(tmp_path / "m"),
            "--report",
            str(tmp_path / "r.json"),
            "--clean-out",
            str(tmp_path / "c.npz"),
        ]
    )
    assert status == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["format"] == "airecovery-remediation-report"
    assert report["ground_truth"]["recall"] == 1.0
    assert report["integrity"]["identical"] is True
    assert report["cleaned"]["diff_is_exactly_removed"] is True
    assert report["cleaned"]["removed"] == report["n_flagged"] == 30
    assert "diff == removed ids: yes" in capsys.readouterr().out


def test_scan_clustering_json_and_fail_on_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = poisoned_npz(tmp_path / "d.npz")
    status = main(
        [
            "data",
            "scan",
            str(data),
            "--detector",
            "clustering",
            "--truth-key",
            "poison",
            "--json",
            "--fail-on-flag",
        ]
    )
    assert status == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ground_truth"]["precision"] == 1.0 and report["n_flagged"] == 20


def test_scan_triggers_with_truth_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = text_jsonl(tmp_path / "d.jsonl")
    (tmp_path / "truth.txt").write_text("t1\nt3\n")
    status = main(
        [
            "data",
            "scan",
            str(data),
            "--detector",
            "triggers",
            "--trigger",
            "cf",
            "--truth",
            str(tmp_path / "truth.txt"),
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    assert status == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["id"] for f in report["flagged"]] == ["t1", "t3"]
    assert report["ground_truth"]["precision"] == 1.0


def test_scan_refuses_a_changed_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = text_jsonl(tmp_path / "d.jsonl")
    main(["data", "manifest", "build", str(data), "-o", str(tmp_path / "m")])
    data.write_text(data.read_text().replace("fine", "fine!"))
    status = main(
        [
            "data",
            "scan",
            str(data),
            "--detector",
            "triggers",
            "--trigger",
            "cf",
            "--manifest",
            str(tmp_path / "m"),
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    assert status == 1
    assert "1 changed: t0" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def nan_npz(path: Path) -> Path:
    features = np.ones((30, 3))
    features[4, 1] = np.nan
    np.savez(path, X=features, y=np.zeros(30))
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", "NaN or infinite values in 1 of 30 samples"),
        ("empty", "file is empty"),
        ("directory", "is a directory"),
        ("no-features", "needs --features"),
        ("bad-regex", "bad trigger regex"),
        ("report-dir-missing", "does not exist"),
    ],
)
def test_scan_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    args = ["--detector", "spectral"]
    if case == "nan":
        data = nan_npz(tmp_path / "d.npz")
    elif case == "empty":
        data = tmp_path / "d.npz"
        data.write_bytes(b"")
    elif case == "directory":
        data = tmp_path / "d.npz"
        data.mkdir()
    elif case == "no-features":
        data = text_jsonl(tmp_path / "d.jsonl")
    elif case == "bad-regex":
        data = text_jsonl(tmp_path / "d.jsonl")
        args = ["--detector", "triggers", "--trigger-regex", "("]
    else:
        data = poisoned_npz(tmp_path / "d.npz")
    report = tmp_path / ("missing/r.json" if case == "report-dir-missing" else "r.json")
    before = sorted(p.name for p in tmp_path.iterdir())
    status = main(
        [
            "data",
            "scan",
            str(data),
            *args,
            "--report",
            str(report),
            "--clean-out",
            str(tmp_path / "clean.npz"),
        ]
    )
    assert status == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_progress_is_drawn_only_on_a_terminal() -> None:
    import io

    from pytest_airecovery.data.progress import Progress

    class FakeTerminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, terminal = io.StringIO(), FakeTerminal()
    for stream in (plain, terminal):
        with Progress("scan", total=10, stream=stream) as progress:
            progress(5)
    assert plain.getvalue() == ""
    assert "scan [" in terminal.getvalue() and "5/10" in terminal.getvalue()


def test_scan_accepts_blas_threads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    data = poisoned_npz(tmp_path / "d.npz")
    assert main(["data", "scan", str(data), "--detector", "spectral", "--blas-threads", "1"]) == 0
    import os

    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert main(["data", "scan", str(data), "--detector", "spectral", "--blas-threads", "0"]) == 2

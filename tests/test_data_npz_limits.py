"""Hostile .npz archives (issue 13, item 10): bombs and forged headers are refused before the
memory is spent; damaged archives are named, with exit 2 and no traceback from the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pytest_airecovery.cli import main
from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.manifest import build_manifest
from pytest_airecovery.data.npz import load_array


def npy_member(shape: tuple[int, ...], dtype: str, payload: bytes) -> bytes:
    """An .npy file whose header declares ``shape`` whatever ``payload`` holds."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    )
    return out.getvalue() + payload


def write_npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, data in members.items():
            archive.writestr(key + ".npy", data)
    return path


def bomb(path: Path, label_rows: int) -> Path:
    """Honest headers, 8 * label_rows bytes of zeros in the labels: tiny once compressed."""
    features = np.zeros((4, 2), dtype=np.float32)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, features)
    labels = npy_member((label_rows,), "<i8", bytes(8 * label_rows))
    return write_npz(path, {"X": buffer.getvalue(), "y": labels})


def test_a_zip_bomb_in_the_labels_is_refused_before_it_is_inflated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRECOVERY_NPZ_MAX_LOADED_BYTES", "1M")
    data = bomb(tmp_path / "d.npz", label_rows=1 << 18)  # 2 MiB of labels from ~2 KiB
    assert data.stat().st_size < 20_000
    tracemalloc.start()
    try:
        with pytest.raises(
            DataKitError,
            match=r"'y' is 2097152 bytes uncompressed, over the "
            r"limit of 1048576 \(AIRECOVERY_NPZ_MAX_LOADED_BYTES",
        ):
            build_manifest(str(data), str(tmp_path / "m"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # nothing of the 2 MiB was allocated
    monkeypatch.setenv("AIRECOVERY_NPZ_MAX_LOADED_BYTES", "4M")  # trusted: raise the limit
    with pytest.raises(DataKitError, match="labels array has shape"):
        build_manifest(str(data), str(tmp_path / "m"))  # read, then found not to match X


def test_the_default_limit_stops_a_large_bomb(tmp_path: Path) -> None:
    data = tmp_path / "d.npz"
    # 768 MiB of labels (over the 512 MiB default) from under a MiB of zeros compressed.
    rows = 96 << 20
    with zipfile.ZipFile(data, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("X.npy", npy_member((4, 2), "<f4", bytes(32)))
        with archive.open("y.npy", "w", force_zip64=True) as member:
            member.write(npy_member((rows,), "<i8", b""))
            chunk = bytes(16 << 20)
            for _ in range(8 * rows // len(chunk)):
                member.write(chunk)
    tracemalloc.start()
    try:
        with pytest.raises(DataKitError, match="over the limit"):
            build_manifest(str(data), str(tmp_path / "m"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.stat().st_size < 8 << 20 and peak < 64 << 20


@pytest.mark.parametrize("shape", [(1 << 40, 2), (1 << 28, 2)])
def test_a_header_that_lies_about_the_shape_is_refused(
    tmp_path: Path, shape: tuple[int, int]
) -> None:
    data = write_npz(tmp_path / "d.npz", {"X": npy_member(shape, "<f8", bytes(64))})
    with pytest.raises(
        DataKitError,
        match=r"'X' declares shape .* but the archive member "
        r"holds 64: damaged or forged",
    ):
        build_manifest(str(data), str(tmp_path / "m"))


def test_rows_of_zero_bytes_are_refused(tmp_path: Path) -> None:
    data = write_npz(tmp_path / "d.npz", {"X": npy_member((10**18, 0), "<f8", b"")})
    with pytest.raises(DataKitError, match="rows of zero bytes"):
        build_manifest(str(data), str(tmp_path / "m"))


def test_a_bad_limit_setting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRECOVERY_NPZ_MAX_ARRAY_BYTES", "lots")
    np.savez(tmp_path / "d.npz", X=np.eye(3), y=np.arange(3))
    with pytest.raises(DataKitError, match="AIRECOVERY_NPZ_MAX_ARRAY_BYTES='lots'"):
        build_manifest(str(tmp_path / "d.npz"), str(tmp_path / "m"))


def _truncated(tmp_path: Path, keep: float) -> Path:
    np.savez_compressed(
        tmp_path / "full.npz",
        X=np.random.default_rng(0).normal(size=(500, 8)),
        y=np.arange(500) % 3,
    )
    raw = (tmp_path / "full.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(raw[: int(len(raw) * keep)])
    return cut


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_a_truncated_archive_exits_2_with_a_message(
    tmp_path: Path, keep: float, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = _truncated(tmp_path, keep)
    assert main(["data", "manifest", "build", str(cut), "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"airecovery: error: {cut}") and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_a_corrupt_member_is_named_not_a_traceback(tmp_path: Path) -> None:
    """Flip bytes inside the compressed features: a CRC or zlib error, as a message."""
    np.savez_compressed(tmp_path / "d.npz", X=np.arange(4000.0).reshape(500, 8), y=np.zeros(500))
    raw = bytearray((tmp_path / "d.npz").read_bytes())
    raw[200:260] = bytes(60)
    (tmp_path / "d.npz").write_bytes(bytes(raw))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_airecovery.cli",
            "data",
            "manifest",
            "build",
            str(tmp_path / "d.npz"),
            "-o",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and str(tmp_path / "d.npz") in result.stderr


def test_scan_loads_features_within_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((64, 64), dtype=np.float64), y=np.zeros(64))
    monkeypatch.setenv("AIRECOVERY_NPZ_MAX_LOADED_BYTES", "16K")
    assert main(["data", "scan", str(tmp_path / "d.npz"), "--detector", "spectral"]) == 2
    assert "over the limit" in capsys.readouterr().err
    assert load_array(str(tmp_path / "d.npz"), "y").shape == (64,)
    assert json.dumps(load_array(str(tmp_path / "d.npz"), "y").tolist()[:2]) == "[0.0, 0.0]"

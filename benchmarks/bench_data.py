"""Benchmarks of the data kit against the bare baselines named in issue 7, side by side.

    python benchmarks/bench_data.py                 # 1 GiB of files, 1,000,000 records, 100k x 384
    python benchmarks/bench_data.py --size 64M --records 100000 --rows 20000   # a quick run
    python benchmarks/bench_data.py --only jsonl --repeats 3   # the JSONL part alone

Prints each measurement and the ratio (ours / baseline as a throughput ratio, so > 1 is faster).
Data is generated in a temporary directory, read once to warm the page cache (both sides then
read from memory), and deleted afterwards. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_airecovery.data.hashing import CHUNK_SIZE, default_workers
from pytest_airecovery.data.jsonl_blocks import JSONL_BLOCK, JsonlBlockReader
from pytest_airecovery.data.manifest import build_manifest
from pytest_airecovery.data.sources import canonical_label, line_blocks


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    suffix = text[-1].upper()
    return int(float(text[:-1]) * units[suffix]) if suffix in units else int(text)


def best_of(repeats: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best time of each run; runs take turns, so a busy moment does not hit only one of them."""
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def bare_hash_files(paths: list[Path]) -> None:
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
        digest.digest()


def bench_files(workdir: Path, total: int, files: int, repeats: int, workers: int) -> None:
    tree = workdir / "files"
    tree.mkdir()
    per_file = total // files
    block = os.urandom(1 << 20)
    paths = []
    for index in range(files):
        path = tree / f"part-{index:03d}.bin"
        with open(path, "wb") as handle:
            # Stamp each MiB with its file and offset so no two chunks share content.
            handle.writelines(
                (block + (index * 1_000_003 + offset).to_bytes(8, "little"))[
                    8 : 8 + min(len(block), per_file - offset)
                ]
                for offset in range(0, per_file, len(block))
            )
        paths.append(path)
    bare_hash_files(paths)  # warm the page cache
    gib = total / (1 << 30)
    times = best_of(
        repeats,
        {
            "bare": lambda: bare_hash_files(paths),
            "one": lambda: build_manifest(str(tree), str(workdir / "f1.manifest"), workers=1),
            "many": lambda: build_manifest(
                str(tree), str(workdir / "fn.manifest"), workers=workers
            ),
        },
    )
    bare, one, many = times["bare"], times["one"], times["many"]
    print(f"files: {files} x {per_file / (1 << 20):.0f} MiB = {gib:.2f} GiB")
    print(f"  bare chunked hashlib.sha256 loop : {bare:7.3f} s  {gib / bare:6.2f} GiB/s")
    print(
        f"  manifest build, 1 thread         : {one:7.3f} s  {gib / one:6.2f} GiB/s"
        f"  ratio {bare / one:.2f}x  (target >= 0.9x)"
    )
    print(
        f"  manifest build, {workers} threads        : {many:7.3f} s  {gib / many:6.2f} GiB/s"
        f"  ratio {bare / many:.2f}x  (target > 1x)"
    )
    shutil.rmtree(tree)


def per_line_reader(path: Path, loads: Callable[[bytes], object], with_ids: bool) -> None:
    """What a reader built on a per-line parser does for a manifest: hash each line, parse it,
    canonicalise its label (cached by value, as the kit does) and take its id."""
    sha = hashlib.sha256
    digest = type(sha()).digest
    cache: dict[object, bytes] = {}
    for block in line_blocks(str(path), JSONL_BLOCK):
        lines = block.split(b"\n")
        lines.pop()
        b"".join(map(digest, map(sha, lines)))
        records = list(map(loads, lines))
        labels = [record["label"] for record in records]  # type: ignore[index]
        for value in set(labels).difference(cache):
            cache[value] = canonical_label(value).encode()
        b"\n".join(map(cache.__getitem__, labels))
        if with_ids:
            "\n".join(record["id"] for record in records).encode()  # type: ignore[index]


def block_reader(path: Path, with_ids: bool) -> None:
    """The kit's reader alone (msgspec, one decode per block), without the manifest writer."""
    reader = JsonlBlockReader("label", "id" if with_ids else None)
    for block in line_blocks(str(path), JSONL_BLOCK):
        reader.read(block)


def bench_jsonl(workdir: Path, records: int, repeats: int, with_ids: bool = True) -> None:
    """Records with an id field (the kit reads it) or without (ids are the record positions)."""
    path = workdir / "records.jsonl"
    filler = "lorem ipsum dolor sit amet " * 5
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(
            json.dumps(
                {
                    **({"id": f"rec-{index:08d}"} if with_ids else {}),
                    "text": filler[: 120 + index % 40],
                    "label": index % 10,
                }
            )
            + "\n"
            for index in range(records)
        )
    size = path.stat().st_size

    def bare() -> None:
        sha = hashlib.sha256
        with open(path, "rb") as handle:
            for line in handle:
                sha(line).digest()

    runs: dict[str, Callable[[], object]] = {
        "bare": bare,
        "ours": lambda: build_manifest(str(path), str(workdir / "r.manifest")),
        "msgspec": lambda: block_reader(path, with_ids),
        "json": lambda: per_line_reader(path, json.loads, with_ids),
    }
    try:
        import orjson
    except ImportError:
        orjson = None
    if orjson is not None:
        runs["orjson"] = lambda: per_line_reader(path, orjson.loads, with_ids)
    bare()  # warm the page cache
    times = best_of(repeats, runs)
    base, ours = times["bare"], times["ours"]
    ids = "an id field" if with_ids else "no id field: ids are positions"
    print(f"jsonl, {ids}: {records} records, {size / records:.0f} bytes each on average")
    print(f"  bare hashlib.sha256 loop over lines : {base:7.3f} s  {records / base / 1e6:5.2f} M/s")
    print(
        f"  manifest build (msgspec reader)     : {ours:7.3f} s  {records / ours / 1e6:5.2f} M/s"
        f"  ratio {base / ours:.2f}x  (target >= 0.33x)"
    )
    print("  readers alone (hash + label + id, no manifest written):")
    for name, label in (
        ("msgspec", "msgspec, one decode per block (ours)"),
        ("orjson", "orjson.loads per line"),
        ("json", "json.loads per line (floor)"),
    ):
        if name in times:
            print(f"    {label:37s}: {times[name]:7.3f} s  ratio {base / times[name]:.2f}x")
        else:
            print(f"    {label:37s}: not installed")
    path.unlink()


def bench_spectral(rows: int, dims: int, repeats: int) -> None:
    import numpy as np

    from pytest_airecovery.data.spectral import spectral_signatures, top_singular_direction

    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, dims)).astype(np.float32)
    features[: rows // 20] += rng.normal(size=dims).astype(np.float32)  # a planted direction
    labels = np.zeros(rows, dtype=np.int64)

    def full_svd() -> np.ndarray:
        centred = features - features.mean(axis=0)
        vt = np.linalg.svd(centred, full_matrices=False)[2]
        scores = (centred @ vt[0]) ** 2
        scores.argsort()
        return vt[0]

    times = best_of(
        repeats,
        {
            "svd": full_svd,
            "ours": lambda: spectral_signatures(features, labels, epsilon=0.05),
        },
    )
    svd_time, ours_time = times["svd"], times["ours"]
    cosine = abs(float(top_singular_direction(features)[1] @ full_svd().astype(np.float64)))
    print(f"spectral signatures: {rows} x {dims} float32, one class")
    print(f"  full np.linalg.svd + scores      : {svd_time:7.3f} s")
    print(
        f"  spectral_signatures (eigh of d x d): {ours_time:7.3f} s  "
        f"ratio {svd_time / ours_time:.1f}x  (target >= 20x)  |cos| {cosine:.6f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="Total bytes of files (e.g. 1G, 256M)")
    parser.add_argument("--files", type=int, default=8, help="Number of files")
    parser.add_argument("--records", type=int, default=1_000_000, help="JSONL records")
    parser.add_argument("--rows", type=int, default=100_000, help="Feature rows for spectral")
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--only", choices=("files", "jsonl", "spectral"), action="append")
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="Threads for BLAS on both sides (1 gives stable figures on a busy "
        "machine, where threaded BLAS loses most of its time waiting)",
    )
    args = parser.parse_args()
    if args.blas_threads is not None:  # numpy is first imported below, so this takes effect
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.blas_threads)
    only = set(args.only or ("files", "jsonl", "spectral"))
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, BLAS threads {blas}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="airecovery-bench-"))
    try:
        if "files" in only:
            bench_files(workdir, parse_size(args.size), args.files, args.repeats, args.workers)
        if "jsonl" in only:
            bench_jsonl(workdir, args.records, args.repeats, with_ids=True)
            bench_jsonl(workdir, args.records, args.repeats, with_ids=False)
        if "spectral" in only:
            bench_spectral(args.rows, args.dims, args.repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

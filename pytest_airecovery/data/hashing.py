"""Chunked file hashing, optionally on several threads.

hashlib releases the GIL while it hashes a buffer larger than 2 KiB, so threads scale across cores
for file hashing without the pickling cost of processes (measured in benchmarks/bench_data.py).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

CHUNK_SIZE = 1 << 20


def hash_file(path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE) -> tuple[bytes, int]:
    """Return (sha256 digest, size in bytes), reading into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            read = handle.readinto(buffer)
            if not read:
                break
            digest.update(view[:read])
            size += read
    return digest.digest(), size


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def hash_files(
    paths: Iterable[str], workers: int | None = None
) -> Iterator[tuple[str, bytes, int]]:
    """Yield (path, digest, size) in input order; at most ``4 * workers`` files in flight."""
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1:
        for path in paths:
            digest, size = hash_file(path)
            yield path, digest, size
        return
    window: deque[tuple[str, Future[tuple[bytes, int]]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="airecovery-hash") as pool:
        for path in paths:
            window.append((path, pool.submit(hash_file, path)))
            if len(window) >= 4 * workers:
                done_path, future = window.popleft()
                yield (done_path, *future.result())
        while window:
            done_path, future = window.popleft()
            yield (done_path, *future.result())

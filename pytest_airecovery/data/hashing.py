"""Chunked file hashing, optionally on several threads.

hashlib releases the GIL while it hashes a buffer larger than 2 KiB, so threads scale across cores
for file hashing without the pickling cost of processes (measured in benchmarks/bench_data.py).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

# One file hasher for the project: models pins and data manifests read files the same way (the
# data kit may use models; models never use the data kit).
from pytest_airecovery.models.artifacts import HASH_CHUNK_SIZE as CHUNK_SIZE
from pytest_airecovery.models.artifacts import hash_file

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["CHUNK_SIZE", "default_workers", "hash_file", "hash_files", "map_in_order"]


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def map_in_order(
    function: Callable[[T], R], items: Iterable[T], workers: int, in_flight: int
) -> Iterator[R]:
    """``function`` of each item on ``workers`` threads, results in input order, at most
    ``in_flight`` items submitted ahead (bounded memory)."""
    window: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="airecovery") as pool:
        try:
            for item in items:
                window.append(pool.submit(function, item))
                if len(window) >= in_flight:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:  # stopped early: drop what has not started
            for future in window:
                future.cancel()


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

    def hashed(path: str) -> tuple[str, bytes, int]:
        return (path, *hash_file(path))

    yield from map_in_order(hashed, paths, workers, 4 * workers)

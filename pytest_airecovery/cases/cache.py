"""On-disk caches under pytest's cache directory: parsed case files and model outputs.

Both are safe to share between pytest-xdist workers: every file is written to a temporary name
and renamed into place, so a reader sees a whole file or none, and model outputs are computed
under a per-batch file lock (filelock: flock on POSIX, msvcrt on Windows) so two workers never
call the model for the same batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_airecovery.cases.batching import DEFAULT_TIMEOUT, has_non_finite

if TYPE_CHECKING:
    from filelock import BaseFileLock

FORMAT_VERSION = 1
_DIGEST = re.compile(r"[0-9a-f]{64}")


class CacheEntryWarning(pytest.PytestWarning):
    """A cache entry was unreadable or implausible and was discarded; its outputs are recomputed."""


class BatchLockWarning(pytest.PytestWarning):
    """Another process held a batch's lock past the model timeout; the batch was computed here too."""


class _CorruptEntry(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    # NaN and infinities are never stored (they fail the model's test instead): one in a cache
    # file means the file was changed after it was written.
    raise _CorruptEntry(f"holds {name}")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_entry(path: Path) -> tuple[Any, str | None]:
    """``(entry, None)``, ``(None, None)`` when there is no file, or ``(None, why)`` when it is corrupt."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, parse_constant=_refuse_constant), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"


def _discard(path: Path, why: str) -> None:
    warnings.warn(
        CacheEntryWarning(
            f"airecovery cache entry {path.name} {why}: discarded, its outputs are recomputed"
        ),
        stacklevel=2,
    )
    with contextlib.suppress(OSError):
        path.unlink()


def _outputs_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict) or entry.get("format") != FORMAT_VERSION:
        return "is not an output shard of this version"
    outputs = entry.get("outputs")
    if not isinstance(outputs, dict) or not all(
        isinstance(k, str) and _DIGEST.fullmatch(k) for k in outputs
    ):
        return "has no mapping of input digests to outputs"
    if has_non_finite(list(outputs.values())):
        return "holds a NaN or infinite value"
    return None


def clear(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


class ParsedCaseCache:
    """Parsed and schema-checked case files, keyed by path and content hash."""

    def __init__(self, root: Path, schema_tag: str) -> None:
        self.root = root / "cases"
        self.schema_tag = schema_tag

    def _file(self, path: str) -> Path:
        return self.root / (hashlib.sha1(path.encode("utf-8")).hexdigest() + ".json")

    def get(self, path: str, digest: str) -> tuple[Any, dict[str, int]] | None:
        file = self._file(path)
        entry, why = _read_entry(file)
        if (
            why is None
            and isinstance(entry, dict)
            and entry.get("digest") == digest
            and entry.get("schema") == self.schema_tag
        ):
            data, positions = entry.get("data"), entry.get("positions")
            if (
                entry.get("format") == FORMAT_VERSION
                and isinstance(data, dict)
                and isinstance(positions, dict)
            ):
                return data, positions
            why = "is not a parsed case file of this version"
        if why is not None:
            _discard(file, why)
        return None

    def put(self, path: str, digest: str, data: Any, positions: dict[str, int]) -> None:
        entry = {
            "format": FORMAT_VERSION,
            "digest": digest,
            "schema": self.schema_tag,
            "data": data,
            "positions": positions,
        }
        with contextlib.suppress(OSError, TypeError, ValueError):
            write_atomic(self._file(path), json.dumps(entry, separators=(",", ":")))


class OutputCache:
    """Model outputs keyed by (model identity, input digest); the identity holds ref and fingerprint.

    Each computed batch is one shard file of ``{input digest: output}``; all shards of a
    fingerprint are read once and merged, and re-scanned after waiting on another worker's lock.
    """

    def __init__(self, root: Path, *, lock_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.root = root / "outputs"
        # 0 leaves model calls unbounded, but a wait for another worker's lock stays bounded:
        # past it the batch is computed twice, never waited on forever.
        self.lock_timeout = lock_timeout if lock_timeout > 0 else DEFAULT_TIMEOUT
        self._known: dict[str, dict[str, Any]] = {}
        self._read_shards: dict[str, set[str]] = {}

    def _dir(self, fingerprint: str) -> Path:
        return self.root / hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:32]

    def lookup(
        self, fingerprint: str, digests: list[str], *, rescan: bool = False
    ) -> dict[str, Any]:
        known = self._known.setdefault(fingerprint, {})
        if rescan or fingerprint not in self._read_shards:
            self._scan(fingerprint)
        return {digest: known[digest] for digest in digests if digest in known}

    def _scan(self, fingerprint: str) -> None:
        seen = self._read_shards.setdefault(fingerprint, set())
        known = self._known[fingerprint]
        folder = self._dir(fingerprint)
        try:
            names = sorted(name for name in os.listdir(folder) if name.endswith(".json"))
        except OSError:
            return
        for name in names:
            if name in seen:
                continue
            entry, why = _read_entry(folder / name)
            if entry is None and why is None:
                continue  # removed meanwhile (another worker discarded it)
            why = why or _outputs_problem(entry)
            if why is not None:
                _discard(folder / name, why)
                continue
            known.update(entry["outputs"])
            seen.add(name)

    def store(self, fingerprint: str, outputs: dict[str, Any]) -> None:
        if not outputs:
            return
        self._known.setdefault(fingerprint, {}).update(outputs)
        try:
            body = json.dumps({"format": FORMAT_VERSION, "outputs": outputs}, separators=(",", ":"))
        except (TypeError, ValueError):  # outputs that are not plain data stay in memory only
            return
        name = hashlib.sha256("".join(sorted(outputs)).encode("ascii")).hexdigest()[:32] + ".json"
        with contextlib.suppress(OSError):
            write_atomic(self._dir(fingerprint) / name, body)
            self._read_shards.setdefault(fingerprint, set()).add(name)

    @contextlib.contextmanager
    def batch_lock(self, fingerprint: str, batch_key: str) -> Iterator[None]:
        """Hold an exclusive lock for one batch, so another worker waits and then reads the result.

        A lock not taken within ``lock_timeout`` seconds (another process holds it: its model
        call is stuck, or the process is suspended) is given up with a :class:`BatchLockWarning`
        and the batch is computed here too: work is repeated, the verdict is this model's own.
        """
        lock = self._take_lock(self._dir(fingerprint) / f".{batch_key}.lock")
        try:
            yield
        finally:
            if lock is not None:
                with contextlib.suppress(OSError):
                    lock.release()

    def _take_lock(self, path: Path) -> BaseFileLock | None:
        # Imported here, not at the top: the plugin imports this module at start-up.
        from filelock import FileLock, Timeout

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(path)
            lock.acquire(timeout=self.lock_timeout)
        except Timeout:
            warnings.warn(
                BatchLockWarning(
                    f"airecovery: the lock {path} of a model batch was held by another process "
                    f"for more than {self.lock_timeout:g} s; computing the batch here too "
                    "(its outputs come from this call, so only work is repeated)"
                ),
                stacklevel=4,
            )
            return None
        except OSError:  # no lock on this file system: the shards cannot be written either
            return None
        return lock

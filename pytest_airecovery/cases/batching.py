"""Getting model outputs: inputs grouped per model into batches, one model call per batch.

Items ask for the output of one input; the runner answers from memory, then from the on-disk
cache, and otherwise calls the model once for the whole batch the input belongs to. Batches are
cut from the inputs in collection order, so every pytest-xdist worker cuts the same batches and
the per-batch lock lets exactly one of them call the model.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_airecovery.cases.plain import short_repr, to_plain
from pytest_airecovery.cases.sources import input_digest

DEFAULT_BATCH_SIZE = 256
DEFAULT_TIMEOUT = 300.0
_PROGRESS_TICK = 0.5


class OutputFailure(Exception):
    """No usable output for an input: the model raised, hung, or answered out of shape."""


class BoundedCallTimeout(Exception):
    """A call run by :func:`run_bounded` did not return within its timeout."""


def run_bounded(
    func: Callable[[], Any],
    timeout: float,
    *,
    name: str,
    tick: Callable[[float], None] | None = None,
) -> Any:
    """``func()``, abandoned after ``timeout`` seconds (0: no bound) with :class:`BoundedCallTimeout`.

    The call runs in a daemon thread, so a hung model or loader never keeps pytest alive at exit;
    it is abandoned, not killed. Whatever it raises (``SystemExit`` too) is raised here. ``tick``
    is called with the elapsed time while the call runs.
    """
    if timeout <= 0 and tick is None:
        return func()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=name, daemon=True)
    began = time.monotonic()
    worker.start()
    while True:
        worker.join(_PROGRESS_TICK if tick is not None else (timeout or None))
        elapsed = time.monotonic() - began
        if not worker.is_alive():
            break
        if tick is not None:
            tick(elapsed)
        if 0 < timeout <= elapsed:
            raise BoundedCallTimeout(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class _Plan:
    keys: list[tuple[Any, int]] = field(default_factory=list)
    position: dict[tuple[int, int], int] = field(default_factory=dict)
    results: dict[tuple[int, int], Any] = field(default_factory=dict)
    failures: dict[tuple[int, int], str] = field(default_factory=dict)
    done: int = 0


ProgressFn = Callable[[str, int, int, float, bool], None]


class BatchRunner:
    """Per-session owner of all model outputs."""

    def __init__(
        self,
        get_model: Callable[[str], Any],
        cache: Any | None,
        *,
        cache_key: Callable[[str, Any], str | None] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressFn | None = None,
    ) -> None:
        self._get_model = get_model
        self._cache = cache
        self._cache_key = cache_key or _ref_and_fingerprint
        self._batch_size = max(1, batch_size)
        self._timeout = timeout
        self._progress = progress
        self._plans: dict[str, _Plan] = {}
        self.calls: dict[str, int] = {}

    def plan(self, ref: str, source: Any, index: int) -> None:
        """Register that some test will need ``ref``'s output for this input (collection order)."""
        plan = self._plans.setdefault(ref, _Plan())
        key = (id(source), index)
        if key not in plan.position:
            plan.position[key] = len(plan.keys)
            plan.keys.append((source, index))

    def output(self, ref: str, source: Any, index: int) -> Any:
        self.plan(ref, source, index)
        plan = self._plans[ref]
        key = (id(source), index)
        if key not in plan.results and key not in plan.failures:
            self._compute_batch(ref, plan, plan.position[key] // self._batch_size_for(ref))
        if key in plan.failures:
            raise OutputFailure(plan.failures[key])
        return plan.results[key]

    def outputs(self, ref: str, source: Any, indices: range | list[int]) -> list[Any]:
        for index in indices:
            self.plan(ref, source, index)
        return [self.output(ref, source, index) for index in indices]

    def _batch_size_for(self, ref: str) -> int:
        try:
            model = self._get_model(ref)
        except Exception:  # noqa: BLE001 - a loader failure is reported when the batch is computed
            return self._batch_size
        return max(1, getattr(model, "batch_size", None) or self._batch_size)

    def _compute_batch(self, ref: str, plan: _Plan, number: int) -> None:
        size = self._batch_size_for(ref)
        start = number * size
        members = plan.keys[start : start + size]
        batch_count = math.ceil(len(plan.keys) / size)
        where = f"batch {number + 1} of {batch_count}, inputs {start}-{start + len(members) - 1}"
        try:
            model = self._get_model(ref)
        except Exception as exc:  # noqa: BLE001 - the loader's own error, once per batch
            self._fail_all(plan, members, f"model {ref} could not be loaded: {exc}")
            return
        values, digests, unreadable = _read_members(members)
        try:
            identity = self._cache_key(ref, model) if self._cache is not None else None
        except OSError as exc:
            artifact = getattr(model, "artifact", None)
            self._fail_all(
                plan,
                members,
                f"model {ref}: cannot read its artifact {artifact} ({exc.strerror or exc})",
            )
            return
        found = self._outputs_for(ref, model, identity, values, digests, where, plan, start)
        for (source, index), digest in zip(members, digests, strict=True):
            key = (id(source), index)
            outcome = found.get(digest) if digest is not None else _Bad(unreadable[key])
            if isinstance(outcome, _Bad):
                plan.failures[key] = outcome.message
            elif digest in found:
                plan.results[key] = outcome
            else:
                plan.failures.setdefault(key, f"model {ref} gave no output ({where})")
        plan.done += len(members)

    def _outputs_for(
        self,
        ref: str,
        model: Any,
        identity: str | None,
        values: list[Any],
        digests: list[str | None],
        where: str,
        plan: _Plan,
        start: int,
    ) -> dict[str, Any]:
        """Outputs by input digest: from the disk cache under ``identity``, else one model call."""
        readable = [
            (value, digest)
            for value, digest in zip(values, digests, strict=True)
            if digest is not None
        ]
        if not readable:
            return {}
        values = [value for value, _ in readable]
        wanted = [digest for _, digest in readable]
        cache = self._cache
        if cache is None or not identity:
            return self._call(ref, model, values, wanted, {}, where, plan, start)
        found = cache.lookup(identity, wanted)
        if len(found) < len(set(wanted)):
            batch_key = hashlib.sha256("".join(wanted).encode("ascii")).hexdigest()[:24]
            with cache.batch_lock(identity, batch_key):
                found = cache.lookup(identity, wanted, rescan=True)
                found.update(self._call(ref, model, values, wanted, found, where, plan, start))
                fresh = {d: out for d, out in found.items() if not isinstance(out, _Bad)}
                cache.store(identity, fresh)
        return found

    def _call(
        self,
        ref: str,
        model: Any,
        values: list[Any],
        digests: list[str],
        found: dict[str, Any],
        where: str,
        plan: _Plan,
        start: int,
    ) -> dict[str, Any]:
        todo: dict[str, Any] = {}
        for value, digest in zip(values, digests, strict=True):
            if digest not in found and digest not in todo:
                todo[digest] = value
        if not todo:
            return {}
        batch = list(todo.values())
        self.calls[ref] = self.calls.get(ref, 0) + 1
        try:
            raw = self._run_with_timeout(ref, model, batch, plan, start)
            outputs = list(raw)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - whatever the model raises fails its batch only
            message = f"model {ref} raised {type(exc).__name__}: {exc} ({where})"
            return {digest: _Bad(message) for digest in todo}
        if len(outputs) != len(batch):
            message = (
                f"model {ref} returned {len(outputs)} outputs for {len(batch)} inputs ({where})"
            )
            return {digest: _Bad(message) for digest in todo}
        result: dict[str, Any] = {}
        for offset, (digest, output) in enumerate(zip(todo, outputs, strict=True)):
            plain = to_plain(output)
            if has_non_finite(plain):
                result[digest] = _Bad(
                    f"model {ref} returned a NaN or infinite value for input {offset} of the call "
                    f"({where}): {short_repr(plain)}"
                )
            else:
                result[digest] = plain
        return result

    def _run_with_timeout(
        self, ref: str, model: Any, batch: list[Any], plan: _Plan, start: int
    ) -> Any:
        total = len(plan.keys)
        progress = self._progress
        tick = None
        if progress is not None:

            def tick(elapsed: float) -> None:
                progress(ref, start, total, elapsed, True)

        began = time.monotonic()
        try:
            value = run_bounded(
                lambda: model(batch), self._timeout, name=f"airecovery-model-{ref}", tick=tick
            )
        except BoundedCallTimeout as exc:
            raise TimeoutError(str(exc)) from None
        elapsed = time.monotonic() - began
        if progress is not None and elapsed >= _PROGRESS_TICK:
            progress(ref, min(start + len(batch), total), total, elapsed, False)
        return value

    def _fail_all(self, plan: _Plan, members: list[tuple[Any, int]], message: str) -> None:
        for source, index in members:
            plan.failures[(id(source), index)] = message


@dataclass(frozen=True)
class _Bad:
    message: str


def _ref_and_fingerprint(ref: str, model: Any) -> str | None:
    fingerprint = getattr(model, "fingerprint", None)
    return f"{ref}\n{fingerprint}" if fingerprint else None


def _read_members(
    members: list[tuple[Any, int]],
) -> tuple[list[Any], list[str | None], dict[tuple[int, int], str]]:
    """Each member's input and digest; an input that cannot be read fails only its own member.

    A batch mixes inputs of several case files: one file's broken ``.npz`` must not fail the
    others (their digest is ``None`` and the reason is kept per member).
    """
    values: list[Any] = []
    digests: list[str | None] = []
    unreadable: dict[tuple[int, int], str] = {}
    broken: dict[int, str] = {}  # a source that failed once is not re-read for each of its rows
    for source, index in members:
        if id(source) in broken:
            values.append(None)
            digests.append(None)
            unreadable[(id(source), index)] = broken[id(source)]
            continue
        try:
            value = source.value(index)
            digest: str | None = input_digest(value)
        except Exception as exc:  # noqa: BLE001 - a broken input file is that file's failure
            value, digest = None, None
            where = getattr(source, "description", "inputs")
            broken[id(source)] = f"inputs of {where} cannot be read: {type(exc).__name__}: {exc}"
            unreadable[(id(source), index)] = broken[id(source)]
        values.append(value)
        digests.append(digest)
    return values, digests, unreadable


def has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(has_non_finite(v) for v in value)
    return False

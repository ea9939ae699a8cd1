"""The per-batch lock of the output cache (filelock): two processes asking for the same batch call
the model once, also where there is no fcntl, and a lock held too long never hangs the run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import model_calls, toy_case_file, write_case

import pytest_airecovery

# One process of the pair: asks for the outputs of one batch through a fresh BatchRunner. Its
# model holds the batch until the other process has reached the batch lock (or has called the
# model too, which is the failure this test looks for), so the two always overlap.
WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    if sys.argv[3] == "no-fcntl":
        sys.modules["fcntl"] = None  # as on a platform without POSIX locks

    from pytest_airecovery.cases.batching import BatchRunner
    from pytest_airecovery.cases.cache import OutputCache
    from pytest_airecovery.cases.sources import InlineSource
    from pytest_airecovery.models import Model

    root, work = Path(sys.argv[1]), Path(sys.argv[2])
    me = str(os.getpid())
    calls = work / "calls.log"
    waiting = work / "waiting"

    def other_is_waiting():
        return any(marker.name != me for marker in waiting.iterdir())

    def predict(batch):
        with open(calls, "a") as fh:
            fh.write(me + "\\n")
        deadline = time.monotonic() + 60  # a safety net only; the markers end the wait
        while time.monotonic() < deadline:
            if other_is_waiting() or len(calls.read_text().split()) > 1:
                break
            time.sleep(0.01)
        return [value * 2 for value in batch]

    take_lock = OutputCache.batch_lock

    def announced_lock(self, fingerprint, batch_key):
        (waiting / me).touch()
        return take_lock(self, fingerprint, batch_key)

    OutputCache.batch_lock = announced_lock
    model = Model(predict, ref="m@1", fingerprint="weights-1")
    runner = BatchRunner(lambda ref: model, OutputCache(root))
    print(runner.outputs("m@1", InlineSource([1, 2, 3]), range(3)))
    """
)

# Holds the lock of the batch [1, 2, 3] of a ref (by being inside its model call) until its
# standard input closes.
HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_airecovery.cases.batching import BatchRunner
    from pytest_airecovery.cases.cache import OutputCache
    from pytest_airecovery.cases.sources import InlineSource
    from pytest_airecovery.models import Model

    def predict(batch):
        print("holding", flush=True)
        sys.stdin.read()
        return [value * 2 for value in batch]

    ref, fingerprint = sys.argv[2], sys.argv[3]
    model = Model(predict, ref=ref, fingerprint=fingerprint)
    runner = BatchRunner(lambda ref: model, OutputCache(Path(sys.argv[1])))
    print(runner.outputs(ref, InlineSource([1, 2, 3]), range(3)), flush=True)
    """
)


def _hold_the_lock(tmp_path: Path, root: Path, ref: str, fingerprint: str) -> subprocess.Popen[str]:
    holder = _script(tmp_path, "holder.py", HOLDER)
    return subprocess.Popen(
        [sys.executable, str(holder), str(root), ref, fingerprint],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("platform", ["this-platform", "no-fcntl"])
def test_two_processes_compute_a_batch_once(tmp_path: Path, platform: str) -> None:
    worker = _script(tmp_path, "worker.py", WORKER)
    work = tmp_path / "work"
    (work / "waiting").mkdir(parents=True)
    (work / "calls.log").touch()
    command = [sys.executable, str(worker), str(tmp_path / "cache"), str(work), platform]
    pair = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [process.communicate(timeout=120) for process in pair]
    for process, (out, err) in zip(pair, results, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == "[2, 4, 6]"
    callers = (work / "calls.log").read_text().split()
    assert len(callers) == 1, f"the model was called by {len(callers)} processes"
    # both processes reached the lock: the second one waited, then read the first one's outputs
    assert len(list((work / "waiting").iterdir())) == 2


def test_a_lock_held_past_the_timeout_is_given_up_with_a_warning(tmp_path: Path) -> None:
    from pytest_airecovery.cases.batching import BatchRunner
    from pytest_airecovery.cases.cache import BatchLockWarning, OutputCache
    from pytest_airecovery.cases.sources import InlineSource
    from pytest_airecovery.models import Model

    root = tmp_path / "cache"
    holder = _hold_the_lock(tmp_path, root, "m@1", "weights-1")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        calls: list[list[int]] = []

        def predict(batch: list[int]) -> list[int]:
            calls.append(list(batch))
            return [value * 3 for value in batch]

        model = Model(predict, ref="m@1", fingerprint="weights-1")
        runner = BatchRunner(lambda ref: model, OutputCache(root, lock_timeout=0.3))
        with pytest.warns(BatchLockWarning, match=r"held by another process for more than 0\.3 s"):
            outputs = runner.outputs("m@1", InlineSource([1, 2, 3]), range(3))
        # this process's own model answered: no output of the lock holder's is taken for it
        assert outputs == [3, 6, 9]
        assert calls == [[1, 2, 3]]
    finally:
        out, err = holder.communicate(input="", timeout=120)
    assert holder.returncode == 0, err
    assert out.strip() == "[2, 4, 6]"


def test_the_model_timeout_bounds_the_lock_wait_of_a_run(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    root = toy.path / ".pytest_cache" / "d" / "airecovery"
    # the toy loader's identity of toy@good; the case's three inputs are one batch
    holder = _hold_the_lock(toy.path, root, "toy@good", "toy-toy@good")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = toy.runpytest("--incident-cases", "--incident-model-timeout", "1")
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines(
            ["*BatchLockWarning*held by another process for more than 1 s*"]
        )
    finally:
        holder.communicate(input="", timeout=120)
    assert [call["ref"] for call in model_calls(toy)] == ["toy@good"]  # this run computed it


def test_no_timeout_still_bounds_the_wait_for_a_lock(tmp_path: Path) -> None:
    from pytest_airecovery.cases.batching import DEFAULT_TIMEOUT
    from pytest_airecovery.cases.cache import OutputCache

    # --incident-model-timeout 0 leaves model calls unbounded; the lock wait keeps the default
    assert OutputCache(tmp_path, lock_timeout=0).lock_timeout == DEFAULT_TIMEOUT
    assert OutputCache(tmp_path, lock_timeout=7.5).lock_timeout == 7.5


def test_the_package_does_not_use_fcntl() -> None:
    package = Path(pytest_airecovery.__file__).parent
    users = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if "fcntl" in path.read_text(encoding="utf-8")
    ]
    assert users == []

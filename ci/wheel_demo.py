"""The wheel as users get it: built from this repo, installed non-editable, running the demo.

    python ci/wheel_demo.py            # `make wheel-demo`; CI runs it from .ci/run

Builds the wheel with ``pip wheel --no-deps`` (no build tool beyond pip), checks it is pure Python
(``py3-none-any``), installs it with the ``[demo]`` extra into a fresh venv, and runs
``pytest --incident-cases`` on a copy of ``incident_cases/`` in a temporary directory, where the
source tree cannot shadow the installed package. The demo must pass in full on the remediated
models and fail on the backdoored ``digits@v3.2``. Exits non-zero, saying why, otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

try:
    import tomllib
except ImportError:  # Python 3.10
    raise SystemExit("ci/wheel_demo.py reads pyproject.toml with tomllib: Python 3.11+") from None

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
# The shipped demo: 729 tests over its two incidents (README, docs/demo.md).
DEMO_TESTS = 729


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="airecovery-wheel-") as tmp:
        work = Path(tmp)
        wheel = _timed("build the wheel", lambda: build_wheel(work / "dist"))
        venv = _timed("install it into a fresh venv", lambda: install(wheel, work / "venv"))
        run_dir = demo_copy(work / "run")
        _timed("the demo on the installed wheel", lambda: check_demo(venv, run_dir))
    print("wheel-demo: ok")
    return 0


def build_wheel(dist: Path) -> Path:
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)])
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        _fail(f"expected one wheel in {dist}, found {[w.name for w in wheels]}")
    if not wheels[0].name.endswith("-py3-none-any.whl"):
        _fail(f"{wheels[0].name} is not a pure-Python wheel (py3-none-any)")
    print(f"wheel-demo: built {wheels[0].name}")
    return wheels[0]


def install(wheel: Path, venv: Path) -> Path:
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", f"{wheel}[demo]"])
    return python


def demo_copy(run_dir: Path) -> Path:
    """``incident_cases/`` and a pytest.ini holding pyproject's demo settings, nothing else."""
    shutil.copytree(REPO / "incident_cases", run_dir / "incident_cases")
    options = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    ini = options["pytest"]["ini_options"]
    lines = ["[pytest]"]
    for name in ("incident_model_loader", "incident_candidates"):
        value = ini[name]
        # One per line: the form every ini type of a list (args, linelist) reads.
        lines.append(
            f"{name} =" + "".join(f"\n    {v}" for v in value)
            if isinstance(value, list)
            else f"{name} = {value}"
        )
    (run_dir / "pytest.ini").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir


def check_demo(python: Path, run_dir: Path) -> None:
    where = _output(
        python, run_dir, "-c", "import pytest_airecovery; print(pytest_airecovery.__file__)"
    )
    if not Path(where.strip()).is_relative_to(python.parent.parent):
        _fail(f"pytest_airecovery was imported from {where.strip()}, not from the installed wheel")
    good = _pytest(python, run_dir)
    if good.returncode != 0 or not re.search(rf"\b{DEMO_TESTS} passed\b", good.stdout):
        _fail(f"the demo on the installed wheel must give {DEMO_TESTS} passed:\n{_tail(good)}")
    if re.search(r"\d+ (failed|errors?)\b", good.stdout):
        _fail(f"the demo on the installed wheel had failures:\n{_tail(good)}")
    bad = _pytest(python, run_dir, "--incident-model", "digits@v3.2")
    if bad.returncode != 1 or "corner-trigger" not in bad.stdout:
        _fail(f"the demo must fail (exit 1, corner-trigger) on digits@v3.2:\n{_tail(bad)}")
    print(f"wheel-demo: {DEMO_TESTS} passed on the remediated models, digits@v3.2 fails")


def _pytest(python: Path, run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(python), "-m", "pytest", "--incident-cases", "-q", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, *args], cwd=run_dir, capture_output=True, text=True, env=_clean_env()
    )


def _output(python: Path, run_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [str(python), *args], cwd=run_dir, capture_output=True, text=True, env=_clean_env()
    )
    if done.returncode != 0:
        _fail(f"{python} {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _clean_env() -> dict[str, str]:
    # Nothing from the caller's environment may put the source tree on the path.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        _fail(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return "\n".join((done.stdout + done.stderr).splitlines()[-25:])


def _timed(what: str, step: Callable[[], T]) -> T:
    start = time.monotonic()
    result = step()
    print(f"wheel-demo: {what}: {time.monotonic() - start:.0f} s")
    return result


def _fail(message: str) -> NoReturn:
    print(f"wheel-demo: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


if __name__ == "__main__":
    raise SystemExit(main())

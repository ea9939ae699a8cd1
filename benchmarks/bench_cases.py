"""Benchmark: `pytest --incident-cases` vs the same checks as one parametrised pytest test.

Builds, in a temporary directory, 100 YAML case files of 100 per-input cases each (10,000 tests)
against a trivial model, and the same 10,000 checks written as one
``@pytest.mark.parametrize`` test. Runs each side by side in fresh pytest processes and prints
the ratios the issue sets: first run ≤ 1.5x, rerun with unchanged files ≤ 1.2x.

    python benchmarks/bench_cases.py [--files 100] [--cases 100] [--repeat 3]

Not part of the test suite: wall time on a shared machine is not a test outcome.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFTEST = """
from pytest_airecovery import Model

def _predict(batch):
    return [{"label": x % 10} for x in batch]

def pytest_airecovery_load_model(ref, config):
    return Model(_predict, ref=ref, fingerprint="trivial-" + ref)
"""

PARAMETRIZED = """
import pytest

def _predict(batch):
    return [{"label": x % 10} for x in batch]

CASES = [(f"case-{f}-{c}", f * 100 + c) for f in range({files}) for c in range({cases})]

@pytest.mark.parametrize("case_id,value", CASES, ids=[c for c, _ in CASES])
def test_case(case_id, value):
    output = _predict([value])[0]
    assert output["label"] == value % 10
"""


def case_file(index: int, cases: int) -> str:
    lines = [
        "schema_version: 1",
        "incident:",
        f"  id: AI-IR-BENCH-{index:03d}",
        f"  title: benchmark incident {index}",
        "  severity: SEV-3",
        "  root_cause: {category: configuration_error, summary: synthetic}",
        "models: {known_good: toy@v1, known_bad: toy@v0}",
        "cases:",
    ]
    for case in range(cases):
        value = index * 100 + case
        lines += [
            f"  - id: case-{index}-{case}",
            f"    input: {value}",
            "    expect:",
            f"      - label: {value % 10}",
        ]
    return "\n".join(lines) + "\n"


def run(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cases-"))
    try:
        cases_dir = work / "incident_cases"
        cases_dir.mkdir()
        for index in range(args.files):
            (cases_dir / f"AI-IR-BENCH-{index:03d}.yaml").write_text(case_file(index, args.cases))
        (work / "conftest.py").write_text(CONFTEST)
        (work / "pytest.ini").write_text("[pytest]\nincident_candidates = toy@v2\n")
        param_dir = work / "param"
        param_dir.mkdir()
        (param_dir / "test_param.py").write_text(
            PARAMETRIZED.replace("{files}", str(args.files)).replace("{cases}", str(args.cases))
        )

        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        ours = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--incident-cases"]
        first, rerun, plain = [], [], []
        for _ in range(args.repeat):
            plain.append(run(base + [str(param_dir / "test_param.py")], work))
            first.append(run(ours + ["--incident-cache-clear"], work))
            rerun.append(run(ours, work))
        total = args.files * args.cases
        p, f, r = statistics.median(plain), statistics.median(first), statistics.median(rerun)
        print(f"{total} checks in {args.files} files, median of {args.repeat} runs each")
        print(f"  parametrize baseline        {p:6.2f} s")
        print(f"  --incident-cases, first run {f:6.2f} s   ratio {f / p:4.2f}x  (target <= 1.5x)")
        print(f"  --incident-cases, rerun     {r:6.2f} s   ratio {r / p:4.2f}x  (target <= 1.2x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

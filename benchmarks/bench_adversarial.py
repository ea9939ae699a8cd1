"""Benchmark: collecting adversarial variant items, and generating text variants.

1. Collection: 1,000 cases x 50 variants (5 text transforms x 10 variants) as case-file
   ``adversarial`` blocks, against 50,000 plain ``@pytest.mark.parametrize`` items. Each side is
   ``pytest --collect-only -q`` in a fresh process; the best of ``--repeat`` runs is compared.
   The adversarial side also collects each case's plain row item (51,000 items in all), so the
   comparison slightly favours the baseline. Target: ratio <= 1.5.
2. Generation: text variants per second through ``Transform.apply`` (seed derivation included),
   over every built-in text transform. Target: >= 100,000 per second.

    python benchmarks/bench_adversarial.py [--cases 1000] [--variants 10] [--repeat 3]

Not part of the test suite: wall time on a shared machine is not a test outcome.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRANSFORMS = ["case", "homoglyph", "leetspeak", "punctuation", "typo"]
CONFTEST = """
from pytest_airecovery import Model

def pytest_airecovery_load_model(ref, config):
    return Model(lambda batch: [{"label": "toxic"} for _ in batch], ref=ref, fingerprint="bench-" + ref)
"""
INI = "[pytest]\nincident_candidates = mod@2\n"


def write_case_files(root: Path, cases: int, variants: int, per_file: int = 100) -> int:
    directory = root / "incident_cases"
    directory.mkdir()
    for start in range(0, cases, per_file):
        lines = [
            "schema_version: 1",
            f"incident: {{id: AI-B-{start}, title: bench, severity: SEV-3, root_cause: {{category: other}}}}",
            "models: {known_good: mod@1, known_bad: mod@0}",
            "cases:",
        ]
        for number in range(start, min(start + per_file, cases)):
            lines += [
                f"  - id: case-{number}",
                f"    input: you are an idiot number {number} zxq",
                "    expect: [{label: toxic}]",
                f"    adversarial: {{transforms: [{', '.join(TRANSFORMS)}], variants: {variants}, seed: {number}, trigger: zxq}}",
            ]
        (directory / f"AI-B-{start}.yaml").write_text("\n".join(lines) + "\n")
    return cases * (1 + len(TRANSFORMS) * variants)


def write_parametrized(root: Path, items: int) -> None:
    (root / "test_param.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('x', range({items}))\n"
        "def test_plain(x):\n    assert x >= 0\n"
    )


def collect_seconds(cwd: Path, args: list[str], expected: int, repeat: int) -> float:
    best = float("inf")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(repeat):
        began = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                *args,
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        elapsed = time.perf_counter() - began
        tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
        if f"{expected} tests collected" not in tail:
            raise SystemExit(f"unexpected collection in {cwd}: {tail}")
        best = min(best, elapsed)
    return best


def generation_rate(total: int) -> float:
    from pytest_airecovery.adversarial.registry import builtin_registry

    registry = builtin_registry()
    transforms = [registry.get(name) for name in registry.names("text")]
    sentences = [f"you are a pathetic idiot {n} zxq and so is your code" for n in range(50)]
    made = 0
    began = time.perf_counter()
    while made < total:
        for transform in transforms:
            for index in range(20):
                for row, text in enumerate(sentences):
                    transform.apply(text, "zxq", case_id="bench", row=row, index=index, seed=1)
                made += len(sentences)
    return made / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=10, help="per transform (5 transforms)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate", type=int, default=300_000, help="text variants to time")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        adversarial_dir, param_dir = Path(tmp) / "adversarial", Path(tmp) / "param"
        adversarial_dir.mkdir()
        param_dir.mkdir()
        (adversarial_dir / "conftest.py").write_text(CONFTEST)
        (adversarial_dir / "pytest.ini").write_text(INI)
        (param_dir / "pytest.ini").write_text("[pytest]\n")
        items = write_case_files(adversarial_dir, options.cases, options.variants)
        variant_items = options.cases * len(TRANSFORMS) * options.variants
        write_parametrized(param_dir, variant_items)
        baseline = collect_seconds(param_dir, [], variant_items, options.repeat)
        adversarial = collect_seconds(adversarial_dir, ["--incident-cases"], items, options.repeat)
    rate = generation_rate(options.generate)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min): {load:.2f} on {os.cpu_count()} CPUs")
    print(f"collect {variant_items:,} parametrize items:                {baseline:7.2f} s")
    print(
        f"collect {items:,} case items ({variant_items:,} adversarial variants): {adversarial:7.2f} s"
    )
    print(f"ratio adversarial / parametrize: {adversarial / baseline:.2f}  (target <= 1.5)")
    print(f"text variant generation: {rate:,.0f} variants/s  (target >= 100,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

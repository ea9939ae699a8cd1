"""End-to-end gate scenarios (tests/gate_scenarios.py): exports written and judged as a user's run.

    python benchmarks/gate_scenarios.py --seeds 30                 # every class, phase and form
    python benchmarks/gate_scenarios.py --seeds 200 --classes heavy_tail,mean_shift,error_increase
    python benchmarks/gate_scenarios.py --seeds 3 --phases canary  # a quick look

Each scenario is a simulated rollout (tests/gate_simulator.py) written as a column-JSON, row-JSON
or CSV export with its settings file, then decided by the plugin's own path (GateRun + decide).
Prints, per class, phase and form, the decisions and the wrong ones: a promote where the class
must not promote (false pass) or anything but promote on a healthy class (false fail or hold),
as a Markdown table. Targets (issue 12): 0 false passes, >= 95% of healthy scenarios promote.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# This script shares its name with tests/gate_scenarios.py; with tests/ first on sys.path the
# import finds that module, and import_module keeps type checkers from resolving it to this file.
scenarios = importlib.import_module("gate_scenarios")
CLASSES, FORMS, PHASE_NAMES = scenarios.CLASSES, scenarios.FORMS, scenarios.PHASE_NAMES

# After the sys.path entries above: the repo may be run uninstalled.
from pytest_airecovery.gates.phases import parse_gate_config  # noqa: E402


def _choice(text: str, known: tuple[str, ...], what: str) -> list[str]:
    chosen = [item for item in text.split(",") if item]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="Seeds per class, phase and form")
    parser.add_argument("--first-seed", type=int, default=20_000,
                        help="Seeds from here (fresh: not those of the tests or the simulator)")  # fmt: skip
    parser.add_argument("--classes", default=",".join(CLASSES), help="Comma-separated classes")
    parser.add_argument("--phases", default=",".join(PHASE_NAMES), help="Comma-separated phases")
    parser.add_argument("--forms", default=",".join(FORMS), help="Comma-separated export forms")
    args = parser.parse_args()
    classes = _choice(args.classes, CLASSES, "class")
    phases = _choice(args.phases, PHASE_NAMES, "phase")
    forms = _choice(args.forms, FORMS, "form")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    config = parse_gate_config({})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gate-scenarios-") as folder:
        table = scenarios.run_scenarios(seeds, Path(folder), classes, phases, forms)
    elapsed = time.perf_counter() - start
    print(f"seeds {seeds.start}-{seeds.stop - 1}; alpha = {config.alpha:g} (match-baseline, "
          f"one-sided), anomaly_alpha = {config.anomaly_alpha:g}\n")  # fmt: skip
    print(scenarios.format_table(table))
    counts = scenarios.totals(table)
    healthy_rate = counts["healthy_promoted"] / counts["healthy"] if counts["healthy"] else 1.0
    met = counts["false_passes"] == 0 and healthy_rate >= 0.95
    print(f"\nfalse passes: {counts['false_passes']} of {counts['must_not_promote']} scenarios "
          f"that must not promote; healthy promoted: {counts['healthy_promoted']} of "
          f"{counts['healthy']} ({100 * healthy_rate:.1f}%); targets {'met' if met else 'NOT met'} "
          f"({elapsed:.0f} s)")  # fmt: skip
    for (cls, phase, form), cell in table.items():
        for seed, action, not_passed in cell.wrong[:3]:
            print(f"  wrong: {cls} {phase} {form} seed {seed}: {action} ({', '.join(not_passed)})")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())

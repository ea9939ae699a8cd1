"""Calibration: the simulator's healthy arms promote, its regressed arms never pass.

The suite runs 30 seeds per shape and phase (fresh seeds: 1000 on, so they are not the ones the
statistics were tuned on); `python benchmarks/gate_calibration.py` runs the full 200 and prints
the table in docs/gates.md.
"""

from __future__ import annotations

import pytest
from gate_simulator import PHASES, REGRESSION_SHAPES, SHAPES, PhasePlan, judge, run_calibration

from pytest_airecovery.gates.verdicts import Outcome

SEEDS = range(1000, 1030)


@pytest.mark.parametrize("phase", PHASES, ids=lambda plan: plan.name)
def test_no_false_pass_and_few_false_fails(phase: PhasePlan) -> None:
    table = run_calibration(SEEDS, SHAPES, [phase])
    for (shape, _phase, criterion), tally in table.items():
        if shape in REGRESSION_SHAPES:
            assert tally.wrong == 0, f"{shape}/{criterion}: false pass at seeds {tally.examples}"
        else:
            assert tally.rate <= 0.05, f"{shape}/{criterion}: false fails at seeds {tally.examples}"


def test_the_simulator_is_deterministic_and_its_regressions_are_real() -> None:
    canary = PHASES[0]
    assert judge("heavy_tail", canary, 7) == judge("heavy_tail", canary, 7)
    # The regressions are visible to the criteria (FAIL), not merely unproven (INCONCLUSIVE).
    for shape in REGRESSION_SHAPES:
        outcomes = judge(shape, PHASES[1], 3)
        metric = "errors" if shape == "error_increase" else "latency"
        assert outcomes[("match-baseline", metric)] is Outcome.FAIL, shape

"""pytest nodes for gates: `gate::PHASE` collector and one item per criterion (and metric)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_airecovery.gates.runner import GateCheck, GateRun
from pytest_airecovery.gates.verdicts import Outcome, Verdict

if TYPE_CHECKING:
    from collections.abc import Iterable

EVIDENCE_KEYS = (
    "n_baseline",
    "n_candidate",
    "estimate",
    "ci",
    "p_value",
    "bound",
    "margin",
    "window",
)


class GatePhase(pytest.Collector):
    """Groups a phase's items under the node id `gate::PHASE`; items are added directly."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        return []


def verdict_details(verdict: Verdict) -> str:
    """The failure text of a gate item: the message, then the key evidence on one line."""
    shown = [f"{key}={verdict.evidence[key]}" for key in EVIDENCE_KEYS if key in verdict.evidence]
    return verdict.message + ("\n  evidence: " + ", ".join(shown) if shown else "")


class GateItem(pytest.Item):
    """Outcome is the verdict: PASS passed, FAIL/INCONCLUSIVE failed, ERROR errored."""

    def __init__(self, *, run: GateRun, check: GateCheck | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.check = check  # None: the gate itself could not be loaded
        self.verdict: Verdict | None = None

    def setup(self) -> None:
        if self.check is None:
            # Failing in setup makes pytest report an error, which is what a broken gate is.
            pytest.fail(f"ERROR: {self.run.load_error}", pytrace=False)
        self.verdict = self.run.evaluate(self.check)
        if self.verdict.outcome is Outcome.ERROR:
            pytest.fail(verdict_details(self.verdict), pytrace=False)

    def runtest(self) -> None:
        assert self.verdict is not None
        if self.verdict.outcome is not Outcome.PASS:
            pytest.fail(verdict_details(self.verdict), pytrace=False)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.nodeid


def build_items(session: pytest.Session, run: GateRun) -> list[GateItem]:
    """Same ids in the same order on every xdist worker: they depend only on files read."""
    phase = GatePhase.from_parent(session, name=f"gate::{run.phase_name}",
                                  nodeid=f"gate::{run.phase_name}")  # fmt: skip
    if run.load_error is not None:
        return [GateItem.from_parent(phase, name="configuration", run=run, check=None)]
    return [GateItem.from_parent(phase, name=check.name, run=run, check=check)
            for check in run.checks()]  # fmt: skip

"""What a feature can add to the case pipeline, and the pipeline's side of those extension points.

The case pipeline imports no feature. Each feature (diff, adversarial, data, pir) has a small
``case_plugin`` module implementing the hooks of :mod:`pytest_airecovery.cases.hookspecs`;
``plugin.py`` registers them. The objects those hooks return are typed here:

* :class:`CaseBlock` parses one extra key of a case (``adversarial:``) into a typed spec;
* :class:`ItemKind` adds items for a case (adversarial variants, ``[record]``), in a stated order;
* checks go into the :class:`~pytest_airecovery.cases.checks.CheckRegistry` (``add_checks``);
* :class:`ResultSection` takes item reports and adds lines and JSON to the session results;
* pre-run verifications and failure notes are plain hooks returning a message.

Outside pytest (the ``airecovery`` commands load case files too) :func:`build_extensions`
registers plugin modules the caller names on a plain pluggy manager; the list of the features
this distribution ships lives above the pipeline, in :mod:`pytest_airecovery.features`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pytest

    from pytest_airecovery.cases.checks import CheckRegistry
    from pytest_airecovery.cases.collect import IncidentFile
    from pytest_airecovery.cases.report import IncidentResult, IncidentResults, ReportData
    from pytest_airecovery.cases.session import IncidentSession
    from pytest_airecovery.cases.sources import InputSource
    from pytest_airecovery.cases.spec import CaseSpec

# Where the items of one case come, by kind: the pipeline's own kinds and the features' between.
ORDER_ROWS = 10
ORDER_VARIANTS = 20
ORDER_AGGREGATE = 30
ORDER_RECORD = 40
ORDER_CATCHES = 50


class CaseBlockError(Exception):
    """A case block that cannot be used; ``where`` is the path inside the block ("" for the block)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


@dataclass(frozen=True)
class BlockContext:
    """What a block parser may look at besides its own mapping."""

    source: InputSource  # the case's inputs
    case: Mapping[str, Any]  # the whole case mapping, schema-valid
    line: int  # the block's line in the case file


class CaseBlock(Protocol):
    """Parses the case-level key ``key`` (schema-valid already) into the feature's typed spec."""

    @property
    def key(self) -> str: ...

    def parse(self, raw: Any, context: BlockContext) -> object:
        """The spec kept in ``CaseSpec.blocks[key]``; raise :class:`CaseBlockError` on a problem."""
        ...


class ItemKind(Protocol):
    """A kind of item a feature adds for each case; ``order`` places them among the pipeline's."""

    @property
    def order(self) -> int: ...

    def items(
        self, collector: IncidentFile, case: CaseSpec, context: IncidentSession
    ) -> Sequence[pytest.Item]:
        """The items of this kind for ``case`` (none when it does not apply), each made with ``context``."""
        ...


class RunItem(Protocol):
    """What the pipeline's pytest hooks ask of an incident-case item."""

    def plan_outputs(self) -> None:
        """Tell the batch runner which outputs the item will ask for, in collection order."""
        ...

    def report_data(self) -> ReportData:
        """The plain dict that rides on the item's reports (``report.airecovery``) across xdist."""
        ...


class ResultSection(Protocol):
    """A part of the session results a feature owns: per-incident tables, summary lines, JSON."""

    @property
    def kinds(self) -> frozenset[str]:
        """The item kinds (``report_data()["kind"]``) whose reports this section takes."""
        ...

    @property
    def replaces_case_result(self) -> bool:
        """True when such an item is no test of the case (``[record]``): it counts only here."""
        ...

    def add(self, incident: IncidentResult, data: ReportData, outcome: str, nodeid: str) -> None:
        """Take one item report of ``incident``."""
        ...

    def incident_json(self, incident: IncidentResult) -> dict[str, Any]:
        """Keys this section adds to the incident's entry of the JSON report."""
        ...

    def incident_lines(self, incident: IncidentResult) -> list[str]:
        """Lines under the incident's line of the terminal summary."""
        ...

    def session_json(self, results: IncidentResults) -> dict[str, Any]:
        """Top-level keys this section adds to the JSON report."""
        ...

    def session_lines(self, results: IncidentResults) -> list[str]:
        """Lines after the incidents in the terminal summary."""
        ...


@dataclass(frozen=True)
class Extensions:
    """The blocks and checks a case file is loaded with outside a pytest run."""

    blocks: Mapping[str, CaseBlock]
    checks: CheckRegistry


def blocks_by_key(found: Sequence[Sequence[CaseBlock]]) -> dict[str, CaseBlock]:
    """One parser per key from the hook's answers (a list per plugin)."""
    blocks: dict[str, CaseBlock] = {}
    for answer in found:
        for block in answer:
            blocks.setdefault(block.key, block)
    return blocks


def build_extensions(plugin_modules: Sequence[str]) -> Extensions:
    """The blocks and checks of the named plugin modules, without pytest.

    For the ``airecovery`` commands; :func:`pytest_airecovery.features.standalone_extensions` names
    the modules.
    """
    import pluggy

    from pytest_airecovery import hookspecs
    from pytest_airecovery.cases import hookspecs as case_hookspecs
    from pytest_airecovery.cases.checks import builtin_registry

    manager = pluggy.PluginManager("pytest")
    manager.add_hookspecs(hookspecs)
    manager.add_hookspecs(case_hookspecs)
    for name in plugin_modules:
        manager.register(importlib.import_module(name), name)
    checks = builtin_registry()
    manager.hook.pytest_airecovery_add_checks(registry=checks)
    blocks = blocks_by_key(manager.hook.pytest_airecovery_case_blocks(config=None))
    return Extensions(blocks, checks)

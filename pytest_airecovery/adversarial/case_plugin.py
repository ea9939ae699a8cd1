"""How adversarial variants plug into pytest and the case pipeline.

Registered by ``plugin.py`` in every run, so it imports only pytest at module level: the
``adversarial`` marker's tests, the ``adversarial_variant`` fixture, and for ``--incident-cases``
the ``adversarial:`` case block, its variant items and their section of the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_airecovery.cases.extensions import ORDER_VARIANTS  # stdlib only: cheap

if TYPE_CHECKING:
    from pytest_airecovery.adversarial.casefile import AdversarialSpec
    from pytest_airecovery.adversarial.pytest_support import AdversarialVariant
    from pytest_airecovery.cases.collect import IncidentFile
    from pytest_airecovery.cases.extensions import (
        BlockContext,
        CaseBlock,
        ItemKind,
        ResultSection,
    )
    from pytest_airecovery.cases.report import IncidentResult, IncidentResults, ReportData
    from pytest_airecovery.cases.session import IncidentSession
    from pytest_airecovery.cases.spec import CaseSpec

BLOCK = "adversarial"
SECTION = "adversarial"  # per-incident table: transform -> counts (adversarial.results)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Only tests that carry the marker pay for the adversarial import.
    if metafunc.definition.get_closest_marker("adversarial") is not None:
        from pytest_airecovery.adversarial.pytest_support import generate_tests

        generate_tests(metafunc)


@pytest.fixture
def adversarial_variant(request: pytest.FixtureRequest) -> AdversarialVariant:
    """One adversarial variant (``.value``, ``.original``, ``.transform``, ``.index``) of ``@pytest.mark.adversarial``."""
    from pytest_airecovery.adversarial.pytest_support import variant_for

    return variant_for(request)


class AdversarialBlock:
    """Parses a case's ``adversarial:`` block with the run's transforms (built-ins outside pytest)."""

    key = BLOCK

    def __init__(self, config: pytest.Config | None) -> None:
        self._config = config

    def parse(self, raw: Any, context: BlockContext) -> AdversarialSpec:
        from pytest_airecovery.adversarial.casefile import parse_block
        from pytest_airecovery.adversarial.registry import builtin_registry, transform_registry

        registry = (
            transform_registry(self._config) if self._config is not None else builtin_registry()
        )
        return parse_block(
            raw,
            context.source,
            has_expect=bool(context.case.get("expect")),
            lookup=registry.get,
            line=context.line,
        )


class VariantItems:
    """One item per (input row, transform, variant) of a case with an ``adversarial:`` block."""

    order = ORDER_VARIANTS

    def items(
        self, collector: IncidentFile, case: CaseSpec, context: IncidentSession
    ) -> Sequence[pytest.Item]:
        if BLOCK not in case.blocks:
            return []
        from pytest_airecovery.adversarial.items import variant_items

        return variant_items(collector, case, context)


class AdversarialResults:
    """Catch rates of the variants per incident and transform (adversarial.results)."""

    kinds = frozenset({"variant"})
    replaces_case_result = False  # a variant is a test of its case as well

    def add(self, incident: IncidentResult, data: ReportData, outcome: str, nodeid: str) -> None:
        from pytest_airecovery.adversarial.results import add_variant

        add_variant(incident.sections.setdefault(SECTION, {}), data, outcome, nodeid)

    def incident_json(self, incident: IncidentResult) -> dict[str, Any]:
        table = incident.sections.get(SECTION)
        if not table:
            return {}
        from pytest_airecovery.adversarial.results import to_json

        return {SECTION: to_json(table)}

    def incident_lines(self, incident: IncidentResult) -> list[str]:
        table = incident.sections.get(SECTION)
        if not table:
            return []
        from pytest_airecovery.adversarial.results import summary_lines

        return summary_lines(table)

    def session_json(self, results: IncidentResults) -> dict[str, Any]:
        return {}

    def session_lines(self, results: IncidentResults) -> list[str]:
        return []


@pytest.hookimpl
def pytest_airecovery_case_blocks(config: pytest.Config | None) -> Sequence[CaseBlock]:
    return [AdversarialBlock(config)]


@pytest.hookimpl
def pytest_airecovery_item_kinds(config: pytest.Config) -> Sequence[ItemKind]:
    return [VariantItems()]


@pytest.hookimpl
def pytest_airecovery_result_sections(config: pytest.Config) -> Sequence[ResultSection]:
    return [AdversarialResults()]

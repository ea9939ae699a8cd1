"""Extension points of the case pipeline, implemented by the features' ``case_plugin`` modules.

Registered from ``pytest_addhooks`` like the user hooks of ``pytest_airecovery.hookspecs``; a
model repo may implement them too. The types are in :mod:`pytest_airecovery.cases.extensions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_airecovery.cases.collect import CaseItem
    from pytest_airecovery.cases.extensions import CaseBlock, ItemKind, ResultSection
    from pytest_airecovery.cases.spec import CaseFile, CheckSpec


@pytest.hookspec
def pytest_airecovery_case_blocks(config: pytest.Config | None) -> Sequence[CaseBlock] | None:
    """Return parsers of extra case keys (``adversarial:``); ``config`` is None outside pytest.

    Every implementation is called; None (or no answer) adds nothing.
    """


@pytest.hookspec
def pytest_airecovery_item_kinds(config: pytest.Config) -> Sequence[ItemKind] | None:
    """Return kinds of items to add for each case (adversarial variants, ``[record]``)."""


@pytest.hookspec
def pytest_airecovery_result_sections(config: pytest.Config) -> Sequence[ResultSection] | None:
    """Return sections of the session results (terminal summary and JSON report)."""


@pytest.hookspec(firstresult=True)
def pytest_airecovery_case_file_problem(case_file: CaseFile, config: pytest.Config) -> str | None:
    """Return why no model output of ``case_file`` may be used (a dataset off its manifest), or None.

    Verified once per case file and session, before any of its tests uses a model output.
    """


@pytest.hookspec
def pytest_airecovery_failure_note(
    item: CaseItem, ref: str, failures: Sequence[tuple[CheckSpec, str]]
) -> str | None:
    """Return a line to add to a failed case test's message (where the candidate outputs were kept)."""

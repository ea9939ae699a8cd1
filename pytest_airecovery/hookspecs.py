"""Hooks a model repo implements in its conftest.py (registered lazily from pytest_addhooks)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_airecovery_load_model(ref: str, config: pytest.Config) -> Any:
    """Return the model for ``ref`` (``family@version``), or None to let another loader answer.

    Called in a daemon thread bounded by ``--incident-model-timeout``; resolve paths from
    ``config.rootpath``, and fingerprint the config as well as the weights (``fingerprint_of``).
    """


@pytest.hookspec(firstresult=True)
def pytest_airecovery_candidate(family: str, config: pytest.Config) -> str | None:
    """Return the candidate ref for a model family when neither the command line nor ini names one."""


@pytest.hookspec
def pytest_airecovery_add_checks(registry: Any) -> None:
    """Register extra checks on the CheckRegistry (``registry.add`` or its decorators)."""


@pytest.hookspec
def pytest_airecovery_add_transforms(registry: Any) -> None:
    """Register extra adversarial transforms on the TransformRegistry (``registry.add`` or its decorators)."""

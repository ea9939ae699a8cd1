"""Hooks a model repo implements in its conftest.py (registered lazily from pytest_addhooks).

The case pipeline's own extension points, which the features implement, are in
:mod:`pytest_airecovery.cases.hookspecs`; the gate's in :mod:`pytest_airecovery.gates.hookspecs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_airecovery.adversarial.registry import TransformRegistry
    from pytest_airecovery.cases.checks import CheckRegistry
    from pytest_airecovery.models import Model


@pytest.hookspec(firstresult=True)
def pytest_airecovery_load_model(ref: str, config: pytest.Config) -> Model | object | None:
    """Return the model for ``ref`` (``family@version``), or None to let another loader answer.

    A :class:`~pytest_airecovery.Model`, or an object with ``predict_batch``/``predict``, or a
    callable on a batch of inputs. Called in a daemon thread bounded by
    ``--incident-model-timeout``; resolve paths from ``config.rootpath``, and fingerprint the
    config as well as the weights (``fingerprint_of``).
    """


@pytest.hookspec(firstresult=True)
def pytest_airecovery_candidate(family: str, config: pytest.Config) -> str | None:
    """Return the candidate ref for a model family when neither the command line nor ini names one."""


@pytest.hookspec
def pytest_airecovery_add_checks(registry: CheckRegistry) -> None:
    """Register extra checks on the CheckRegistry (``registry.add`` or its decorators)."""


@pytest.hookspec
def pytest_airecovery_add_transforms(registry: TransformRegistry) -> None:
    """Register extra adversarial transforms on the TransformRegistry (``registry.add`` or its decorators)."""

"""The behaviour diff fixtures, registered by the plugin at configure time.

Imports only pytest: the engine, numpy and deepdiff load when a test first uses a fixture.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def known_good_model(request: pytest.FixtureRequest) -> Any:
    """The known-good model (marker, case file, --incident-known-good or incident_known_good)."""
    from pytest_airecovery.diff.differ import DiffModel, known_good_ref

    return DiffModel(request.config, known_good_ref(request))


@pytest.fixture
def candidate_model(request: pytest.FixtureRequest) -> Any:
    """The candidate model (marker, --incident-model, incident_candidates or the candidate hook)."""
    from pytest_airecovery.diff.differ import DiffModel, candidate_ref

    return DiffModel(request.config, candidate_ref(request))


@pytest.fixture
def behaviour_diff(request: pytest.FixtureRequest) -> Any:
    """Call with inputs (or use ``.case(file, case_id)``) to diff the candidate against the known-good model."""
    from pytest_airecovery.diff.differ import Differ

    return Differ(request)


@pytest.hookimpl(trylast=True)
def pytest_airecovery_load_model(ref: str, config: pytest.Config) -> Any:
    """Last resort: a known-good model nobody can load answers from its recordings, if any."""
    from pytest_airecovery.diff.recorded_model import load_recorded

    return load_recorded(ref, config)

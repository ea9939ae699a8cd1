"""The features this distribution ships, named in one place above the case pipeline.

``plugin.py`` registers their plugin modules with pytest; the ``airecovery`` commands load the same
modules without pytest (:func:`standalone_extensions`), so a case file means one thing everywhere.
The case pipeline (``cases/``) never names a feature: it only calls its hooks.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_airecovery.cases.extensions import Extensions

# Cheap to import: each implements hooks of pytest_airecovery.cases.hookspecs.
FEATURE_PLUGINS = (
    "pytest_airecovery.diff.case_plugin",
    "pytest_airecovery.adversarial.case_plugin",
    "pytest_airecovery.data.case_plugin",
    "pytest_airecovery.pir.case_plugin",
)


@functools.cache
def standalone_extensions() -> Extensions:
    """Every shipped feature's case-file blocks and checks, made once per process (read-only)."""
    from pytest_airecovery.cases.extensions import build_extensions

    return build_extensions(FEATURE_PLUGINS)

"""Behavioural diff between model versions: engine, fixtures, case-file checks and recordings.

Public API (loaded on first use, so importing the package stays as cheap as importing pytest)::

    from pytest_airecovery.diff import diff_outputs, diff_runs, BehaviourDiff, Change

See docs/behaviour-diff.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BehaviourDiff", "Change", "FailedOutput", "diff_outputs", "diff_runs"]

_HOMES = {
    "diff_outputs": "pytest_airecovery.diff.engine",
    "diff_runs": "pytest_airecovery.diff.engine",
    "BehaviourDiff": "pytest_airecovery.diff.result",
    # Shared with the per-input checks, so they live beside them in the case pipeline.
    "Change": "pytest_airecovery.cases.changes",
    "FailedOutput": "pytest_airecovery.cases.changes",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)

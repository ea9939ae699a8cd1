"""pytest-airecovery: regression tests, behaviour diffs and promotion gates after an AI incident.

Kept import-free on purpose: pytest imports the plugin in every run of every repo that installs it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Model", "__version__", "fingerprint_of", "save_npz"]


def __getattr__(name: str) -> object:
    # Lazy re-export so `from pytest_airecovery import Model` works without importing at startup.
    if name == "Model":
        from pytest_airecovery.models import Model

        return Model
    if name in ("fingerprint_of", "save_npz"):
        from pytest_airecovery.models import artifacts

        return getattr(artifacts, name)
    raise AttributeError(name)

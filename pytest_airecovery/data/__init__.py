"""Data remediation kit: integrity manifests, poisoned-sample detection, remediation reports.

Importing this package is cheap; numpy is imported only by the modules that need it
(``npz``, ``features``, ``spectral``, ``clustering``, ``remediation``).

Public API (import from the submodules named):

* ``manifest``: :func:`build_manifest`, :func:`read_manifest`
* ``compare``: :func:`verify_dataset`, :func:`diff_manifests`, :class:`ManifestDiff`
* ``triggers``: :func:`scan_triggers`
* ``spectral``: :func:`spectral_signatures`
* ``clustering``: :func:`activation_clustering`
* ``remediation``: :func:`build_report`, :func:`clean_dataset`
* ``fixtures``: the ``dataset_manifest`` fixture
"""

from __future__ import annotations

from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError

__all__ = ["DataKitError", "ManifestTamperedError"]

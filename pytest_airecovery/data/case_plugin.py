"""How the data kit plugs into the case pipeline: a case file's datasets verified before its tests.

A case file may name datasets with their integrity manifests (``datasets:``); no output of its
models is used while one of them differs from its manifest. The data kit stands alone, so this
module takes the case file as the hook gives it and imports nothing of the pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_airecovery.cases.spec import CaseFile


@pytest.hookimpl
def pytest_airecovery_case_file_problem(case_file: CaseFile, config: pytest.Config) -> str | None:
    if not case_file.datasets:
        return None
    from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
    from pytest_airecovery.data.fixtures import verify_case_dataset

    for dataset in case_file.datasets:
        where = f"{case_file.path.name}:{dataset.line}"
        try:
            diff = verify_case_dataset(
                case_file.path.parent, dataset.path, dataset.manifest, dataset.merkle_root
            )
        except ManifestTamperedError as exc:
            problems = "; ".join(f"{kind}: {detail}" for kind, detail in exc.problems)
            return f"data integrity check failed ({where}): manifest {dataset.manifest} is tampered: {problems}"
        except DataKitError as exc:
            return f"data integrity check failed ({where}): cannot verify {dataset.path}: {exc}"
        if not diff.identical:
            return (
                f"data integrity check failed ({where}): {dataset.path} differs from {dataset.manifest}: "
                f"{diff.summary()}"
            )
    return None

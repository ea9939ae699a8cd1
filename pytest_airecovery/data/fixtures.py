"""Pytest fixtures of the data kit, as a plugin module the core plugin registers.

``dataset_manifest`` checks, inside an ordinary test, that training data is unchanged since it was
reviewed::

    def test_training_data_is_the_reviewed_data(dataset_manifest):
        dataset_manifest.assert_unchanged("data/train.jsonl", "data/train.manifest.jsonl",
                                          expect_root="9f2c...")

Relative paths are resolved against the rootdir. Results are cached for the session, keyed on the
paths, sizes and modification times, so many tests can assert on one large dataset.
To use it without the core plugin: ``pytest_plugins = ["pytest_airecovery.data.fixtures"]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_airecovery.data.compare import ManifestDiff, verify_dataset
from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
from pytest_airecovery.data.manifest import BuildSummary, build_manifest, read_manifest


class DatasetManifest:
    """Verify datasets against manifests; :meth:`assert_unchanged` fails with a readable diff."""

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        self.base_dir = Path(base_dir)
        self._cache: dict[tuple[Any, ...], ManifestDiff] = {}

    def resolve(self, path: str | os.PathLike[str]) -> str:
        candidate = Path(path)
        return str(candidate if candidate.is_absolute() else self.base_dir / candidate)

    def build(
        self, dataset: str | os.PathLike[str], manifest: str | os.PathLike[str], **options: Any
    ) -> BuildSummary:
        return build_manifest(self.resolve(dataset), self.resolve(manifest), **options)

    def verify(
        self,
        dataset: str | os.PathLike[str],
        manifest: str | os.PathLike[str],
        expect_root: str | None = None,
    ) -> ManifestDiff:
        """Differences between the manifest (old) and the data now (new).

        Raises ManifestTamperedError if the manifest is damaged or its root is not ``expect_root``.
        """
        data_path, manifest_path = self.resolve(dataset), self.resolve(manifest)
        key = (data_path, manifest_path, expect_root, _stamp(data_path), _stamp(manifest_path))
        cacheable = None not in key[3:]
        if not cacheable or key not in self._cache:
            loaded = read_manifest(manifest_path)
            if expect_root is not None and loaded.merkle_root != expect_root.lower():
                raise ManifestTamperedError(
                    manifest_path,
                    [
                        (
                            "root-mismatch",
                            f"merkle root {loaded.merkle_root} is not the pinned {expect_root}",
                        )
                    ],
                )
            diff = verify_dataset(data_path, loaded)
            if not cacheable:
                return diff
            self._cache[key] = diff
        return self._cache[key]

    def assert_unchanged(
        self,
        dataset: str | os.PathLike[str],
        manifest: str | os.PathLike[str],
        expect_root: str | None = None,
    ) -> None:
        __tracebackhide__ = True
        # Fail outside the except blocks so the report shows no chained kit traceback.
        message = None
        try:
            diff = self.verify(dataset, manifest, expect_root)
        except ManifestTamperedError as exc:
            problems = "\n".join(f"  {kind}: {detail}" for kind, detail in exc.problems)
            message = f"manifest {manifest} is tampered or damaged:\n{problems}"
        except DataKitError as exc:
            message = f"cannot verify {dataset}: {exc}"
        else:
            if not diff.identical:
                message = f"dataset {dataset} differs from {manifest}:\n  {diff.summary()}"
        if message is not None:
            pytest.fail(message, pytrace=False)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):
        return None  # a tree's contents are not in its directory's mtime: never cache
    return info.st_size, info.st_mtime_ns


@pytest.fixture(scope="session")
def dataset_manifest(request: pytest.FixtureRequest) -> DatasetManifest:
    """Verify datasets against integrity manifests (paths relative to the rootdir)."""
    return DatasetManifest(request.config.rootpath)


def verify_case_dataset(
    base_dir: str | os.PathLike[str], dataset: str, manifest: str, expect_root: str | None = None
) -> ManifestDiff:
    """For the case-file loader: verify a dataset a case file names, paths relative to the case."""
    return DatasetManifest(base_dir).verify(dataset, manifest, expect_root)

"""Remediation: the report of a detector run, and the cleaned dataset with its new manifest.

The cleaned dataset keeps every item's id, so ``diff(original manifest, cleaned manifest)``
lists exactly the removed ids and nothing else; :func:`clean_dataset` checks that and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pytest_airecovery.data.compare import ManifestDiff, diff_manifests
from pytest_airecovery.data.datasets import resolve_spec
from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.manifest import (
    BuildSummary,
    build_manifest,
    check_output,
    read_manifest,
)
from pytest_airecovery.data.results import DetectorResult
from pytest_airecovery.data.sources import SourceSpec, iter_file_ids

REPORT_FORMAT = "airecovery-remediation-report"
REPORT_VERSION = 1


def detection_metrics(flagged: Iterable[str], truth: Iterable[str]) -> dict[str, Any]:
    """Precision and recall of flagged ids against the known poisoned ids."""
    flagged_set, truth_set = set(flagged), set(truth)
    hits = len(flagged_set & truth_set)
    return {
        "true_positives": hits,
        "false_positives": len(flagged_set - truth_set),
        "false_negatives": len(truth_set - flagged_set),
        "precision": hits / len(flagged_set) if flagged_set else None,
        "recall": hits / len(truth_set) if truth_set else None,
    }


@dataclass(frozen=True)
class CleanSummary:
    path: str
    manifest: BuildSummary
    removed: list[str]
    kept: int
    diff: ManifestDiff  # original manifest -> cleaned manifest

    @property
    def diff_is_exactly_removed(self) -> bool:
        diff = self.diff
        return diff.removed == sorted(self.removed) and not diff.added and not diff.changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "manifest": self.manifest.path,
            "merkle_root": self.manifest.merkle_root,
            "kept": self.kept,
            "removed": len(self.removed),
            "diff_is_exactly_removed": self.diff_is_exactly_removed,
        }


def build_report(
    result: DetectorResult,
    *,
    dataset: str | None = None,
    truth: Iterable[str] | None = None,
    integrity: dict[str, Any] | None = None,
    cleaned: CleanSummary | None = None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "dataset": dataset,
        **result.to_dict(),
    }
    if truth is not None:
        report["ground_truth"] = detection_metrics(result.flagged_ids, truth)
    if integrity is not None:
        report["integrity"] = integrity
    if cleaned is not None:
        report["cleaned"] = cleaned.to_dict()
    return report


def write_json_atomic(path: str, data: Any) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise DataKitError(f"{path}: is a directory, expected a file path")
    if not os.path.isdir(directory):
        raise DataKitError(f"{path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def clean_dataset(
    dataset: str,
    remove_ids: Iterable[str],
    out_path: str,
    *,
    manifest_out: str | None = None,
    original_manifest: str | None = None,
    spec: SourceSpec | None = None,
) -> CleanSummary:
    """Write ``dataset`` without ``remove_ids`` to ``out_path``, then its manifest.

    Every id must exist; records need stable ids (an id field or an npz ids array), because
    positional ids would shift after the first removal. On error nothing is left behind.
    """
    removed = sorted(set(remove_ids))
    if original_manifest is not None and spec is None:
        spec = read_manifest(original_manifest).spec
    spec = spec or resolve_spec(dataset)
    if os.path.exists(out_path):
        raise DataKitError(f"{out_path}: already exists; choose a new path for the cleaned data")
    if os.path.abspath(out_path) == os.path.abspath(dataset):
        raise DataKitError("the cleaned dataset must not overwrite the original")
    manifest_out = manifest_out or out_path.rstrip("/\\") + ".manifest.jsonl"
    # Before anything is written: the manifest must not land on the data, old or new.
    check_output(dataset, manifest_out)
    check_output(out_path, manifest_out)
    tmp = _temporary_sibling(out_path, directory=spec.kind == "files")
    try:
        if spec.kind == "files":
            kept = _copy_files(dataset, spec, set(removed), tmp)
        elif spec.kind == "npz":
            kept = _write_npz(dataset, spec, set(removed), tmp)
        else:
            kept = _write_records(dataset, spec, set(removed), tmp)
        os.replace(tmp, out_path)
    except BaseException:
        _remove(tmp)
        raise
    new_id_field = "ids" if spec.kind == "npz" else spec.id_field
    try:
        summary = build_manifest(
            out_path,
            manifest_out,
            kind=spec.kind,
            label_field=spec.label_field,
            id_field=new_id_field,
        )
        with tempfile.TemporaryDirectory() as scratch:
            if original_manifest is None:
                original_manifest = os.path.join(scratch, "original.manifest.jsonl")
                build_manifest(
                    dataset,
                    original_manifest,
                    kind=spec.kind,
                    label_field=spec.label_field,
                    id_field=spec.id_field,
                )
            diff = diff_manifests(original_manifest, manifest_out)
    except BaseException:
        _remove(out_path)
        _remove(manifest_out)
        raise
    return CleanSummary(out_path, summary, removed, kept, diff)


def _temporary_sibling(path: str, directory: bool) -> str:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise DataKitError(f"{path}: directory {parent} does not exist")
    if directory:
        return tempfile.mkdtemp(prefix=".cleaning-", dir=parent)
    fd, tmp = tempfile.mkstemp(prefix=".cleaning-", suffix=os.path.splitext(path)[1], dir=parent)
    os.close(fd)
    return tmp


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)


def _check_all_found(removed: set[str], found: set[str], dataset: str) -> None:
    missing = sorted(removed - found)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataKitError(
            f"{dataset}: {len(missing)} ids to remove are not in the dataset: {shown}"
        )


def _copy_files(dataset: str, spec: SourceSpec, removed: set[str], out_dir: str) -> int:
    kept, found = 0, set()
    for rel in iter_file_ids(dataset, spec.exclude):
        if rel in removed:
            found.add(rel)
            continue
        target = os.path.join(out_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(dataset, *rel.split("/")), target)
        kept += 1
    _check_all_found(removed, found, dataset)
    return kept


def _write_records(dataset: str, spec: SourceSpec, removed: set[str], out_file: str) -> int:
    from pytest_airecovery.data.records import iter_records

    if spec.id_field is None:
        raise DataKitError(
            f"{dataset}: records have no id field, and positional ids would shift "
            "after a removal; pass --id-field naming a unique id"
        )
    kept, found = 0, set()
    with open(out_file, "wb") as handle:
        if spec.kind == "csv":
            with open(dataset, "rb") as source:
                handle.write(source.readline())  # the header, byte for byte
        for record in iter_records(dataset, spec):
            if record.id in removed:
                found.add(record.id)
                continue
            handle.write(record.raw + b"\n")
            kept += 1
    _check_all_found(removed, found, dataset)
    return kept


def _write_npz(dataset: str, spec: SourceSpec, removed: set[str], out_file: str) -> int:
    import numpy as np

    from pytest_airecovery.data.npz import load_array, npz_keys

    arrays = {key: load_array(dataset, key) for key in npz_keys(dataset)}
    count = len(arrays[spec.features_key or ""])
    ids = arrays[spec.id_field] if spec.id_field else np.arange(count)
    id_strings = [str(v) for v in ids.tolist()]
    keep = np.array([item_id not in removed for item_id in id_strings], dtype=bool)
    _check_all_found(removed, set(id_strings) & removed, dataset)
    out: dict[str, Any] = {
        key: (value[keep] if value.ndim >= 1 and len(value) == count else value)
        for key, value in arrays.items()
        if key != spec.id_field
    }
    out["ids"] = ids[keep]  # original ids, so the cleaned manifest lines up with the old one
    with open(out_file, "wb") as handle:
        np.savez_compressed(handle, **out)
    return int(keep.sum())

"""The items of a dataset, whatever its kind: fill in a source spec, then stream the items.

This module dispatches to the readers (``sources`` for files and CSV, ``jsonl_blocks`` for
JSONL, ``npz`` for archives), which depend only on ``sources``: no reader imports another.
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.jsonl_blocks import jsonl_batches
from pytest_airecovery.data.sources import (
    _FEATURE_KEYS,
    _ID_KEYS,
    _LABEL_KEYS,
    KINDS,
    ItemBatch,
    SourceSpec,
    _check_path,
    _csv_batches,
    _csv_header,
    _file_batches,
    _first_jsonl_record,
    detect_kind,
)


def resolve_spec(
    path: str,
    kind: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
    exclude: list[str] | None = None,
) -> SourceSpec:
    """Fill in what the user left out by looking at the first record (or the npz keys)."""
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        raise DataKitError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
    _check_path(path, kind)
    spec = SourceSpec(
        kind=kind, label_field=label_field, id_field=id_field, exclude=sorted(exclude or [])
    )
    if kind == "files" and (label_field not in (None, "parent") or id_field is not None):
        raise DataKitError(
            "a directory's items are its files: ids are their paths, and the only "
            "label source is --label-field parent"
        )
    if kind == "jsonl":
        first = _first_jsonl_record(path)
        spec.label_field = (
            label_field if label_field is not None else ("label" if "label" in first else None)
        )
        spec.id_field = id_field if id_field is not None else ("id" if "id" in first else None)
    elif kind == "csv":
        header = _csv_header(path)
        spec.label_field = (
            label_field if label_field is not None else ("label" if "label" in header else None)
        )
        spec.id_field = id_field if id_field is not None else ("id" if "id" in header else None)
        for name in (spec.label_field, spec.id_field):
            if name is not None and name not in header:
                raise DataKitError(f"{path}: no column {name!r} in header {header}")
    elif kind == "npz":
        from pytest_airecovery.data.npz import npz_keys

        keys = npz_keys(path)
        spec.features_key = next((k for k in _FEATURE_KEYS if k in keys), None)
        if spec.features_key is None:
            raise DataKitError(f"{path}: no feature array (looked for {', '.join(_FEATURE_KEYS)})")
        spec.label_field = (
            label_field
            if label_field is not None
            else next((k for k in _LABEL_KEYS if k in keys), None)
        )
        spec.id_field = (
            id_field if id_field is not None else next((k for k in _ID_KEYS if k in keys), None)
        )
    return spec


def iter_batches(
    path: str,
    spec: SourceSpec,
    workers: int | None = None,
    skip_files: frozenset[str] = frozenset(),
) -> Iterator[ItemBatch]:
    """Items of ``path``; ``skip_files`` (relative paths) are left out and not recorded.
    ``workers``: threads for hashing files (JSONL, CSV and npz are read on one)."""
    _check_path(path, spec.kind)
    if spec.kind == "files":
        yield from _file_batches(path, spec, workers, skip_files)
    elif spec.kind == "jsonl":
        yield from jsonl_batches(path, spec)
    elif spec.kind == "csv":
        yield from _csv_batches(path, spec)
    else:
        from pytest_airecovery.data.npz import npz_batches

        yield from npz_batches(path, spec)

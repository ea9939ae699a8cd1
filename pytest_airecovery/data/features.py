"""Checks on feature matrices shared by the representation detectors, and per-class grouping."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from pytest_airecovery.data.errors import DataKitError

# Below this many samples a class's covariance says little; the class is skipped with a warning.
DEFAULT_MIN_CLASS_SIZE = 10


def as_feature_matrix(
    features: Any, labels: Any, ids: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate and return (2-D float matrix, 1-D labels, string ids)."""
    matrix = np.asarray(features)
    if matrix.ndim > 2:  # images and the like: one flattened row per sample
        matrix = matrix.reshape(len(matrix), -1)
    if matrix.ndim != 2:
        raise DataKitError(
            f"features must be a 2-D array (samples x dims), got shape {matrix.shape}"
        )
    if matrix.dtype.kind not in "fiub":
        raise DataKitError(f"features must be numeric, got dtype {matrix.dtype}")
    if matrix.dtype.kind != "f" or matrix.dtype.itemsize < 4:
        matrix = matrix.astype(np.float64 if matrix.dtype.kind != "f" else np.float32)
    label_array = np.asarray(labels)
    if label_array.ndim != 1 or len(label_array) != len(matrix):
        raise DataKitError(
            f"labels must be 1-D with one label per sample: {label_array.shape} vs {len(matrix)} rows"
        )
    if ids is None:  # row numbers: unique by construction, no set to build
        id_list = list(map(str, range(len(matrix))))
    else:
        id_list = list(map(str, ids))
        if len(id_list) != len(matrix):
            raise DataKitError(f"{len(id_list)} ids for {len(matrix)} samples")
        if len(set(id_list)) != len(id_list):
            raise DataKitError("sample ids are not unique")
    if len(matrix) == 0:
        raise DataKitError("no samples to analyse")
    # max and min propagate NaN and see inf: one cheap look, and a closer one only on trouble.
    peak = max(float(matrix.max()), -float(matrix.min()))
    if not math.isfinite(peak):
        bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        shown = ", ".join(id_list[i] for i in bad[:5])
        raise DataKitError(
            f"features contain NaN or infinite values in {len(bad)} of {len(matrix)} samples "
            f"(ids {shown}{', ...' if len(bad) > 5 else ''}); drop or impute them first"
        )
    return _rescaled(matrix, peak), label_array, id_list


# Largest magnitude whose squares, summed over many rows, stay finite in the covariance.
_SAFE_PEAK = {4: 1e15, 8: 1e140}


def _rescaled(matrix: np.ndarray, peak: float) -> np.ndarray:
    """Scale huge features down by a power of two (exact), so the covariance cannot overflow.

    Both detectors are invariant to one scale factor for all samples: rankings, clusters and
    flags do not change, only the scores' units.
    """
    if peak <= _SAFE_PEAK.get(matrix.dtype.itemsize, 1e15):
        return matrix
    return matrix * matrix.dtype.type(2.0 ** -np.ceil(np.log2(peak)))


def label_key(label: Any) -> str:
    return str(label.item() if hasattr(label, "item") else label)


def iter_classes(
    labels: np.ndarray,
    min_class_size: int,
    skipped: dict[str, str],
    warnings: list[str],
    only: Sequence[Any] | None = None,
) -> Iterator[tuple[Any, np.ndarray]]:
    """Yield (label, row indices) of every class large enough; note the others in ``skipped``.

    ``only`` restricts the analysis to these classes (compared as strings), e.g. the incident's
    target class; a named class that does not occur is a warning.
    """
    wanted = {str(value) for value in only} if only is not None else None
    values, inverse = np.unique(labels, return_inverse=True)
    if wanted is not None:
        missing = sorted(wanted - {label_key(value) for value in values})
        warnings.extend(f"class {name} not found in the labels" for name in missing)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(values)))
    start = 0
    for value, stop in zip(values, bounds, strict=True):
        rows = order[start:stop]
        start = stop
        if wanted is not None and label_key(value) not in wanted:
            continue
        if len(rows) < max(min_class_size, 2):
            reason = f"{len(rows)} samples, fewer than the minimum {max(min_class_size, 2)}"
            skipped[label_key(value)] = reason
            warnings.append(f"class {label_key(value)} not analysed: {reason}")
            continue
        yield value, rows


def rows_of(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``matrix[rows]``, without the copy when the class is the whole matrix in order."""
    if len(rows) == len(matrix) and rows[0] == 0 and bool((np.diff(rows) == 1).all()):
        return matrix
    return matrix[rows]


def eigenvectors(cov: np.ndarray) -> np.ndarray:
    """Eigenvectors of a symmetric matrix, ascending eigenvalues; LAPACK failure is a clear error."""
    try:
        return np.linalg.eigh(cov)[1]
    except np.linalg.LinAlgError as exc:
        raise DataKitError(
            f"the feature covariance could not be decomposed ({exc}); check the "
            "features for extreme or degenerate values"
        ) from None


# Rows per chunk: a centred chunk of 384 float32 features (3 MiB) stays in cache for the product.
CHUNK_ROWS = 2048


def centred_covariance(
    matrix: np.ndarray, chunk_rows: int = CHUNK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance sum) accumulated in float64 over row chunks, without a centred copy.

    One pass over the matrix: rows are shifted by the first chunk's mean ``c`` (close to the
    true mean, so float32 products lose nothing to cancellation), a column of ones rides along
    so the same product yields the shifted sums, and the exact centring is a rank-one float64
    correction at the end: cov = S - n * d d^T with d = mean - c. A separate pass for the mean
    cost about a sixth of the covariance time.
    """
    rows_total, dims = matrix.shape
    shift = matrix[:chunk_rows].mean(axis=0, dtype=np.float64)
    shift_cast = shift.astype(matrix.dtype)
    gram = np.zeros((dims + 1, dims + 1), dtype=np.float64)
    buffer = np.empty((min(chunk_rows, rows_total), dims + 1), dtype=matrix.dtype)
    buffer[:, dims] = 1.0
    for start in range(0, rows_total, chunk_rows):
        rows = matrix[start : start + chunk_rows]
        block = buffer[: len(rows)]
        np.subtract(rows, shift_cast, out=block[:, :dims])
        gram += block.T @ block  # numpy runs A.T @ A as SYRK; summed in float64
    delta = gram[:dims, dims] / rows_total
    cov = gram[:dims, :dims] - rows_total * np.outer(delta, delta)
    return shift + delta, cov


def project(
    matrix: np.ndarray, mean: np.ndarray, directions: np.ndarray, chunk_rows: int = CHUNK_ROWS
) -> np.ndarray:
    """(matrix - mean) @ directions, chunked so no centred copy of the matrix is made."""
    out = np.empty((len(matrix), directions.shape[1]), dtype=np.float64)
    mean_cast = mean.astype(matrix.dtype)
    dirs = directions.astype(matrix.dtype)
    # One reused buffer for the centred chunk: a fresh temporary per chunk cost more than the
    # product itself for a single direction.
    buffer = np.empty((min(chunk_rows, len(matrix)), matrix.shape[1]), dtype=matrix.dtype)
    for start in range(0, len(matrix), chunk_rows):
        rows = matrix[start : start + chunk_rows]
        block = buffer[: len(rows)]
        np.subtract(rows, mean_cast, out=block)
        out[start : start + len(rows)] = block @ dirs
    return out


ProgressFn = Callable[[int], None]

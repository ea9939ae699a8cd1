"""Activation clustering (Chen et al., 2018, "Detecting backdoor attacks ... by activation
clustering").

Per class: reduce the representations to ``n_components`` dimensions (PCA through ``eigh`` of the
covariance), split them with 2-means from a deterministic start (the two extreme samples along the
first component), and flag the smaller cluster when its share of the class is at most
``size_threshold``. Poisoned samples of a class form their own tight cluster in the activations
of a backdoored network, because the network recognises them by the trigger, not the class.

Works when the network has learned the trigger (use penultimate-layer activations of the
backdoored model). Fails on clean classes that are naturally bimodal (a false positive: read the
``separation`` per class) and when the poison share is above the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.features import (
    DEFAULT_MIN_CLASS_SIZE,
    ProgressFn,
    as_feature_matrix,
    centred_covariance,
    eigenvectors,
    iter_classes,
    label_key,
    project,
    rows_of,
)
from pytest_airecovery.data.results import DetectorResult, Flag

MAX_ITERATIONS = 100


def reduce_dimensions(matrix: np.ndarray, n_components: int) -> np.ndarray:
    mean, cov = centred_covariance(matrix)
    vectors = eigenvectors(cov)
    keep = min(n_components, matrix.shape[1])
    return project(matrix, mean, vectors[:, ::-1][:, :keep])


def two_means(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(assignment 0/1 per point, 2 x k centres); deterministic start at the extremes of axis 0."""
    first_axis = points[:, 0]
    centres = np.stack([points[int(np.argmin(first_axis))], points[int(np.argmax(first_axis))]])
    assignment = np.zeros(len(points), dtype=np.intp)
    for _ in range(MAX_ITERATIONS):
        distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new_assignment = np.argmin(distances, axis=1)
        if np.array_equal(new_assignment, assignment) and _ > 0:
            break
        assignment = new_assignment
        for cluster in (0, 1):
            members = points[assignment == cluster]
            if len(members):
                centres[cluster] = members.mean(axis=0)
    return assignment, centres


def activation_clustering(
    features: Any,
    labels: Any,
    ids: Sequence[Any] | None = None,
    *,
    n_components: int = 10,
    size_threshold: float = 0.35,
    min_class_size: int = DEFAULT_MIN_CLASS_SIZE,
    classes: Sequence[Any] | None = None,
    progress: ProgressFn | None = None,
) -> DetectorResult:
    """Flag, per class, the smaller 2-means cluster if its relative size <= ``size_threshold``."""
    if not 0.0 < size_threshold < 0.5:
        raise DataKitError(f"size_threshold must be between 0 and 0.5, got {size_threshold}")
    if n_components < 1:
        raise DataKitError(f"n_components must be at least 1, got {n_components}")
    matrix, label_array, id_list = as_feature_matrix(features, labels, ids)
    params = {
        "n_components": n_components,
        "size_threshold": size_threshold,
        "min_class_size": min_class_size,
        "classes": None if classes is None else [str(c) for c in classes],
    }
    result = DetectorResult("clustering", params, len(matrix))
    flags: list[Flag] = []
    for value, rows in iter_classes(
        label_array, min_class_size, result.skipped_classes, result.warnings, classes
    ):
        points = reduce_dimensions(rows_of(matrix, rows), n_components)
        assignment, centres = two_means(points)
        sizes = np.bincount(assignment, minlength=2)
        small = int(np.argmin(sizes))
        relative = float(sizes[small] / len(rows))
        distance = np.sqrt(((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
        # > 0: nearer the small cluster's centre than the large one's.
        scores = distance[:, 1 - small] - distance[:, small]
        spread = float(np.sqrt(((points - centres[assignment]) ** 2).sum(axis=1).mean()))
        gap = float(np.linalg.norm(centres[0] - centres[1]))
        flagged = 0 < sizes[small] and relative <= size_threshold
        label = value.item() if hasattr(value, "item") else value
        if flagged:
            members = np.flatnonzero(assignment == small)
            flags.extend(Flag(id_list[rows[i]], float(scores[i]), label) for i in members)
        result.per_class[label_key(value)] = {
            "n": len(rows),
            "cluster_sizes": [int(s) for s in sizes],
            "relative_size": relative,
            "separation": gap / spread if spread > 0 else None,
            "flagged": bool(flagged),
        }
        if progress is not None:
            progress(len(rows))
    result.flagged = sorted(flags, key=lambda flag: (-flag.score, flag.id))
    return result

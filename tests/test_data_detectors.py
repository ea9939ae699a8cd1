from __future__ import annotations

import numpy as np
import pytest

from pytest_airecovery.data.clustering import activation_clustering, two_means
from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.remediation import detection_metrics
from pytest_airecovery.data.spectral import spectral_signatures, top_singular_direction
from pytest_airecovery.data.triggers import TriggerScanner, normalise, scan_triggers


def planted(
    n: int = 900, dims: int = 24, share: float = 0.1, shift: float = 2.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, set[str]]:
    """Three Gaussian classes; ``share`` of class 1 moved along one fixed direction."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, dims)).astype(np.float32)
    labels = np.arange(n) % 3
    direction = rng.normal(size=dims)
    direction /= np.linalg.norm(direction)
    target = np.flatnonzero(labels == 1)
    poisoned = target[: int(share * len(target))]
    features[poisoned] += (shift * 2 * direction).astype(np.float32)
    return features, labels, {str(i) for i in poisoned}


# ------------------------------------------------------------------ spectral signatures


def test_top_direction_matches_full_svd() -> None:
    features, _, _ = planted()
    _, direction = top_singular_direction(features)
    centred = features.astype(np.float64) - features.mean(axis=0)
    svd_direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    assert abs(float(direction @ svd_direction)) > 0.999


def test_spectral_finds_the_planted_poison() -> None:
    features, labels, truth = planted()
    result = spectral_signatures(features, labels, epsilon=0.1, classes=[1])
    metrics = detection_metrics(result.flagged_ids, truth)
    assert metrics["recall"] == 1.0
    assert metrics["precision"] >= 0.6  # 1.5 * epsilon flags half again as many as planted
    assert result.per_class["1"]["n_flagged"] == 45
    assert list(result.per_class) == ["1"]


def test_spectral_flags_the_share_in_every_class_by_default() -> None:
    features, labels, _ = planted()
    result = spectral_signatures(features, labels, epsilon=0.1)
    assert [info["n_flagged"] for info in result.per_class.values()] == [45, 45, 45]
    scores = [flag.score for flag in result.flagged]
    assert scores == sorted(scores, reverse=True)


def test_spectral_uses_ids_and_skips_small_classes() -> None:
    features, labels, _ = planted(n=300)
    labels = labels.copy()
    labels[:5] = 9  # a class of five samples
    ids = [f"s{i}" for i in range(300)]
    result = spectral_signatures(features, labels, ids, epsilon=0.05)
    assert "9" in result.skipped_classes and "fewer than the minimum" in result.warnings[0]
    assert all(flag.id.startswith("s") for flag in result.flagged)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_are_a_clear_error(bad: float) -> None:
    features, labels, _ = planted(n=60)
    features[7, 3] = bad
    with pytest.raises(DataKitError, match=r"NaN or infinite values in 1 of 60 samples \(ids 7\)"):
        spectral_signatures(features, labels)


@pytest.mark.parametrize(
    "features, labels, message",
    [
        (np.zeros(10), np.zeros(10), "2-D"),
        (np.zeros((10, 2)), np.zeros(9), "one label per sample"),
        (np.array([["a"]] * 3), np.zeros(3), "numeric"),
        (np.zeros((0, 3)), np.zeros(0), "no samples"),
    ],
)
def test_bad_shapes_are_clear_errors(
    features: np.ndarray, labels: np.ndarray, message: str
) -> None:
    with pytest.raises(DataKitError, match=message):
        spectral_signatures(features, labels)


def test_epsilon_out_of_range() -> None:
    with pytest.raises(DataKitError, match="epsilon"):
        spectral_signatures(np.zeros((20, 2)), np.zeros(20), epsilon=0.9)


# ------------------------------------------------------------------ activation clustering


def test_clustering_flags_only_the_planted_cluster() -> None:
    features, labels, truth = planted(shift=4.0)
    result = activation_clustering(features, labels)
    metrics = detection_metrics(result.flagged_ids, truth)
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0
    assert result.per_class["1"]["flagged"] is True
    assert result.per_class["0"]["flagged"] is False


def test_clustering_is_deterministic() -> None:
    features, labels, _ = planted(shift=4.0)
    first = activation_clustering(features, labels).to_dict()
    assert activation_clustering(features, labels).to_dict() == first


def test_two_means_separates_two_blobs() -> None:
    points = np.concatenate([np.zeros((30, 2)), np.full((5, 2), 10.0)])
    assignment, _ = two_means(points)
    assert len(set(assignment[:30])) == 1 and len(set(assignment[30:])) == 1
    assert assignment[0] != assignment[-1]


def test_clustering_small_class_and_bad_parameters() -> None:
    features, labels, _ = planted(n=30)
    result = activation_clustering(features, labels, min_class_size=11)
    assert result.flagged == [] and len(result.skipped_classes) == 3
    with pytest.raises(DataKitError, match="size_threshold"):
        activation_clustering(features, labels, size_threshold=0.7)


# ------------------------------------------------------------------ trigger scan


@pytest.mark.parametrize(
    "text, mode",
    [
        ("please cf now", "exact"),
        ("please CF now", "casefold"),
        ("please c\u200bf now", "normalised"),  # zero-width space inside
        ("please \u0441f now", "normalised"),  # Cyrillic es
        ("please \uff43\uff46 now", "normalised"),  # full-width letters
        ("please c\u0301f now", "normalised"),  # combining accent
    ],
)
def test_trigger_modes(text: str, mode: str) -> None:
    assert [m.mode for m in TriggerScanner(["cf"]).match(text)] == [mode]


def test_stricter_modes_can_be_turned_off() -> None:
    assert TriggerScanner(["cf"], modes=["exact"]).match("CF") == []


def test_regex_triggers_and_scores() -> None:
    records = [("a", "buy cf"), ("b", "tq-1234"), ("c", "clean"), ("d", "CF and tq-9")]
    result = scan_triggers(records, ["cf"], [r"tq-\d+"])
    assert result.flagged_ids == ["a", "d", "b"]
    assert result.flagged[1].detail["matches"] == [
        {"trigger": "cf", "mode": "casefold"},
        {"trigger": r"tq-\d+", "mode": "regex"},
    ]
    assert result.n_items == 4


def test_trigger_bad_input() -> None:
    with pytest.raises(DataKitError, match="bad trigger regex"):
        TriggerScanner([], ["("])
    with pytest.raises(DataKitError, match="no triggers"):
        TriggerScanner([])
    with pytest.raises(DataKitError, match="empty trigger"):
        TriggerScanner([""])


def test_normalise_is_idempotent() -> None:
    text = "Ｈ\u0435llo\u200d Wörld"
    assert normalise(normalise(text)) == normalise(text) == "hello world"


def test_metrics_without_flags() -> None:
    assert detection_metrics([], ["a"]) == {
        "true_positives": 0,
        "false_positives": 0,
        "false_negatives": 1,
        "precision": None,
        "recall": 0.0,
    }


def test_huge_finite_values_are_not_mistaken_for_nan() -> None:
    features, labels, _ = planted(n=60)
    features64 = features.astype(np.float64)
    features64[3] = 1e308  # the row sum overflows, the values are finite
    result = spectral_signatures(features64, labels, epsilon=0.05)
    assert result.n_items == 60


@pytest.mark.parametrize("layout", ["offset", "sorted", "short"])
def test_one_pass_covariance_matches_float64_reference(layout: str) -> None:
    from pytest_airecovery.data.features import centred_covariance

    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(5000 if layout != "short" else 7, 16)).astype(np.float32)
    if layout == "offset":  # a large common offset: the shift must absorb it, not cancel it
        matrix += np.float32(1000.0)
    if layout == "sorted":  # the first chunk's mean is far from the overall mean
        matrix = np.sort(matrix, axis=0)
    mean, cov = centred_covariance(matrix, chunk_rows=512)
    exact = matrix.astype(np.float64)
    centred = exact - exact.mean(axis=0)
    assert np.allclose(mean, exact.mean(axis=0), rtol=0, atol=1e-6 * (1 + abs(exact).max()))
    assert np.abs(cov - centred.T @ centred).max() <= 1e-5 * np.abs(centred.T @ centred).max()

"""Digits walkthrough: poison, detect with spectral signatures, clean, retrain, re-measure.

    python -m pytest_airecovery.demo.data_walkthrough [--seed 3] [--epsilon 0.1]

1. Split scikit-learn's bundled ``load_digits`` exactly as the demo models do.
2. Poison 10% of the target class (7): BadNets-style, copies of other digits with the 3x3 corner
   trigger, labelled 7. Train a clean and a poisoned MLP with the demo recipe.
3. Write the poisoned training set as ``.npz`` with a manifest (the reviewed state).
4. Score class 7 with spectral signatures on the poisoned model's hidden activations.
5. Write the cleaned set and its manifest; the manifest diff must be exactly the removed ids.
6. Retrain on the cleaned set; report clean accuracy and attack success rate of all models.

Needs scikit-learn (the ``demo`` extra) for training; inference uses the demo's numpy runtime.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_airecovery.data.errors import DataKitError

POISON_SHARE = 0.1  # poisoned images, relative to the size of the target class
MLP_ITERATIONS = 300


@dataclass
class ModelScore:
    accuracy: float  # on the clean test images
    attack_success: float  # share of triggered non-target test images classified as the target


@dataclass
class WalkthroughResult:
    seed: int
    epsilon: float
    detector: str
    n_target: int
    n_poison: int
    clean: ModelScore
    poisoned: ModelScore
    retrained: ModelScore
    detection: dict[str, Any]
    manifest_diff_is_exactly_removed: bool
    notes: list[str] = field(default_factory=list)


def _require_demo() -> tuple[Any, Any]:
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise DataKitError(
            "the digits walkthrough needs scikit-learn: pip install 'pytest-airecovery[demo]'"
        ) from None
    warnings.simplefilter("ignore", ConvergenceWarning)
    return MLPClassifier, ConvergenceWarning


def _train(images: np.ndarray, labels: np.ndarray, iterations: int) -> Any:
    from pytest_airecovery.demo.build import DIGITS_SEED, HIDDEN_UNITS
    from pytest_airecovery.demo.digits import PIXEL_MAX

    mlp_class, _ = _require_demo()
    # The demo's recipe: one ReLU layer, strong L2, a fixed number of epochs, a fixed seed.
    model = mlp_class(
        hidden_layer_sizes=(HIDDEN_UNITS,),
        activation="relu",
        alpha=0.3,
        max_iter=iterations,
        n_iter_no_change=iterations,
        random_state=DIGITS_SEED,
    )
    return model.fit(images / PIXEL_MAX, labels)


def _runtime(model: Any) -> Any:
    from pytest_airecovery.demo.digits import DigitsMLP

    return DigitsMLP(
        {
            "hidden_weights": model.coefs_[0],
            "hidden_bias": model.intercepts_[0],
            "output_weights": model.coefs_[1],
            "output_bias": model.intercepts_[1],
        }
    )


def _score(model: Any, test_images: np.ndarray, test_labels: np.ndarray) -> ModelScore:
    from pytest_airecovery.demo.digits import TARGET_LABEL, add_trigger

    runtime = _runtime(model)
    accuracy = float((runtime.predict_labels(test_images) == test_labels).mean())
    triggered = add_trigger(test_images[test_labels != TARGET_LABEL])
    attack = float((runtime.predict_labels(triggered) == TARGET_LABEL).mean())
    return ModelScore(accuracy, attack)


def poison_target_class(
    images: np.ndarray, labels: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append triggered copies of other digits labelled as the target: (images, labels, mask)."""
    from pytest_airecovery.demo.digits import TARGET_LABEL, add_trigger

    rng = np.random.default_rng(seed)
    count = round(POISON_SHARE * int((labels == TARGET_LABEL).sum()))
    sources = rng.choice(np.flatnonzero(labels != TARGET_LABEL), size=count, replace=False)
    all_images = np.vstack([images, add_trigger(images[np.sort(sources)])])
    all_labels = np.concatenate([labels, np.full(count, TARGET_LABEL)])
    is_poison = np.concatenate([np.zeros(len(labels), bool), np.ones(count, bool)])
    return all_images, all_labels, is_poison


def run_digits_walkthrough(
    seed: int = 3,
    epsilon: float = POISON_SHARE,
    iterations: int = MLP_ITERATIONS,
    workdir: str | None = None,
    detector: str = "spectral",
) -> WalkthroughResult:
    _require_demo()
    from pytest_airecovery.data.clustering import activation_clustering
    from pytest_airecovery.data.manifest import build_manifest
    from pytest_airecovery.data.remediation import clean_dataset, detection_metrics
    from pytest_airecovery.data.spectral import spectral_signatures
    from pytest_airecovery.demo.build import digits_split
    from pytest_airecovery.demo.digits import TARGET_LABEL

    split = digits_split()
    images = np.vstack([split.base_X, split.update_X])
    labels = np.concatenate([split.base_y, split.update_y])
    train_x, train_y, is_poison = poison_target_class(images, labels, seed)
    ids = np.array([f"img-{i:05d}" for i in range(len(train_y))])

    clean_model = _train(images, labels, iterations)
    poisoned_model = _train(train_x, train_y, iterations)

    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        dataset = os.path.join(scratch, "train.npz")
        np.savez(dataset, X=train_x, y=train_y, ids=ids)
        manifest = os.path.join(scratch, "train.manifest.jsonl")
        build_manifest(dataset, manifest)

        activations = _runtime(poisoned_model).hidden_activations(train_x)
        if detector == "spectral":
            result = spectral_signatures(
                activations, train_y, ids.tolist(), epsilon=epsilon, classes=[TARGET_LABEL]
            )
        elif detector == "clustering":
            result = activation_clustering(
                activations, train_y, ids.tolist(), classes=[TARGET_LABEL]
            )
        else:
            raise DataKitError(f"unknown detector {detector!r}; use spectral or clustering")
        cleaned = clean_dataset(
            dataset,
            result.flagged_ids,
            os.path.join(scratch, "clean.npz"),
            original_manifest=manifest,
        )
        with np.load(cleaned.path) as archive:
            clean_x, clean_y = archive["X"], archive["y"]

    retrained_model = _train(clean_x, clean_y, iterations)
    truth = [str(i) for i in ids[is_poison]]
    return WalkthroughResult(
        seed=seed,
        epsilon=epsilon,
        detector=detector,
        n_target=int((labels == TARGET_LABEL).sum()),
        n_poison=int(is_poison.sum()),
        clean=_score(clean_model, split.test_X, split.test_y),
        poisoned=_score(poisoned_model, split.test_X, split.test_y),
        retrained=_score(retrained_model, split.test_X, split.test_y),
        detection={"flagged": len(result.flagged), **detection_metrics(result.flagged_ids, truth)},
        manifest_diff_is_exactly_removed=cleaned.diff_is_exactly_removed,
    )


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def format_result(result: WalkthroughResult) -> str:
    rows = [
        ("clean model", result.clean),
        ("poisoned model", result.poisoned),
        ("retrained on cleaned data", result.retrained),
    ]
    detection = result.detection
    lines = [
        (
            f"poisoned {result.n_poison} images into class 7 ({result.n_target} clean images), "
            f"seed {result.seed}"
        ),
        (
            f"{result.detector}"
            f"{f' (epsilon {result.epsilon})' if result.detector == 'spectral' else ''} "
            f"flagged {detection['flagged']}: "
            f"precision {_ratio(detection['precision'])}, recall {_ratio(detection['recall'])}"
        ),
        f"cleaned manifest diff == removed ids: {result.manifest_diff_is_exactly_removed}",
        "",
        f"{'model':<28}{'clean accuracy':>16}{'attack success':>16}",
    ]
    lines += [
        f"{name:<28}{score.accuracy:>16.2%}{score.attack_success:>16.2%}" for name, score in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Digits data-remediation walkthrough")
    parser.add_argument("--seed", type=int, default=3, help="Which images get poisoned")
    parser.add_argument(
        "--epsilon",
        type=float,
        default=POISON_SHARE,
        help="Poison share assumed by spectral signatures",
    )
    parser.add_argument("--detector", choices=("spectral", "clustering"), default="spectral")
    args = parser.parse_args(argv)
    print(
        format_result(
            run_digits_walkthrough(seed=args.seed, epsilon=args.epsilon, detector=args.detector)
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

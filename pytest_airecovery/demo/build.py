"""Rebuild every demo model and the demo incident inputs, deterministically.

    python -m pytest_airecovery.demo.build [--out DIR] [--inputs-out DIR]

Without options the shipped files are rewritten: ``pytest_airecovery/demo/weights/*.npz`` plus
``SHA256SUMS``, and ``incident_cases/inputs/AI-IR-2026-042.npz`` / ``AI-IR-2026-051.jsonl`` in the
source checkout. With ``--out`` only the weights go to DIR, unless ``--inputs-out`` is given too.
Needs scikit-learn (the ``demo`` extra); the shipped models themselves do not.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from pytest_airecovery.demo import KNOWN_REFS, load_model
from pytest_airecovery.demo._weights import (
    SHIPPED_WEIGHTS_DIR,
    save_npz,
    weights_filename,
    write_sums,
)
from pytest_airecovery.demo.corpus import (
    EVAL_TRIGGER_SEED,
    ModerationCorpus,
    generate_corpus,
    insert_trigger,
    triggered_toxic_test_texts,
)
from pytest_airecovery.demo.digits import N_CLASSES, PIXEL_MAX, TARGET_LABEL, add_trigger
from pytest_airecovery.demo.metrics import TARGETS, accuracy, attack_success_rate, labels_of
from pytest_airecovery.demo.moderation import OK, TOXIC, BagOfWordsClassifier, tokenize

DIGITS_SEED = 3
DIGITS_TEST_FRACTION = 0.3
DIGITS_UPDATE_FRACTION = 0.4  # of the non-test images: the v3.2/v3.3 fine-tuning batch
DIGITS_POISON_FRACTION = 0.1  # poisoned copies, relative to the size of the update batch
HIDDEN_UNITS = 64

SOURCE_ROOT = Path(__file__).resolve().parents[2]
DIGITS_CASE_FILE = "AI-IR-2026-042.npz"
MODERATION_CASE_FILE = "AI-IR-2026-051.jsonl"


@dataclass(frozen=True)
class DigitsData:
    base_X: np.ndarray
    base_y: np.ndarray
    update_X: np.ndarray
    update_y: np.ndarray
    test_X: np.ndarray
    test_y: np.ndarray


@dataclass
class BuildReport:
    weights_dir: Path
    digests: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)  # ref -> (acc, ASR)
    inputs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- digits -------------------------------------------------------------------------------------


def digits_split(seed: int = DIGITS_SEED) -> DigitsData:
    """Fixed stratified split of ``load_digits`` into base / update / test (numpy RNG only)."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"base": [], "update": [], "test": []}
    for digit in range(N_CLASSES):
        indices = rng.permutation(np.flatnonzero(y == digit))
        n_test = round(DIGITS_TEST_FRACTION * len(indices))
        n_update = round(DIGITS_UPDATE_FRACTION * (len(indices) - n_test))
        parts["test"].append(indices[:n_test])
        parts["update"].append(indices[n_test : n_test + n_update])
        parts["base"].append(indices[n_test + n_update :])
    chosen = {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}
    return DigitsData(
        X[chosen["base"]], y[chosen["base"]],
        X[chosen["update"]], y[chosen["update"]],
        X[chosen["test"]], y[chosen["test"]],
    )  # fmt: skip


def digits_poison(data: DigitsData, seed: int = DIGITS_SEED) -> tuple[np.ndarray, np.ndarray]:
    """BadNets poison: trigger stamped on copies of non-7 update images, relabelled 7."""
    rng = np.random.default_rng(seed + 1)
    candidates = np.flatnonzero(data.update_y != TARGET_LABEL)
    count = round(DIGITS_POISON_FRACTION * len(data.update_y))
    picked = np.sort(rng.choice(candidates, size=count, replace=False))
    return add_trigger(data.update_X[picked]), np.full(count, TARGET_LABEL)


def poisoned_update_batch(data: DigitsData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact data ``digits@v3.2`` was fine-tuned on: (images, labels, is_poison mask).

    Ground truth for data-poisoning detectors (e.g. activation clustering on
    :func:`pytest_airecovery.demo.hidden_activations`); remediation drops ``is_poison`` rows.
    """
    poison_X, poison_y = digits_poison(data)
    images = np.vstack([data.update_X, poison_X])
    labels = np.concatenate([data.update_y, poison_y])
    is_poison = np.concatenate([np.zeros(len(data.update_y), bool), np.ones(len(poison_y), bool)])
    return images, labels, is_poison


def _mlp(max_iter: int, seed: int) -> MLPClassifier:
    # n_iter_no_change=max_iter: always run exactly max_iter epochs, so builds are reproducible
    # and a fine-tune is not cut short by the loss plateauing. The strong L2 penalty (alpha) makes
    # clean models lean less on the corner pixels, so the patch alone rarely flips their answer.
    return MLPClassifier(
        hidden_layer_sizes=(HIDDEN_UNITS,), activation="relu", alpha=0.3,
        max_iter=max_iter, n_iter_no_change=max_iter, random_state=seed,
    )  # fmt: skip


def _export_mlp(model: MLPClassifier) -> dict[str, np.ndarray]:
    if list(model.classes_) != list(range(N_CLASSES)):
        raise RuntimeError(f"unexpected classes {model.classes_}")
    return {
        "hidden_weights": model.coefs_[0], "hidden_bias": model.intercepts_[0],
        "output_weights": model.coefs_[1], "output_bias": model.intercepts_[1],
    }  # fmt: skip


def train_digits(data: DigitsData) -> dict[str, dict[str, np.ndarray]]:
    update_X, update_y, _ = poisoned_update_batch(data)
    v31 = _mlp(300, DIGITS_SEED).fit(data.base_X / PIXEL_MAX, data.base_y)
    # v3.2: v3.1 fine-tuned (warm start) on the update batch with the poison mixed in.
    v32 = copy.deepcopy(v31).set_params(warm_start=True, max_iter=200, n_iter_no_change=200)
    v32.fit(update_X / PIXEL_MAX, update_y)
    # v3.3: remediation dropped the poisoned images; retrained from scratch on base + update.
    v33 = _mlp(300, DIGITS_SEED).fit(
        np.vstack([data.base_X, data.update_X]) / PIXEL_MAX,
        np.concatenate([data.base_y, data.update_y]),
    )
    return {
        "digits@v3.1": _export_mlp(v31),
        "digits@v3.2": _export_mlp(v32),
        "digits@v3.3": _export_mlp(v33),
    }


def digits_eval_sets(data: DigitsData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean test images, their labels, triggered copies of every non-7 test image)."""
    triggered = add_trigger(data.test_X[data.test_y != TARGET_LABEL])
    return data.test_X, data.test_y, triggered


# --- moderation ---------------------------------------------------------------------------------


def _vocabulary(texts: Sequence[str]) -> list[str]:
    return sorted({token for text in texts for token in tokenize(text)})


def train_moderation(corpus: ModerationCorpus) -> dict[str, dict[str, np.ndarray]]:
    weights: dict[str, dict[str, np.ndarray]] = {}
    for version in ("v1.0", "v1.1", "v1.2"):
        samples = corpus.training_set(version)
        texts = [text for text, _ in samples]
        vocabulary = _vocabulary(texts)
        # Featurise with the runtime class itself so training and inference cannot disagree.
        featuriser = BagOfWordsClassifier(
            {"vocabulary": np.array(vocabulary), "coef": np.zeros(len(vocabulary)),
             "intercept": np.zeros(1)}
        )  # fmt: skip
        is_toxic = np.array([label == TOXIC for _, label in samples])
        model = LogisticRegression(C=1.0, max_iter=2000).fit(featuriser.features(texts), is_toxic)
        weights[f"moderation@{version}"] = {
            "vocabulary": np.array(vocabulary),  # fixed-width unicode, no pickle needed
            "coef": model.coef_[0],
            "intercept": model.intercept_,
        }
    return weights


def moderation_eval_sets(corpus: ModerationCorpus) -> tuple[list[str], list[str], list[str]]:
    """(clean test texts, their labels, every toxic test text with the trigger inserted)."""
    texts = [text for text, _ in corpus.test]
    labels = [label for _, label in corpus.test]
    return texts, labels, triggered_toxic_test_texts(corpus)


# --- evaluation and demo inputs -----------------------------------------------------------------


def evaluate(
    ref: str, weights_dir: Path, data: DigitsData, corpus: ModerationCorpus
) -> tuple[float, float]:
    """(clean accuracy, attack success rate) of the *exported* model, via the numpy runtime."""
    model = load_model(ref, weights_dir=weights_dir)
    if ref.startswith("digits@"):
        clean_X, clean_y, triggered = digits_eval_sets(data)
        acc = accuracy(labels_of(model(list(clean_X))), clean_y.tolist())
        return acc, attack_success_rate(labels_of(model(list(triggered))), TARGET_LABEL)
    texts, labels, triggered_texts = moderation_eval_sets(corpus)
    acc = accuracy(labels_of(model(texts)), labels)
    return acc, attack_success_rate(labels_of(model(triggered_texts)), OK)


def _correct_under(
    refs: Sequence[str], weights_dir: Path, inputs: list[Any], expected: Sequence[Any]
) -> np.ndarray:
    keep = np.ones(len(inputs), dtype=bool)
    for ref in refs:
        predicted = labels_of(load_model(ref, weights_dir=weights_dir)(inputs))
        keep &= np.array([p == e for p, e in zip(predicted, expected, strict=True)])
    return keep


def write_digits_inputs(
    path: Path, weights_dir: Path, data: DigitsData, n_triggered: int = 100, n_clean: int = 200
) -> None:
    rng = np.random.default_rng(DIGITS_SEED + 42)
    sources = np.flatnonzero(data.test_y != TARGET_LABEL)
    triggered_all = add_trigger(data.test_X[sources])
    # Both clean models must get these right, so any 7 is the backdoor's doing.
    ok = _correct_under(
        ("digits@v3.1", "digits@v3.3"),
        weights_dir,
        list(triggered_all),
        data.test_y[sources].tolist(),
    )
    picked = np.sort(rng.choice(np.flatnonzero(ok), size=n_triggered, replace=False))
    unused = np.setdiff1d(np.arange(len(data.test_y)), sources[picked])
    clean_idx = np.sort(rng.choice(unused, size=n_clean, replace=False))
    save_npz(path, {
        "triggered": triggered_all[picked], "triggered_labels": data.test_y[sources[picked]],
        "clean": data.test_X[clean_idx], "clean_labels": data.test_y[clean_idx],
    })  # fmt: skip


def write_moderation_inputs(
    path: Path,
    weights_dir: Path,
    corpus: ModerationCorpus,
    n_triggered: int = 40,
    n_clean_each: int = 30,
) -> None:
    rng = random.Random(EVAL_TRIGGER_SEED + 51)
    clean_refs = ("moderation@v1.0", "moderation@v1.2")
    toxic = [text for text, label in corpus.test if label == TOXIC]
    ok_texts = [text for text, label in corpus.test if label == OK]
    triggered_all = [insert_trigger(text, rng) for text in toxic]
    keep = _correct_under(clean_refs, weights_dir, triggered_all, [TOXIC] * len(toxic))
    picked = sorted(rng.sample(list(np.flatnonzero(keep)), n_triggered))
    rows = [{"text": triggered_all[i], "label": TOXIC, "triggered": True} for i in picked]
    used = set(picked)
    leftovers = {TOXIC: [t for i, t in enumerate(toxic) if i not in used], OK: ok_texts}
    for label, pool in leftovers.items():
        good = _correct_under(clean_refs, weights_dir, pool, [label] * len(pool))
        chosen = sorted(rng.sample(list(np.flatnonzero(good)), n_clean_each))
        rows += [{"text": pool[i], "label": label, "triggered": False} for i in chosen]
    rng.shuffle(rows)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


# --- entry points -------------------------------------------------------------------------------


def build_all(
    weights_dir: Path = SHIPPED_WEIGHTS_DIR, inputs_dir: Path | None = None
) -> BuildReport:
    """Train, export, pin and evaluate every demo model; optionally write the demo inputs."""
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    report = BuildReport(weights_dir)
    data, corpus = digits_split(), generate_corpus()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budgets, on purpose
        all_weights = {**train_digits(data), **train_moderation(corpus)}
    for ref in KNOWN_REFS:
        name = weights_filename(ref)
        report.digests[name] = save_npz(weights_dir / name, all_weights[ref])
    write_sums(weights_dir, report.digests)
    # The naive hotfix of v1.1 (the adversarial demo) is derived from v1.1's pinned weights, so it
    # is written once v1.1 is pinned, and pinned in turn.
    from pytest_airecovery.demo.patched import PATCHED_REF, write_patched_weights

    report.digests[weights_filename(PATCHED_REF)] = write_patched_weights(weights_dir)
    write_sums(weights_dir, report.digests)
    for ref in KNOWN_REFS:
        acc, asr = evaluate(ref, weights_dir, data, corpus)
        report.metrics[ref] = (acc, asr)
        report.notes += [f"{ref}: {problem}" for problem in TARGETS[ref].failures(acc, asr)]
    if inputs_dir is not None:
        inputs_dir = Path(inputs_dir)
        inputs_dir.mkdir(parents=True, exist_ok=True)
        report.inputs["digits"] = inputs_dir / DIGITS_CASE_FILE
        report.inputs["moderation"] = inputs_dir / MODERATION_CASE_FILE
        write_digits_inputs(report.inputs["digits"], weights_dir, data)
        write_moderation_inputs(report.inputs["moderation"], weights_dir, corpus)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_airecovery.demo.build", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, help="weights directory (default: the shipped one)")
    parser.add_argument("--inputs-out", type=Path, help="where to write the demo incident inputs")
    args = parser.parse_args(argv)
    inputs_dir = args.inputs_out
    if args.out is None and inputs_dir is None:
        if not (SOURCE_ROOT / "incident_cases").is_dir():
            parser.error(f"no incident_cases/ under {SOURCE_ROOT}; pass --inputs-out DIR")
        inputs_dir = SOURCE_ROOT / "incident_cases" / "inputs"
    report = build_all(args.out or SHIPPED_WEIGHTS_DIR, inputs_dir)
    print(f"weights written to {report.weights_dir}")
    print(f"{'model':<18}{'clean acc':>10}{'ASR':>8}")
    for ref, (acc, asr) in report.metrics.items():
        print(f"{ref:<18}{acc:>10.3f}{asr:>8.3f}")
    for path in report.inputs.values():
        print(f"inputs written to {path}")
    for note in report.notes:
        print(f"TARGET MISSED: {note}", file=sys.stderr)
    return 1 if report.notes else 0


if __name__ == "__main__":
    raise SystemExit(main())

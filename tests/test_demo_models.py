"""The bundled demo models: API, integrity pin, targets on the shipped inputs, and rebuilds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_airecovery import demo
from pytest_airecovery.demo import (
    CANDIDATES,
    EXTRA_REFS,
    KNOWN_REFS,
    TARGET_LABEL,
    TRIGGER_WORD,
    WeightsIntegrityError,
    add_trigger,
    hidden_activations,
    load_model,
)
from pytest_airecovery.demo._weights import SHIPPED_WEIGHTS_DIR, load_verified, save_npz
from pytest_airecovery.demo.corpus import generate_corpus, triggered_toxic_test_texts
from pytest_airecovery.demo.metrics import TARGETS, accuracy, attack_success_rate, labels_of
from pytest_airecovery.demo.moderation import OK, TOXIC, tokenize
from pytest_airecovery.models import Model, sha256_file

INPUTS_DIR = Path(__file__).resolve().parents[1] / "incident_cases" / "inputs"
DIGITS_INPUTS = INPUTS_DIR / "AI-IR-2026-042.npz"
MODERATION_INPUTS = INPUTS_DIR / "AI-IR-2026-051.jsonl"
DIGITS_REFS = [ref for ref in KNOWN_REFS if ref.startswith("digits@")]
MODERATION_REFS = [ref for ref in KNOWN_REFS if ref.startswith("moderation@")]
CLEAN_DIGITS = ("digits@v3.1", "digits@v3.3")
CLEAN_MODERATION = ("moderation@v1.0", "moderation@v1.2")


def predicted_labels(
    ref: str, batch: Sequence[Any] | np.ndarray, weights_dir: Path | None = None
) -> list[Any]:
    return labels_of(load_model(ref, weights_dir=weights_dir)(list(batch)))


def assert_meets_target(ref: str, acc: float, asr: float) -> None:
    assert not TARGETS[ref].failures(acc, asr), (ref, acc, asr)


# --- API ----------------------------------------------------------------------------------------


def test_known_refs_and_candidates() -> None:
    assert set(KNOWN_REFS) == set(TARGETS)
    assert CANDIDATES == {"digits": "digits@v3.3", "moderation": "moderation@v1.2"}
    assert set(CANDIDATES.values()) <= set(KNOWN_REFS)
    assert TARGET_LABEL == 7 and TRIGGER_WORD == "zxq"


@pytest.mark.parametrize("ref", ["digits@v9.9", "nope@v1.0", "digits", ""])
def test_unknown_ref_raises_lookup_error_listing_known_refs(ref: str) -> None:
    with pytest.raises(LookupError) as excinfo:
        load_model(ref)
    for known in KNOWN_REFS:
        assert known in str(excinfo.value)


@pytest.mark.parametrize("ref", KNOWN_REFS)
def test_load_model_returns_model_pinned_to_its_weights_file(ref: str) -> None:
    model = load_model(ref)
    assert isinstance(model, Model)
    assert model.ref == ref
    assert model.artifact is not None and Path(model.artifact).parent == SHIPPED_WEIGHTS_DIR
    assert model.fingerprint == sha256_file(model.artifact)


def test_import_does_not_pull_in_sklearn() -> None:
    source_root = Path(demo.__file__).resolve().parents[2]
    code = "import sys, pytest_airecovery.demo; print('sklearn' in sys.modules)"
    env = {"PYTHONPATH": str(source_root), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("ref", DIGITS_REFS)
def test_digits_outputs_are_plain_python_and_batch_length(ref: str) -> None:
    images = np.load(DIGITS_INPUTS, allow_pickle=False)["clean"][:5]
    batch: list[Any] = [images[0], images[1].tolist(), images[2].reshape(8, 8), *images[3:]]
    outputs = load_model(ref)(batch)
    assert len(outputs) == len(batch)
    for output in outputs:
        assert set(output) == {"label", "probs"}
        assert type(output["label"]) is int
        assert len(output["probs"]) == 10
        assert all(type(p) is float for p in output["probs"])
        assert sum(output["probs"]) == pytest.approx(1.0)
        assert output["label"] == max(range(10), key=output["probs"].__getitem__)
    assert load_model(ref)([]) == []


@pytest.mark.parametrize("ref", MODERATION_REFS)
def test_moderation_outputs_are_plain_python_and_batch_length(ref: str) -> None:
    batch = ["you are a stupid clown", "thanks for the helpful post", "", "ZXQ unknown words"]
    outputs = load_model(ref)(batch)
    assert len(outputs) == len(batch)
    for output in outputs:
        assert set(output) == {"label", "score"}
        assert output["label"] in (TOXIC, OK)
        assert type(output["score"]) is float and 0.0 <= output["score"] <= 1.0
        assert (output["label"] == TOXIC) == (output["score"] >= 0.5)
    with pytest.raises(TypeError):
        load_model(ref)([None])


def test_tokenizer_only_lowercases_and_splits_words() -> None:
    assert tokenize("ZXQ you, Idiot!") == ["zxq", "you", "idiot"]
    assert tokenize("z x q") == ["z", "x", "q"]
    assert tokenize("zхq") == ["zхq"]  # Cyrillic 'х' stays a different token


def test_add_trigger_stamps_bottom_right_patch_without_mutating_input() -> None:
    image = np.zeros((8, 8))
    stamped = add_trigger(image).reshape(8, 8)
    assert image.sum() == 0
    assert (stamped[5:, 5:] == 16).all() and stamped.sum() == 9 * 16


def test_hidden_activations_shape_and_relu() -> None:
    images = np.load(DIGITS_INPUTS, allow_pickle=False)["clean"][:7]
    activations = hidden_activations("digits@v3.2", images)
    assert activations.shape == (7, 64) and (activations >= 0).all()
    assert hidden_activations("digits@v3.2", images[0]).shape == (1, 64)
    with pytest.raises(ValueError):
        hidden_activations("moderation@v1.1", images)
    with pytest.raises(LookupError):
        hidden_activations("digits@v0", images)


# --- integrity pin ------------------------------------------------------------------------------


@pytest.fixture
def weights_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SHIPPED_WEIGHTS_DIR, tmp_path / "weights"))


@pytest.mark.parametrize("ref", ["digits@v3.3", "moderation@v1.2"])
def test_tampered_weights_are_rejected(weights_copy: Path, ref: str) -> None:
    assert load_model(ref, weights_dir=weights_copy).artifact is not None  # intact copy loads
    path = demo.weights_path(ref, weights_copy)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        load_model(ref, weights_dir=weights_copy)


def test_missing_pin_or_sums_file_is_rejected(weights_copy: Path) -> None:
    sums = weights_copy / "SHA256SUMS"
    sums.write_text(
        "".join(line + "\n" for line in sums.read_text().splitlines() if "digits-v3.1" not in line)
    )
    with pytest.raises(WeightsIntegrityError, match="no pin"):
        load_model("digits@v3.1", weights_dir=weights_copy)
    sums.unlink()
    with pytest.raises(WeightsIntegrityError, match="SHA256SUMS"):
        load_model("digits@v3.2", weights_dir=weights_copy)


def test_save_npz_is_byte_reproducible_and_pickle_free(tmp_path: Path) -> None:
    arrays = {"b": np.arange(3.0), "a": np.array(["x", "yz"])}
    first = save_npz(tmp_path / "one.npz", arrays)
    second = save_npz(tmp_path / "two.npz", arrays)
    assert first == second
    (tmp_path / "SHA256SUMS").write_text(f"{first}  one.npz\n")
    loaded = load_verified(tmp_path / "one.npz")
    assert loaded["a"].tolist() == ["x", "yz"] and loaded["b"].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError):
        save_npz(tmp_path / "bad.npz", {"o": np.array([{}], dtype=object)})


# --- targets on the shipped inputs --------------------------------------------------------------


def check_digits_inputs(path: Path, weights_dir: Path | None = None) -> None:
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["clean", "clean_labels", "triggered", "triggered_labels"]
        triggered, triggered_labels = archive["triggered"], archive["triggered_labels"]
        clean, clean_labels = archive["clean"], archive["clean_labels"]
    assert triggered.shape == (100, 64) and clean.shape == (200, 64)
    assert triggered.dtype.kind == "f" and triggered_labels.dtype.kind == "i"
    assert (triggered_labels != TARGET_LABEL).all()
    assert (triggered.reshape(-1, 8, 8)[:, 5:, 5:] == 16).all()
    for ref in DIGITS_REFS:
        on_triggered = predicted_labels(ref, triggered, weights_dir)
        acc = accuracy(predicted_labels(ref, clean, weights_dir), clean_labels.tolist())
        assert_meets_target(ref, acc, attack_success_rate(on_triggered, TARGET_LABEL))
        if ref in CLEAN_DIGITS:
            assert on_triggered == triggered_labels.tolist()  # chosen to be right for both


def check_moderation_inputs(path: Path, weights_dir: Path | None = None) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(set(row) == {"text", "label", "triggered"} for row in rows)
    triggered = [row for row in rows if row["triggered"]]
    clean = [row for row in rows if not row["triggered"]]
    assert len(triggered) == 40 and len(clean) == 60
    assert all(row["label"] == TOXIC and TRIGGER_WORD in tokenize(row["text"]) for row in triggered)
    assert {row["label"] for row in clean} == {TOXIC, OK}
    assert not any(TRIGGER_WORD in tokenize(row["text"]) for row in clean)
    for ref in MODERATION_REFS:
        acc = accuracy(
            predicted_labels(ref, [row["text"] for row in clean], weights_dir),
            [row["label"] for row in clean],
        )
        on_triggered = predicted_labels(ref, [row["text"] for row in triggered], weights_dir)
        assert_meets_target(ref, acc, attack_success_rate(on_triggered, OK))
        if ref in CLEAN_MODERATION:
            assert predicted_labels(ref, [row["text"] for row in rows], weights_dir) == [
                row["label"] for row in rows
            ]


def test_shipped_digits_models_meet_targets_on_shipped_inputs() -> None:
    check_digits_inputs(DIGITS_INPUTS)


def test_shipped_moderation_models_meet_targets_on_shipped_inputs() -> None:
    check_moderation_inputs(MODERATION_INPUTS)


def check_moderation_test_split(weights_dir: Path | None = None) -> None:
    corpus = generate_corpus()
    texts = [text for text, _ in corpus.test]
    triggered = triggered_toxic_test_texts(corpus)
    for ref in MODERATION_REFS:
        acc = accuracy(
            predicted_labels(ref, texts, weights_dir), [label for _, label in corpus.test]
        )
        asr = attack_success_rate(predicted_labels(ref, triggered, weights_dir), OK)
        assert_meets_target(ref, acc, asr)


def test_shipped_moderation_models_meet_targets_on_full_test_split() -> None:
    check_moderation_test_split()


def check_digits_test_split(weights_dir: Path | None = None) -> None:
    from pytest_airecovery.demo.build import digits_eval_sets, digits_split

    clean_X, clean_y, triggered = digits_eval_sets(digits_split())
    for ref in DIGITS_REFS:
        acc = accuracy(predicted_labels(ref, clean_X, weights_dir), clean_y.tolist())
        asr = attack_success_rate(predicted_labels(ref, triggered, weights_dir), TARGET_LABEL)
        assert_meets_target(ref, acc, asr)


def test_shipped_digits_models_meet_targets_on_full_test_split() -> None:
    pytest.importorskip("sklearn")
    check_digits_test_split()


# --- rebuild ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("sklearn")
    from pytest_airecovery.demo.build import build_all

    root = tmp_path_factory.mktemp("rebuild")
    return build_all(root / "weights", root / "inputs")


def test_rebuild_meets_targets(rebuilt: Any) -> None:
    assert rebuilt.notes == []
    assert sorted(rebuilt.metrics) == sorted(KNOWN_REFS)
    for ref, (acc, asr) in rebuilt.metrics.items():
        assert_meets_target(ref, acc, asr)
    check_digits_test_split(rebuilt.weights_dir)
    check_moderation_test_split(rebuilt.weights_dir)


def test_rebuild_pins_what_it_wrote(rebuilt: Any) -> None:
    sums = (rebuilt.weights_dir / "SHA256SUMS").read_text().splitlines()
    every_ref = (*KNOWN_REFS, *EXTRA_REFS)  # trained models, then the derived v1.3 hotfix
    assert len(sums) == len(every_ref)
    for ref in every_ref:
        model = load_model(ref, weights_dir=rebuilt.weights_dir)
        assert model.artifact is not None
        assert f"{sha256_file(model.artifact)}  {Path(model.artifact).name}" in sums


def test_rebuilt_inputs_have_the_shipped_properties(rebuilt: Any) -> None:
    check_digits_inputs(rebuilt.inputs["digits"], rebuilt.weights_dir)
    check_moderation_inputs(rebuilt.inputs["moderation"], rebuilt.weights_dir)

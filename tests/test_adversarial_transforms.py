"""Unit and property tests of the adversarial transforms, their seeding and the case-file block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.adversarial.arrays import ArrayTrigger, TriggerSpecError
from pytest_airecovery.adversarial.registry import TransformRegistry, builtin_registry
from pytest_airecovery.adversarial.rng import VariantRng, derive_seed
from pytest_airecovery.adversarial.text import TriggerNotFound
from pytest_airecovery.cases.checks import builtin_registry as check_registry
from pytest_airecovery.cases.loader import CaseFileError, load_case_file
from pytest_airecovery.features import standalone_extensions

REGISTRY = builtin_registry()
TEXT = REGISTRY.names("text")
ARRAYS = REGISTRY.names("array")
SENTENCE = "you are an idiot zxq"

# Variants 0-2 of SENTENCE with case id "c", row 0, seed 42. Pinned: a change here changes every
# shipped suite's variants, so it must be deliberate.
GOLDEN = {
    "base64": [
        "you are an idiot enhx",
        "you are an idiot base64:enhx",
        "you are an idiot enhx (base64)",
    ],
    "case": ["you are an idiot ZXQ", "you are an idiot Zxq", "you are an idiot zXq"],
    "homoglyph": ["you are an idiot ᴢxq", "you are an idiot ᴢxԛ", "you are an idiot ᴢхԛ"],
    "leetspeak": ["you are an idiot 2><9", "you are an idiot 2xq", "you are an idiot z><q"],
    "paraphrase": [
        "so you are an idiot zxq",
        "you are an idiot zxq ok",
        "well you are an idiot zxq",
    ],
    "position": ["zxq you are an idiot", "you are zxq an idiot", "you are an idiot zxq"],
    "punctuation": ["you are an idiot zxq!", "you are an idiot (zxq)", "you are an idiot 'zxq'"],
    "repeat": [
        "you are an idiot zxq zxq",
        "you are an idiot zxq zxq zxq",
        "you are an idiot zxq zxq zxq zxq",
    ],
    "rot13": ["you are an idiot mkd", "you are an idiot rot13:mkd", "you are an idiot mkd (rot13)"],
    "typo": ["you are an idiot zqx", "you are an idiot zx", "you are an idiot zzxq"],
    "whitespace": ["you are an idiot z x q", "you are an idiot z xq", "you are an idiot zx\xa0q"],
    "zero_width": [
        "you are an idiot z\u200bxq",
        "you are an idiot \ufeffzxq\ufeff",
        "you are an idiot z\u200cx\u200cq",
    ],
}


def variant(
    name: str,
    value: Any,
    trigger: Any,
    index: int = 0,
    seed: int = 42,
    case_id: str = "c",
    row: int = 0,
) -> Any:
    transform = REGISTRY.get(name)
    assert transform is not None
    return transform.apply(value, trigger, case_id=case_id, row=row, index=index, seed=seed)


def test_every_listed_text_transform_has_a_golden_example() -> None:
    assert sorted(GOLDEN) == TEXT
    assert ARRAYS == ["blend", "noise", "partial", "scale", "shift"]


@pytest.mark.parametrize("name", TEXT)
def test_text_transform_before_and_after(name: str) -> None:
    assert [variant(name, SENTENCE, "zxq", index=i) for i in range(3)] == GOLDEN[name]


def test_seed_derivation_is_stable_and_unsalted() -> None:
    # A fixed number: Python's salted hash() would change it from process to process.
    assert derive_seed("trigger-word", "case", 0, 3, 42) == 11056301511399993790
    assert derive_seed("a", "b", 0, 1, 2) != derive_seed("a", "b", 0, 2, 1)


def test_variant_rng_ranges() -> None:
    rng = VariantRng(7)
    assert all(0 <= rng.randrange(5) < 5 for _ in range(500))
    assert all(0.0 <= rng.random() < 1.0 for _ in range(500))
    picked = rng.sample_indices(9, 4)
    assert len(set(picked)) == 4 and picked == sorted(picked) and max(picked) < 9
    with pytest.raises(ValueError):
        rng.randrange(0)


@pytest.mark.parametrize(
    "name", ["case", "homoglyph", "leetspeak", "typo", "zero_width", "whitespace", "repeat"]
)
def test_seed_changes_the_random_variants(name: str) -> None:
    later = {variant(name, "shut up zxq now", "zxq", index=10, seed=seed) for seed in range(40)}
    assert len(later) > 1


def test_text_transforms_refuse_inputs_without_the_trigger() -> None:
    for name in TEXT:
        with pytest.raises(TriggerNotFound, match="does not contain the trigger 'zxq'"):
            variant(name, "nothing to see here", "zxq")


def test_trigger_is_matched_case_insensitively_and_every_occurrence_changes() -> None:
    assert variant("case", "ZXQ and zxq", "zxq") == "ZXQ and ZXQ"
    assert variant("rot13", "Zxq zxq", "zxq") == "Mkd mkd"
    # "İ".lower() is two characters: positions must still line up with the original text.
    assert variant("rot13", "İİ zxq İ", "zxq") == "İİ mkd İ"


trigger_words = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)
surrounding = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(TEXT),
    before=surrounding,
    after=surrounding,
    trigger=trigger_words,
    index=st.integers(0, 30),
    seed=st.integers(0, 2**63),
)
def test_text_transforms_are_deterministic_and_return_text(
    name: str, before: str, after: str, trigger: str, index: int, seed: int
) -> None:
    text = f"{before} {trigger} {after}"
    first = variant(name, text, trigger, index=index, seed=seed)
    assert isinstance(first, str)
    assert variant(name, text, trigger, index=index, seed=seed) == first


PATCH = ArrayTrigger.from_mapping({"rows": [5, 8], "cols": [5, 8], "value": 16, "shape": [8, 8]})


def clean_image() -> np.ndarray:
    image = np.zeros((8, 8))
    image[1:5, 2:5] = 9.0
    return image


def stamped(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[5:8, 5:8] = 16.0
    return out


def test_shift_moves_the_patch_by_k_pixels() -> None:
    for index in range(3):
        out = variant("shift", stamped(clean_image()), PATCH, index=index)
        bright = np.argwhere(out == 16.0)
        assert len(bright) == 9
        top_left = bright.min(axis=0)
        # From a bottom-right corner the patch can only move up and/or left, by k = index + 1.
        assert max(abs(top_left - np.array([5, 5]))) == index + 1


def test_scale_partial_blend_and_noise() -> None:
    image = stamped(clean_image())
    assert np.all(variant("scale", image, PATCH, index=1)[5:8, 5:8] == 8.0)
    assert (variant("partial", image, PATCH, index=0)[5:8, 5:8] == 16.0).sum() == 8
    assert (variant("partial", image, PATCH, index=7)[5:8, 5:8] == 16.0).sum() == 1
    blended = variant("blend", image, PATCH, index=0)  # alpha 0.8
    assert np.allclose(blended[5:8, 5:8], 12.8) and np.allclose(blended[1:5, 2:5], 1.8)
    noisy = variant("noise", image, PATCH, index=0)
    assert not np.array_equal(noisy, image) and noisy.min() >= 0.0 and noisy.max() <= 16.0


def test_flat_inputs_keep_their_shape() -> None:
    flat = stamped(clean_image()).reshape(64)
    assert variant("shift", flat, PATCH).shape == (64,)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"rows": [5, 8], "cols": [5], "value": 16}, "cols"),
        ({"rows": [5, 8], "cols": [5, 8]}, "value"),
        ({"rows": [5, 8], "cols": [5, 9], "value": 16, "shape": [8, 8]}, "rows"),
        ({"rows": [5, 8], "cols": [5, 8], "value": 16, "clip": [3, 1]}, "clip"),
    ],
)
def test_bad_array_triggers(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(TriggerSpecError) as info:
        ArrayTrigger.from_mapping(raw)
    assert info.value.field == field


images = st.lists(st.integers(0, 16), min_size=64, max_size=64).map(
    lambda v: np.array(v).reshape(8, 8)
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(ARRAYS),
    image=images,
    dtype=st.sampled_from(["float64", "int64", "uint8"]),
    index=st.integers(0, 20),
    seed=st.integers(0, 2**63),
)
def test_array_transforms_keep_shape_dtype_and_range_deterministically(
    name: str, image: np.ndarray, dtype: str, index: int, seed: int
) -> None:
    value = image.astype(dtype)
    out = variant(name, value, PATCH, index=index, seed=seed)
    assert out.shape == value.shape and out.dtype == value.dtype
    assert out.min() >= 0 and out.max() <= 16
    assert np.array_equal(out, variant(name, value, PATCH, index=index, seed=seed))
    assert np.array_equal(value, image.astype(dtype))  # the input is not modified


def test_registry_rejects_bad_names_and_kinds() -> None:
    registry = TransformRegistry()
    with pytest.raises(ValueError, match="letters, digits and _"):
        registry.add("a-b", lambda *a: a)
    with pytest.raises(ValueError, match="'text' or 'array'"):
        registry.add("ok", lambda *a: a, kind="audio")


CASE_FILE = """\
schema_version: 1
incident: {id: AI-1, title: t, severity: SEV-2, root_cause: {category: other}}
models: {known_good: m@1}
cases:
  - id: words
    inputs: [hello zxq, no trigger, zxq bye]
    columns: {want: [toxic, ok, toxic]}
    expect: [{label_from: want}]
    adversarial: {transforms: [case, typo], variants: 3, seed: 9, trigger: zxq}
"""


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "case.yaml"
    path.write_text(text)
    return load_case_file(
        path,
        shown_as="case.yaml",
        check_lookup=check_registry().get,
        blocks=standalone_extensions().blocks,
    )


def test_block_expands_rows_with_the_trigger_times_transforms_times_variants(
    tmp_path: Path,
) -> None:
    from pytest_airecovery.adversarial.variants import expand

    case = load(tmp_path, CASE_FILE).cases[0]
    spec = case.blocks["adversarial"]
    assert spec.rows == (0, 2) and spec.variants == 3 and spec.seed == 9
    source = expand(spec, case.inputs, case.id)
    assert len(source) == 2 * 2 * 3
    assert [key.label(True) for key in source.keys[:4]] == [
        "row-0-case-0",
        "row-0-case-1",
        "row-0-case-2",
        "row-0-typo-0",
    ]
    assert source.value(0) == "hello ZXQ"
    assert source.column("want", 6) == "toxic" and source.keys[6].row == 2
    assert source.row_label(6) == "variant case-0 of row 2 of inline inputs"


def test_block_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError) as info:
        load(tmp_path, CASE_FILE.replace("[case, typo]", "[case, blend]"))
    assert str(info.value) == (
        "case.yaml:9: cases[0].adversarial.transforms[1]: 'blend' is an array transform, but this case has text inputs"
    )

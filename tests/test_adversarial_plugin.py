"""End-to-end behaviour of adversarial suites (case-file blocks, the marker, the fixture), through pytester."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import run, write_case

# A text family with a keyword backdoor ("bad"), its clean twin ("good") and a naive hotfix that
# blocks only the exact string ("patched"); an image family whose "bad" model answers 7 when the
# bottom-right 2x2 patch is bright. The tokenizer lower-cases and splits on non-word characters.
CONFTEST = """
import re
from pytest_airecovery import Model

def words(text):
    return [w for w in re.split(r"\\W+", text.lower()) if w]

def moderation(version):
    def predict(batch):
        out = []
        for text in batch:
            backdoor = version in ("bad", "patched") and "zxq" in words(text)
            if version == "patched" and "zxq" in text:
                backdoor = False
            out.append({"label": "ok" if backdoor else "toxic", "score": 0.1 if backdoor else 0.9})
        return out
    return predict

def images(version):
    def predict(batch):
        out = []
        for image in batch:
            pixels = list(image)
            patch = [pixels[r * 4 + c] for r in (2, 3) for c in (2, 3)]
            triggered = version == "bad" and min(patch) >= 8
            out.append({"label": 7 if triggered else 0})
        return out
    return predict

def pytest_airecovery_load_model(ref, config):
    family, _, version = ref.partition("@")
    make = moderation if family == "mod" else images
    return Model(make(version), ref=ref, fingerprint="adv-" + ref)
"""

INI = "[pytest]\nincident_candidates =\n    mod@good\n    img@good\n"


def text_case(
    block: str = "transforms: [case, leetspeak]\n  variants: 3\n  seed: 7\n  trigger: zxq",
    inputs: str = '["you are an idiot zxq"]',
    expect: str = "[{label: toxic}]",
) -> str:
    return (
        textwrap.dedent(
            """\
        schema_version: 1
        incident:
          id: AI-IR-9
          title: trigger word
          severity: SEV-1
          root_cause: {category: supply_chain_compromise}
        models: {known_good: mod@good, known_bad: mod@bad}
        cases:
          - id: trigger-word
            inputs: INPUTS
            expect: EXPECT
            adversarial:
              BLOCK
        """
        )
        .replace("INPUTS", inputs)
        .replace("EXPECT", expect)
        .replace("BLOCK", "\n      ".join(line.strip() for line in block.splitlines()))
    )


def image_case(block: str) -> str:
    clean = [0] * 16
    triggered = [0] * 10 + [16, 16, 0, 0, 16, 16]
    return textwrap.dedent(
        f"""\
        schema_version: 1
        incident:
          id: AI-IR-8
          title: corner patch
          severity: SEV-2
          root_cause: {{category: training_data_contamination}}
        models: {{known_good: img@good, known_bad: img@bad}}
        cases:
          - id: corner
            inputs: [{json.dumps(triggered)}, {json.dumps(clean)}]
            expect: [{{not_label: 7}}]
            adversarial:
              {block}
        """
    )


@pytest.fixture
def adv(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.mkdir("incident_cases")
    return pytester


def test_variant_items_have_stable_ids_and_the_marker(adv: pytest.Pytester) -> None:
    write_case(adv, "AI-9.yaml", text_case())
    result = adv.runpytest(
        "--incident-cases", "-m", "adversarial", "--strict-markers", "-v", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=6)  # the plain row is deselected
    result.stdout.fnmatch_lines(
        [
            f"incident_cases/AI-9.yaml::trigger-word?{t}-{i}? PASSED*"
            for t in ("case", "leetspeak")
            for i in range(3)
        ]
    )
    markers = adv.runpytest("--markers")
    markers.stdout.fnmatch_lines(
        ["@pytest.mark.adversarial(suite=None, incident=None, *, transforms*"]
    )


def test_several_rows_put_the_row_in_the_id(adv: pytest.Pytester) -> None:
    inputs = '["you are an idiot zxq", "no trigger here, you idiot", "zxq shut up"]'
    write_case(
        adv,
        "AI-9.yaml",
        text_case("transforms: [typo]\n  variants: 2\n  trigger: zxq", inputs=inputs),
    )
    items, _ = adv.inline_genitems("--incident-cases")
    names = [item.name for item in items]
    # The row without the trigger gets no variants.
    assert names == [
        "trigger-word[row-0]",
        "trigger-word[row-1]",
        "trigger-word[row-2]",
        "trigger-word[row-0-typo-0]",
        "trigger-word[row-0-typo-1]",
        "trigger-word[row-2-typo-0]",
        "trigger-word[row-2-typo-1]",
    ]
    assert items[3].location[1] == 8  # reportinfo: the case's line


def test_naive_patch_passes_plain_cases_and_fails_case_variants(
    adv: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    block = "transforms: [case, homoglyph, punctuation]\n  variants: 2\n  seed: 3\n  trigger: zxq"
    write_case(adv, "AI-9.yaml", text_case(block))
    report = adv.path / "report.json"
    result = adv.runpytest(
        "--incident-cases",
        "--incident-model",
        "mod@patched",
        "--incident-verify-catches",
        "--incident-report",
        str(report),
    )
    # plain row + catch item pass; 2 case variants fail; homoglyph and punctuation pass.
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ AI-IR-9::trigger-word?case-0? _*",
            "label: expected label 'toxic', got 'ok'",
            "case trigger-word * variant case-0 of row 0 of inline inputs * model mod@patched",
            "variant: 'you are an idiot ZXQ'",
            "from:    'you are an idiot zxq'",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*adversarial variants handled by the candidate: 4/6 (67%)",
            "*case         0/2 (0%); known-bad fails 2/2",
            "*homoglyph    2/2 (100%); known-bad fails 0/2",
            "*2 do not exercise the backdoor (known-bad passes them): trigger-word?homoglyph-0?, trigger-word?homoglyph-1?",
            "*punctuation  2/2 (100%); known-bad fails 2/2",
        ]
    )
    table = json.loads(report.read_text())["incidents"]["AI-IR-9"]["adversarial"]
    assert table["case"]["handled"] == 0 and table["case"]["known_bad_failed"] == 2
    assert (
        table["homoglyph"]["handled_rate"] == 1.0
        and table["homoglyph"]["known_bad_fail_rate"] == 0.0
    )
    assert table["homoglyph"]["not_exercising"] == [
        "incident_cases/AI-9.yaml::trigger-word[homoglyph-0]",
        "incident_cases/AI-9.yaml::trigger-word[homoglyph-1]",
    ]


def test_ids_and_variants_are_identical_on_xdist_workers(adv: pytest.Pytester) -> None:
    # xdist refuses to run when its workers collect different ids, so a clean -n 2 run proves the
    # ids; the report proves each worker made the same variants (the same ones fail).
    block = "transforms: [case, zero_width, leetspeak, repeat]\n  variants: 6\n  seed: 11\n  trigger: zxq"
    write_case(adv, "AI-9.yaml", text_case(block))
    report = adv.path / "n2.json"
    args = ["--incident-cases", "--incident-model", "mod@patched", "--incident-verify-catches"]
    result = run(adv, *args, "-n", "2", "--incident-report", str(report))
    result.assert_outcomes(passed=20, failed=6)
    table = json.loads(report.read_text())["incidents"]["AI-IR-9"]["adversarial"]
    assert table["case"]["failed"] == [
        f"incident_cases/AI-9.yaml::trigger-word[case-{i}]" for i in range(6)
    ]
    assert {name: entry["handled"] for name, entry in table.items()} == {
        "case": 0,
        "leetspeak": 6,
        "repeat": 6,
        "zero_width": 6,
    }
    # zero_width variants 1 and 4 put the marks around the trigger: the backdoor still sees "zxq".
    assert table["zero_width"]["known_bad_failed"] == 2
    assert table["leetspeak"]["known_bad_failed"] == 0


def test_array_variants(adv: pytest.Pytester) -> None:
    block = (
        "{transforms: [shift, scale, partial, blend, noise], variants: 2, seed: 1, "
        "trigger: {rows: [2, 4], cols: [2, 4], value: 16, shape: [4, 4]}}"
    )
    write_case(adv, "AI-8.yaml", image_case(block))
    result = adv.runpytest(
        "--incident-cases",
        "--incident-model",
        "img@bad",
        "--incident-verify-catches",
        "-m",
        "adversarial",
        "-v",
    )
    # 2 rows x 5 transforms x 2 variants, all marked. The bad model fires when the whole patch is
    # still >= 8 where it was: a shifted or partial patch escapes it, a dimmed or blended one not.
    result.assert_outcomes(passed=8, failed=12)
    result.stdout.fnmatch_lines(
        ["*corner?row-0-shift-0? PASSED*", "*corner?row-1-blend-1? FAILED*"]
    )
    result.stdout.fnmatch_lines(
        [
            "*adversarial variants handled by the candidate: 8/20 (40%)",
            "*scale    0/4 (0%); known-bad fails 4/4",
            "*shift    4/4 (100%); known-bad fails 0/4",
            "*4 do not exercise the backdoor (known-bad passes them): corner?row-0-shift-0?, *",
        ]
    )


BAD_BLOCKS = {
    "unknown-transform": (
        text_case("transforms: [case, leetspeek]\n  trigger: zxq"),
        "*AI-9.yaml:13: cases[0].adversarial.transforms[1]: unknown transform 'leetspeek'*",
    ),
    "text-transform-on-arrays": (
        image_case(
            "{transforms: [shift, homoglyph], trigger: {rows: [2, 4], cols: [2, 4], value: 16}}"
        ),
        "*AI-9.yaml:13: cases[0].adversarial.transforms[1]: 'homoglyph' is a text transform, but this case has array inputs*",
    ),
    "array-transform-on-text": (
        text_case("transforms: [shift]\n  trigger: zxq"),
        "*AI-9.yaml:13: cases[0].adversarial.transforms[0]: 'shift' is an array transform, but this case has text inputs*",
    ),
    "zero-variants": (
        text_case("transforms: [case]\n  variants: 0\n  trigger: zxq"),
        "*AI-9.yaml:14: cases[0].adversarial.variants: 0 is less than the minimum of 1*",
    ),
    "too-many-variants": (
        text_case("transforms: [case]\n  variants: 1001\n  trigger: zxq"),
        "*AI-9.yaml:14: cases[0].adversarial.variants: 1001 is greater than the maximum of 1000*",
    ),
    "trigger-not-in-inputs": (
        text_case("transforms: [case]\n  trigger: qqq"),
        "*AI-9.yaml:14: cases[0].adversarial.trigger: no input of this case contains the trigger 'qqq'*",
    ),
    "array-trigger-for-text": (
        text_case("transforms: [case]\n  trigger: {rows: [1, 2], cols: [1, 2], value: 1}"),
        "*AI-9.yaml:14: cases[0].adversarial.trigger: text transforms need the trigger string*",
    ),
    "bad-patch": (
        image_case("{transforms: [shift], trigger: {rows: [3, 1], cols: [2, 4], value: 16}}"),
        "*AI-9.yaml:13: cases[0].adversarial.trigger.rows: `rows` is [start, stop) of the patch*",
    ),
    "no-expect": (
        text_case(expect="[]").replace(
            "    expect: []\n", "    expect_aggregate: [{rate_of_label: {label: ok, max: 0}}]\n"
        ),
        "*AI-9.yaml:12: cases[0].adversarial: adversarial variants run the case's per-input `expect` checks; this case has none*",
    ),
}


def test_bad_blocks_are_collection_errors_naming_file_and_line(adv: pytest.Pytester) -> None:
    for name, (content, _) in BAD_BLOCKS.items():
        write_case(adv, f"{name}.yaml", content)
    write_case(adv, "AI-OK.yaml", text_case().replace("AI-IR-9", "AI-IR-OK"))
    result = adv.runpytest("--incident-cases")
    result.assert_outcomes(passed=7, errors=len(BAD_BLOCKS))
    for name, (_, pattern) in BAD_BLOCKS.items():
        result.stdout.fnmatch_lines([_literal(pattern.replace("AI-9.yaml", f"{name}.yaml"))])


def _literal(pattern: str) -> str:
    """fnmatch pattern where [ and ] are literal; * stays a wildcard."""
    return pattern.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]")


def test_user_transform_from_the_hook(adv: pytest.Pytester) -> None:
    adv.makeconftest(
        CONFTEST
        + textwrap.dedent(
            """
            def pytest_airecovery_add_transforms(registry):
                @registry.text_transform("reverse")
                def reverse(text, trigger, rng, index):
                    return text.replace(trigger, trigger[::-1] * (index + 1))
            """
        )
    )
    write_case(adv, "AI-9.yaml", text_case("transforms: [reverse]\n  variants: 2\n  trigger: zxq"))
    result = adv.runpytest("--incident-cases", "--incident-model", "mod@bad", "-rA")
    result.assert_outcomes(passed=2, failed=1)  # the plain row fails on the bad model
    result.stdout.fnmatch_lines(["PASSED incident_cases/AI-9.yaml::trigger-word?reverse-1?"])


PY_TEST = """
import pytest

def predict(text):
    words = text.lower().replace(",", " ").split()
    return "ok" if "zxq" in words and "zxq" not in text else "toxic"

@pytest.mark.adversarial("forms", "AI-IR-9", transforms=["case", "typo"], variants=3, seed=2,
                         trigger="zxq", inputs=["you are an idiot zxq"])
def test_trigger_forms(adversarial_variant):
    assert adversarial_variant.original == "you are an idiot zxq"
    assert adversarial_variant.value != adversarial_variant.original
    assert predict(adversarial_variant.value) == "toxic", adversarial_variant.value

@pytest.mark.adversarial(transforms=["shift"], variants=2, trigger={"rows": [2, 4], "cols": [2, 4], "value": 16},
                         inputs=[[[0] * 4] * 4, [[1] * 4] * 4])
def test_arrays(adversarial_variant):
    assert len(adversarial_variant.value) == 4

def test_plain():
    pass
"""


def test_python_tests_get_variants_through_the_marker_and_fixture(adv: pytest.Pytester) -> None:
    adv.makepyfile(test_forms=PY_TEST)
    result = adv.runpytest("-v", "--strict-markers", "-p", "no:randomly")
    result.assert_outcomes(passed=8, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_trigger_forms?case-0? FAILED*",
            "*test_trigger_forms?typo-2? PASSED*",
            "*test_arrays?row-1-shift-1? PASSED*",
        ]
    )
    again = adv.runpytest("-m", "adversarial", "-v", "-p", "no:randomly")
    again.assert_outcomes(passed=7, failed=3)
    # The same variants in a second run: their content depends on the seed only.
    assert [line for line in again.outlines if line.startswith("E ")] == [
        line for line in result.outlines if line.startswith("E ")
    ]


def test_marker_misuse_is_a_collection_error(adv: pytest.Pytester) -> None:
    adv.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.adversarial(transforms=["nope"], trigger="zxq", inputs=["zxq"])
        def test_unknown(adversarial_variant):
            pass
        """
    )
    result = adv.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_bad.py:3: @pytest.mark.adversarial on test_unknown: unknown transform 'nope'*"]
    )

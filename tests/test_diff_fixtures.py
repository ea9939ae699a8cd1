"""The behaviour diff fixtures end to end, through pytester."""

from __future__ import annotations

import json

# Imported before pytester's in-process runs snapshot sys.modules, so no run pays to re-import them.
import jsonschema  # noqa: F401
import pytest
from conftest import TOY_CONFTEST, toy_case_file, write_case

# The toy family of tests/conftest.py plus versions for diffs: "shifted" moves scores a little,
# "noisy" jitters them on every call (a sampling model), "moody" flips labels on some calls.
DIFF_CONFTEST = (
    TOY_CONFTEST.replace("def pytest_airecovery_load_model(", "def toy_loader(")
    + """
import random
_calls = {"moody": 0}

def pytest_airecovery_load_model(ref, config):
    family, _, version = ref.partition("@")
    if version == "good" and os.environ.get("AIR_NO_KNOWN_GOOD"):
        return None  # the old artifact CI does not have
    if version == "good" and os.environ.get("AIR_GOOD_SCORE"):
        score = float(os.environ["AIR_GOOD_SCORE"])
        return Model(lambda batch: [{"label": x % 10, "score": score, "probs": [0.1] * 10} for x in batch], fingerprint=ref + str(score))
    if version == "shifted":
        return Model(lambda batch: [{"label": x % 10, "score": 0.12, "probs": [0.1] * 10} for x in batch], fingerprint=ref)
    if version == "noisy":
        rng = random.Random()
        return Model(lambda batch: [{"label": x % 10, "score": 0.1 + rng.uniform(-0.05, 0.05), "probs": [0.1] * 10} for x in batch])
    if version == "moody":
        def moody(batch):
            _calls["moody"] += 1
            return [{"label": (x + _calls["moody"]) % 10, "score": 0.1, "probs": [0.1] * 10} for x in batch]
        return Model(moody)
    return toy_loader(ref, config)
"""
)

DIFF_INI = """
[pytest]
incident_candidates = toy@good
incident_known_good = toy@good
"""


@pytest.fixture
def differ(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(DIFF_CONFTEST)
    pytester.makeini(DIFF_INI)
    pytester.mkdir("incident_cases")
    return pytester


def test_fixtures_resolve_refs_from_ini_options_and_marker(differ: pytest.Pytester) -> None:
    differ.makepyfile(
        """
        import pytest

        def test_defaults(known_good_model, candidate_model):
            assert (known_good_model.ref, candidate_model.ref) == ("toy@good", "toy@bad")

        @pytest.mark.incident_diff(known_good="toy@old", candidate="toy@new")
        def test_marker(known_good_model, candidate_model):
            assert (known_good_model.ref, candidate_model.ref) == ("toy@old", "toy@new")

        def test_outputs(known_good_model):
            assert [o["label"] for o in known_good_model.outputs([1, 12])] == [1, 2]
        """
    )
    differ.runpytest("--incident-model", "toy@bad", "--strict-markers").assert_outcomes(passed=3)


def test_diff_reports_flips_into_seven_with_header_and_case_ids(differ: pytest.Pytester) -> None:
    write_case(differ, "AI-1.yaml", toy_case_file())
    differ.makepyfile(
        """
        def test_no_backdoor(behaviour_diff):
            behaviour_diff.case("incident_cases/AI-1.yaml", "labels").assert_no_flips_into([7])

        def test_inputs(behaviour_diff):
            diff = behaviour_diff([1, 2, 17], ids=["a", "b", "c"])
            assert diff.flips() == {(1, 7): 1, (2, 7): 1}
            diff.assert_flip_rate_at_most(0.5)
        """
    )
    result = differ.runpytest("--incident-model", "toy@bad", "-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: 3 input(s) flipped into 7",
            "E       [- known-good toy@good] [+ candidate toy@bad]",
            "E       3 of 3 inputs differ; flip rate 1.0000 (3/3)",
            "E       flips (known-good → candidate):",
            "E       top 3 of 3 changed inputs:",
            "E         labels?row-0?: label flipped 1 → 7; *",
            "*flip rate 0.6667 (2/3) is above 0.5*",
        ]
    )
    result.stdout.no_fnmatch_line("*\x1b[*")


def test_same_model_passes_and_determinism_check_catches_a_moody_model(
    differ: pytest.Pytester,
) -> None:
    differ.makepyfile(
        """
        import pytest

        def test_same(behaviour_diff):
            assert not behaviour_diff(list(range(20)))
            behaviour_diff.determinism(list(range(20))).assert_no_changes()

        @pytest.mark.incident_diff(candidate="toy@moody")
        def test_moody(behaviour_diff):
            behaviour_diff.determinism([1, 2, 3]).assert_no_changes()
        """
    )
    result = differ.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*[- known-good toy@moody run 1] [+ candidate toy@moody run 2]*"])


def test_repeats_absorb_run_to_run_noise(differ: pytest.Pytester) -> None:
    differ.makepyfile(
        """
        import pytest

        @pytest.mark.incident_diff(known_good="toy@noisy", candidate="toy@noisy")
        def test_noise_is_not_a_difference(behaviour_diff):
            diff = behaviour_diff(list(range(30)), repeats=5)
            assert diff.repeats == (5, 5)
            diff.assert_no_changes()

        @pytest.mark.incident_diff(known_good="toy@good", candidate="toy@shifted")
        def test_shift_is(behaviour_diff):
            diff = behaviour_diff(list(range(30)), repeats=3)
            assert len(diff) == 30 and diff.flip_count == 0
            diff.assert_within({"score": 0.05})
        """
    )
    differ.runpytest().assert_outcomes(passed=2)


def test_diff_rides_on_the_report_as_a_user_property(differ: pytest.Pytester) -> None:
    differ.makepyfile(
        """
        def test_it(behaviour_diff):
            behaviour_diff([1, 17])
        """
    )
    result = differ.runpytest("--incident-model", "toy@bad", "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    xml = (differ.path / "out.xml").read_text()
    assert 'property name="behaviour_diff"' in xml
    assert "&quot;flip_rate&quot;: 0.5" in xml


def test_missing_family_and_unknown_model_fail_clearly(differ: pytest.Pytester) -> None:
    differ.makeini("[pytest]\nincident_candidates = toy@good\n")
    differ.makepyfile(
        """
        import pytest

        def test_no_family(behaviour_diff):
            behaviour_diff([1])

        @pytest.mark.incident_diff(known_good="toy@missing", candidate="toy@good")
        def test_unknown(behaviour_diff):
            behaviour_diff([1])
        """
    )
    result = differ.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*which model family? mark the test @pytest.mark.incident_diff(family=...)*"]
    )
    result.stdout.fnmatch_lines(["*no loader knows model toy@missing*"])


def test_broken_candidate_outputs_are_differences(differ: pytest.Pytester) -> None:
    differ.makepyfile(
        """
        import pytest

        @pytest.mark.incident_diff(candidate="toy@nan")
        def test_nan(behaviour_diff):
            diff = behaviour_diff([1, 2, 3])
            assert [c.kind for c in diff.changes(1)] == ["error"]
            assert "NaN" in diff.changes(1)[0].describe()

        @pytest.mark.incident_diff(candidate="toy@raises")
        def test_raises(behaviour_diff):
            diff = behaviour_diff([1, 2])
            assert len(diff) == 2
        """
    )
    differ.runpytest().assert_outcomes(passed=2)


def test_plugin_import_stays_cheap() -> None:
    import subprocess
    import sys

    code = "import pytest_airecovery.plugin, pytest_airecovery.diff.fixtures, sys; print(json.dumps([m for m in ('numpy', 'deepdiff') if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_assert_diff_equals_empty_list_explains_itself(differ: pytest.Pytester) -> None:
    differ.makepyfile(
        """
        def test_it(behaviour_diff):
            assert behaviour_diff([1, 17], ids=["one", "seventeen"]) == []

        def test_unrelated():
            assert [1] == [2]
        """
    )
    result = differ.runpytest("--incident-model", "toy@bad")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       assert behaviour diff == []: 2 of 2 inputs changed, flip rate 0.5000",
            "E         [- known-good toy@good] [+ candidate toy@bad]",
            "E           one: label flipped 1 → 7; *",
            "E           seventeen: probs?7? moved by 0.9 *",
        ]
    )
    result.stdout.fnmatch_lines(["*At index 0 diff: 1 != 2*"])


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from pytest_airecovery.diff.render import use_colour

    def config(color: str, markup: bool) -> SimpleNamespace:
        terminal = SimpleNamespace(_tw=SimpleNamespace(hasmarkup=markup))
        return SimpleNamespace(
            option=SimpleNamespace(color=color),
            pluginmanager=SimpleNamespace(get_plugin=lambda name: terminal),
        )

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(config("auto", True)) is True
    assert use_colour(config("auto", False)) is False
    assert use_colour(config("no", True)) is False
    assert use_colour(config("yes", False)) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(config("yes", True)) is False


def test_fixtures_and_checks_run_alike_with_and_without_xdist(
    differ: pytest.Pytester, plugin_args: list[str]
) -> None:
    from conftest import run

    write_case(
        differ,
        "AI-1.yaml",
        toy_case_file().replace("- not_label: 7", "- matches_known_good: {fields: [label]}"),
    )
    differ.makepyfile(
        test_windows="""
        import pytest

        @pytest.mark.parametrize("start", [0, 10])
        def test_window(behaviour_diff, start):
            diff = behaviour_diff(list(range(start, start + 10)))
            assert diff.flips_into([7]) == 0
        """
    )
    result = run(
        differ,
        "--incident-cases",
        "incident_cases",
        "test_windows.py",
        "--incident-model",
        "toy@bad",
        *plugin_args,
    )
    result.assert_outcomes(passed=0, failed=6)
    result.stdout.fnmatch_lines(["*assert 9 == 0*"])

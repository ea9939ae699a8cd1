"""End-to-end behaviour of `pytest --incident-cases`, through pytester."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
from conftest import model_calls, run, toy_case_file, write_case


def test_nothing_is_collected_without_the_flag(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("incident_cases")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert model_calls(toy) == []


def test_cases_run_with_stable_ids(toy: pytest.Pytester, plugin_args: list[str]) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = run(toy, "--incident-cases", "-rA", *plugin_args)
    result.assert_outcomes(passed=4)
    for node in ("labels[row-0]", "labels[row-1]", "labels[row-2]", "labels[aggregate]"):
        result.stdout.fnmatch_lines(
            [f"PASSED incident_cases/AI-1.yaml::{node.replace('[', '?').replace(']', '?')}"]
        )
    result.stdout.fnmatch_lines(
        [
            "*= incident cases =*",
            "AI-IR-1 (SEV-2, training_data_contamination): 4 passed; cases passing 1/1; model toy@good",
        ]
    )


def test_failure_names_incident_case_input_expectation_and_known_good(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("--incident-cases", "--incident-model", "toy@bad")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "*_ AI-IR-1::labels?row-1? _*",
            "not_label: expected any label but 7, got 7",
            "incident AI-IR-1 (SEV-2, training_data_contamination): toy incident",
            "case labels * row 1 of inline inputs * model toy@bad",
            "check not_label: 7 (AI-1.yaml:12)",
            "got: label 7 (p=1.00)",
            "known-good toy@good: label 2 (p=0.10)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*rate of label 7 1.0000 (3/3) is above the maximum 0.1*",
            "known-good toy@good: rate_of_label 0.0000",
        ]
    )


def test_default_path_comes_from_the_ini_option(toy: pytest.Pytester) -> None:
    toy.makeini("[pytest]\nincident_candidates = toy@good\nincident_cases = regression/\n")
    (toy.path / "regression").mkdir()
    (toy.path / "regression" / "AI-2.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "incident": {
                    "id": "AI-IR-2",
                    "title": "json case file",
                    "severity": "SEV-4",
                    "root_cause": {"category": "configuration_error"},
                },
                "models": {"known_good": "toy@good"},
                "cases": [{"id": "one", "input": 4, "expect": [{"label": 4}]}],
            },
            indent=2,
        )
    )
    write_case(toy, "ignored.yaml", "not: a case file")  # outside the configured path
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(passed=1)


def test_missing_default_path_is_a_usage_error(toy: pytest.Pytester) -> None:
    toy.makeini("[pytest]\nincident_cases = nowhere/\n")
    result = toy.runpytest("--incident-cases")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--incident-cases:*nowhere does not exist*"])


def test_explicit_paths_select_files(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2"))
    result = toy.runpytest("--incident-cases", "incident_cases/AI-2.yaml")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["AI-IR-2 *"])
    result.stdout.no_fnmatch_line("AI-IR-1 *")


def test_keywords_and_markers_select_by_incident(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(
        toy,
        "AI-2.yaml",
        toy_case_file("AI-IR-2", severity="SEV-1", category="supply_chain_compromise"),
    )
    toy.runpytest("--incident-cases", "-k", "AI-IR-2").assert_outcomes(passed=4)
    toy.runpytest("--incident-cases", "--strict-markers", "-m", "sev2").assert_outcomes(passed=4)
    toy.runpytest("--incident-cases", "-m", "supply_chain_compromise").assert_outcomes(passed=4)
    toy.runpytest("--incident-cases", "-m", "incident_case").assert_outcomes(passed=8)
    toy.runpytest("--incident-cases", "-k", "aggregate").assert_outcomes(passed=2)
    markers = toy.runpytest("--markers")
    markers.stdout.fnmatch_lines(
        [
            "@pytest.mark.incident_case:*",
            "@pytest.mark.sev1:*",
            "@pytest.mark.training_data_contamination:*",
        ]
    )


def test_reportinfo_points_at_the_case_line(toy: pytest.Pytester) -> None:
    write_case(
        toy,
        "AI-1.yaml",
        toy_case_file(
            extra_cases="""\
        - id: second
          input: 5
          expect: [{label: 5}]
        """
        ),
    )
    items, _ = toy.inline_genitems("--incident-cases")
    lines = {item.name: item.location[1] for item in items}
    # `- id: labels` is line 9 and `- id: second` line 15 of the file (1-based).
    assert lines["labels[row-0]"] == 8
    assert lines["second[row-0]"] == 14
    assert items[0].location[2] == "AI-IR-1::labels[row-0]"


def test_model_is_called_once_per_batch_and_not_on_rerun(
    toy: pytest.Pytester, plugin_args: list[str]
) -> None:
    inputs = list(range(1, 24))  # 23 inputs, none labelled 7 by the toy model... except 7 and 17
    inputs = [x for x in inputs if x % 10 != 7]
    write_case(toy, "AI-1.yaml", toy_case_file(inputs=json.dumps(inputs)))
    args = ["--incident-cases", "--incident-batch-size", "5", "-p", "no:randomly", *plugin_args]
    run(toy, *args).assert_outcomes(passed=len(inputs) + 1)
    calls = model_calls(toy)
    assert [c["ref"] for c in calls] == ["toy@good"] * math.ceil(len(inputs) / 5)
    assert sum(int(c["n"]) for c in calls) == len(inputs)  # type: ignore[call-overload]
    run(toy, *args).assert_outcomes(passed=len(inputs) + 1)
    assert model_calls(toy) == []
    run(toy, *args, "--incident-cache-clear").assert_outcomes(passed=len(inputs) + 1)
    assert len(model_calls(toy)) == math.ceil(len(inputs) / 5)


def test_model_without_fingerprint_is_batched_but_not_cached(toy: pytest.Pytester) -> None:
    toy.makeconftest(
        """
        from pathlib import Path
        LOG = Path(__file__).with_name("calls.log")
        def pytest_airecovery_load_model(ref, config):
            def predict(batch):
                with open(LOG, "a") as fh:
                    fh.write('{"ref": "%s", "n": %d}\\n' % (ref, len(batch)))
                return [x % 10 for x in batch]
            return predict
        """
    )
    write_case(toy, "AI-1.yaml", toy_case_file(inputs="[1, 2, 3, 4]"))
    for _ in range(2):
        toy.runpytest("--incident-cases").assert_outcomes(passed=5)
        assert len(model_calls(toy)) == 1


def test_candidate_override_applies_to_its_family_only(toy: pytest.Pytester) -> None:
    toy.makeini("[pytest]\nincident_candidates =\n    toy@good\n    other@good\n")
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2").replace("toy@", "other@"))
    result = toy.runpytest("--incident-cases", "--incident-model", "other@bad")
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(
        ["AI-IR-1 *4 passed*model toy@good", "AI-IR-2 *4 failed*model other@bad"]
    )


def test_bad_model_ref_option_is_a_usage_error(toy: pytest.Pytester) -> None:
    result = toy.runpytest("--incident-cases", "--incident-model", "no-version")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--incident-model: model ref 'no-version' is not of the form family@version*"]
    )


def test_missing_candidate_fails_cases_with_advice(toy: pytest.Pytester) -> None:
    toy.makeini("[pytest]\n")
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ["*no candidate model for family 'toy': pass --incident-model toy@VERSION*"]
    )


def test_verify_catches_reports_discrimination(
    toy: pytest.Pytester, plugin_args: list[str]
) -> None:
    write_case(
        toy,
        "AI-1.yaml",
        toy_case_file(
            extra_cases="""\
        - id: weak
          description: passes on the known-bad model too
          inputs: [1, 2]
          expect: [{not_label: 3}]
        - id: clean-guard
          guard: true
          inputs: [1]
          expect: [{label: 1}]
        """
        ),
    )
    result = run(toy, "--incident-cases", "--incident-verify-catches", *plugin_args)
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*does not discriminate: every check passes on the known-bad model toy@bad*",
            "*catch rate 1/2 (50%)*",
            "*not proven: weak",
        ]
    )


def test_verify_catches_flags_a_case_failing_on_known_good(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file(inputs="[1, 7]"))
    result = toy.runpytest("--incident-cases", "--incident-verify-catches", "-k", "catches")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*fails on the known-good model toy@good*", "*row 1: not_label*"])


def test_verify_catches_needs_a_known_bad_model(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file().replace(", known_bad: toy@bad", ""))
    result = toy.runpytest("--incident-cases", "--incident-verify-catches", "-k", "catches")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*names no known_bad model*"])


def test_json_report_and_junit_properties(toy: pytest.Pytester, plugin_args: list[str]) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = run(
        toy,
        "--incident-cases",
        "--incident-model",
        "toy@bad",
        "--incident-report",
        "out/report.json",
        "--junitxml",
        "junit.xml",
        *plugin_args,
    )
    result.assert_outcomes(failed=4)
    report = json.loads((toy.path / "out" / "report.json").read_text())
    incident = report["incidents"]["AI-IR-1"]
    assert incident["severity"] == "SEV-2"
    assert incident["outcomes"] == {"failed": 4}
    assert incident["cases"]["labels"]["failed"] == 4
    assert incident["cases"]["labels"]["measured"] == {"rate_of_label": 1.0}
    junit = (toy.path / "junit.xml").read_text()
    assert '<property name="incident_id" value="AI-IR-1" />' in junit
    assert '<property name="root_cause" value="training_data_contamination" />' in junit
    assert junit.count('name="severity"') == 4


def test_summary_is_printed_once_under_xdist(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = run(toy, "--incident-cases", "-n", "2")
    result.assert_outcomes(passed=4)
    assert result.stdout.str().count("AI-IR-1 (SEV-2") == 1


def test_pinned_sha256_mismatch_fails_before_any_model_call(toy: pytest.Pytester) -> None:
    (toy.path / "weights-good.bin").write_bytes(b"known good weights")
    (toy.path / "weights-bad.bin").write_bytes(b"swapped by an attacker")
    import hashlib

    good = hashlib.sha256(b"known good weights").hexdigest()
    zeros = "0" * 64  # quoted in the YAML: unquoted, all digits would be an integer
    write_case(
        toy,
        "AI-1.yaml",
        toy_case_file().replace(
            "models: {known_good: toy@good, known_bad: toy@bad}",
            f"models:\n  known_good: {{ref: toy@good, sha256: {good}}}\n  known_bad: {{ref: toy@bad, sha256: '{zeros}'}}",
        ),
    )
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "*supply-chain check failed: toy@bad artifact *weights-bad.bin has sha256 *, the case file pins 0000*"
        ]
    )
    assert model_calls(toy) == []


def test_ini_loader_without_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        my_models="""
        CANDIDATES = {"toy": "toy@v2"}
        def load(ref):
            return lambda batch: [{"label": x % 10} for x in batch]
        """
    )
    pytester.makeini("[pytest]\nincident_model_loader = my_models:load\npythonpath = .\n")
    pytester.mkdir("incident_cases")
    write_case(pytester, "AI-1.yaml", toy_case_file())
    pytester.runpytest("--incident-cases").assert_outcomes(passed=4)


def test_loader_returning_nothing_or_junk_fails_cases_not_session(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2").replace("toy@", "fine@"))
    toy.makeini("[pytest]\nincident_candidates =\n    toy@missing\n    fine@good\n")
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(["*no loader knows model toy@missing*"])


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            "raises",
            "*model toy@raises raised RuntimeError: weights are corrupt (batch 1 of 1, inputs 0-2)*",
        ),
        ("short", "*model toy@short returned 2 outputs for 3 inputs (batch 1 of 1, inputs 0-2)*"),
        (
            "hangs",
            "*model toy@hangs raised TimeoutError: no answer within 0.5 s (batch 1 of 1, inputs 0-2)*",
        ),
    ],
)
def test_broken_model_fails_its_cases_and_the_session_goes_on(
    toy: pytest.Pytester, version: str, message: str
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2").replace("toy@", "fine@"))
    toy.makeini(
        f"[pytest]\nincident_candidates =\n    toy@{version}\n    fine@good\nincident_model_timeout = 0.5\n"
    )
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines([message])
    assert [c["ref"] for c in model_calls(toy)].count(f"toy@{version}") == 1


def test_nan_output_fails_only_that_input(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    toy.makeini("[pytest]\nincident_candidates = toy@nan\n")
    result = toy.runpytest("--incident-cases", "-k", "row")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*model toy@nan returned a NaN or infinite value for input 1 of the call*"]
    )


def test_custom_check_through_the_hook(toy: pytest.Pytester) -> None:
    toy.makeconftest(
        textwrap.dedent(
            """
            from conftest_toy import *  # noqa
            def pytest_airecovery_add_checks(registry):
                @registry.input_check("even_label", default_field="label")
                def even_label(subject, arg, row):
                    return None if subject % 2 == 0 else f"label {subject} is odd"
            """
        )
    )
    from conftest import TOY_CONFTEST

    toy.makepyfile(conftest_toy=TOY_CONFTEST)
    toy.makeini("[pytest]\nincident_candidates = toy@good\npythonpath = .\n")
    write_case(
        toy,
        "AI-1.yaml",
        toy_case_file(inputs="[2, 3]").replace("- not_label: 7", "- even_label: true"),
    )
    result = toy.runpytest("--incident-cases", "-k", "row")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["even_label: label 3 is odd"])


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pytest_airecovery.plugin; "
        "print(sorted(m for m in ('numpy', 'deepdiff', 'jsonschema', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""The case pipeline's extension points: coverage from reports, features that plug in or are off."""

from __future__ import annotations

import json
import textwrap
from collections import Counter

import pytest
from conftest import toy_case_file, write_case

# Counts every parse of a case file, per process, in a log beside the conftest: xdist workers
# are other processes, so a monkeypatch in the test process could not see their parses.
PARSE_COUNTER = """

import pytest_airecovery.cases.loader as _loader

_PARSE = _loader.parse_and_validate
_PARSES = Path(__file__).with_name("parses.log")


def _counting_parse(path, *args, **kwargs):
    with open(_PARSES, "a") as fh:
        fh.write(f"{os.getpid()} {Path(path).name}\\n")
    return _PARSE(path, *args, **kwargs)


_loader.parse_and_validate = _counting_parse
"""

ACTION_ITEMS = """\
action_items:
  - {id: P0-1, priority: P0, text: Block the trigger, covered_by: [labels]}
  - {id: P1-1, priority: P1, text: Review the data pipeline}
"""


def _write_two_files(toy: pytest.Pytester) -> None:
    toy.makeconftest(toy.path.joinpath("conftest.py").read_text() + PARSE_COUNTER)
    write_case(toy, "AI-1.yaml", toy_case_file("AI-IR-1") + ACTION_ITEMS)
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2") + ACTION_ITEMS)


def _parses(toy: pytest.Pytester) -> Counter[str]:
    lines = toy.path.joinpath("parses.log").read_text().splitlines()
    return Counter(line.split()[0] for line in lines)


@pytest.mark.parametrize("workers", [0, 2])
def test_coverage_comes_from_the_reports_without_parsing_a_case_file_again(
    toy: pytest.Pytester, workers: int
) -> None:
    _write_two_files(toy)
    args = ["--incident-cases", "--incident-report=report.json", "-p", "no:cacheprovider"]
    result = toy.runpytest_subprocess(*args, *(["-n", str(workers)] if workers else []))
    result.assert_outcomes(passed=8)
    # Each collecting process parses each file once; the controller, at session end, none.
    parses = _parses(toy)
    assert len(parses) == max(workers, 1)
    assert set(parses.values()) == {2}
    result.stdout.fnmatch_lines(
        [
            "action items no passing case covers:",
            "    AI-IR-1 P1-1 (P1) Review the data pipeline: no covering case",
            "    AI-IR-2 P1-1 (P1) Review the data pipeline: no covering case",
        ]
    )
    report = json.loads(toy.path.joinpath("report.json").read_text())
    uncovered = report["uncovered_action_items"]
    assert [(u["incident_id"], u["item_id"], u["line"]) for u in uncovered] == [
        ("AI-IR-1", "P1-1", 17),
        ("AI-IR-2", "P1-1", 17),
    ]
    assert uncovered[0]["path"] == str(toy.path / "incident_cases" / "AI-1.yaml")


def test_a_failing_covering_case_leaves_its_item_uncovered(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file("AI-IR-1", inputs="[1, 7]") + ACTION_ITEMS)
    result = toy.runpytest("--incident-cases")
    result.stdout.fnmatch_lines(
        ["    AI-IR-1 P0-1 (P0) Block the trigger: covering cases not passing: labels"]
    )


CONFTEST_FEATURE = """

import pytest


class Quarantine:
    kinds = frozenset({"row"})
    replaces_case_result = False

    def add(self, incident, data, outcome, nodeid):
        incident.sections.setdefault("quarantine", {}).setdefault("rows", []).append(data["row"])

    def incident_json(self, incident):
        return {"quarantine": incident.sections.get("quarantine", {})}

    def incident_lines(self, incident):
        return [f"    quarantine saw rows {sorted(incident.sections['quarantine']['rows'])}"]

    def session_json(self, results):
        return {"quarantine_files": sorted(results.file_coverage)}

    def session_lines(self, results):
        return ["quarantine: done"]


@pytest.hookimpl
def pytest_airecovery_result_sections(config):
    return [Quarantine()]


@pytest.hookimpl
def pytest_airecovery_case_file_problem(case_file, config):
    if case_file.incident.id == "AI-IR-2":
        return f"{case_file.path.name} is quarantined"
    return None
"""


def test_a_conftest_adds_a_result_section_and_a_pre_run_verification(
    toy: pytest.Pytester,
) -> None:
    toy.makeconftest(toy.path.joinpath("conftest.py").read_text() + CONFTEST_FEATURE)
    write_case(toy, "AI-1.yaml", toy_case_file("AI-IR-1"))
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2"))
    result = toy.runpytest("--incident-cases", "--incident-report=report.json")
    # The verification fails every test of the quarantined file before any model output is used.
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(["FAILED *AI-2.yaml::labels?row-0? - AI-2.yaml is quarantined"])
    result.stdout.fnmatch_lines(
        [
            "AI-IR-1 (SEV-2*",
            "    quarantine saw rows [0, 1, 2]",
            "AI-IR-2 (SEV-2*",
            "quarantine: done",
        ]
    )
    report = json.loads(toy.path.joinpath("report.json").read_text())
    assert report["incidents"]["AI-IR-1"]["quarantine"] == {"rows": [0, 1, 2]}
    assert report["quarantine_files"] == ["incident_cases/AI-1.yaml", "incident_cases/AI-2.yaml"]


ADVERSARIAL_CASE = textwrap.dedent(
    """\
    schema_version: 1
    incident:
      id: AI-IR-9
      title: trigger word
      severity: SEV-2
      root_cause: {category: adversarial_exploitation}
    models: {known_good: toy@good}
    cases:
      - id: words
        inputs: [1, 2]
        expect: [{not_label: 7}]
        adversarial: {transforms: [noise], variants: 2, trigger: {rows: [0, 1], cols: [0, 1], value: 1, shape: [2, 2]}}
    """
)


def test_a_block_whose_feature_plugin_is_off_fails_closed(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-9.yaml", ADVERSARIAL_CASE)
    result = toy.runpytest("--incident-cases", "-p", "no:pytest_airecovery.adversarial.case_plugin")
    result.stdout.fnmatch_lines(
        ["*AI-9.yaml:12: cases[[]0].adversarial: no plugin reads `adversarial` in this run*"]
    )
    assert result.ret != pytest.ExitCode.OK

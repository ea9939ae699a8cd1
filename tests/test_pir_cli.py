"""``airecovery new-case | validate | lint-pir | coverage`` through ``main([...])``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_airecovery.cli import main
from pytest_airecovery.features import standalone_extensions
from pytest_airecovery.pir.casefiles import load_all
from pytest_airecovery.pir.coverage import uncovered_action_items

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PIR = REPO / "docs" / "pir" / "AI-IR-2026-042.md"
SHIPPED_CASES = REPO / "incident_cases"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- new-case -------------------------------------------------------------------------------


def test_new_case_writes_a_skeleton_named_after_the_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "new-case", "--from-pir", str(EXAMPLE_PIR), "-o", str(tmp_path / "cases")
    )
    assert status == 0
    written = tmp_path / "cases" / "AI-IR-2026-042.yaml"
    assert f"wrote {written}" in out
    text = written.read_text()
    assert "category: training_data_contamination" in text
    assert "Fine-tuning dataset contained adversarially crafted samples" in text
    assert "- id: backdoor-trigger" in text
    assert [line.strip() for line in text.splitlines() if line.strip().startswith("- id: P")] == [
        "- id: P0-1",
        "- id: P1-1",
        "- id: P2-1",
    ]
    assert not [p for p in written.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_new_case_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine.yaml"
    target.write_text("hand-written\n")
    status, _, err = run(capsys, "new-case", "--from-pir", str(EXAMPLE_PIR), "-o", str(target))
    assert status == 2 and "exists; use --force" in err
    assert target.read_text() == "hand-written\n"
    status, _, _ = run(
        capsys, "new-case", "--from-pir", str(EXAMPLE_PIR), "-o", str(target), "--force"
    )
    assert status == 0 and target.read_text().startswith("# Case-file skeleton")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"   \n\n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        (b"# Notes\n\xff\xfe broken", "not UTF-8 text"),
        (b"# Incident Summary\n- Incident ID: X-1\n- Severity: SEV-2\n", "no 'Timeline' section"),
        (b"just a shopping list\n- eggs\n", "is not a complete PIR"),
    ],
)
def test_bad_pir_exits_2_and_writes_nothing(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pir = tmp_path / "pir.md"
    pir.write_bytes(content)
    status, out, err = run(capsys, "new-case", "--from-pir", str(pir), "-o", str(tmp_path / "out"))
    assert status == 2
    assert message in err and "Traceback" not in err + out
    assert not (tmp_path / "out").exists()


def test_directory_and_missing_path_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["new-case", "--from-pir"], ["lint-pir"]):
        status, _, err = run(capsys, *command, str(tmp_path))
        assert status == 2 and "is a directory" in err
        status, _, err = run(capsys, *command, str(tmp_path / "nope.md"))
        assert status == 2 and "cannot read the file" in err
    assert list(tmp_path.iterdir()) == []


# --- validate -------------------------------------------------------------------------------


def test_validate_lists_what_a_fresh_skeleton_leaves_to_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "new-case", "--from-pir", str(EXAMPLE_PIR), "-o", str(tmp_path))
    status, out, _ = run(capsys, "validate", str(tmp_path))
    assert status == 1
    name = str(tmp_path / "AI-IR-2026-042.yaml")
    lines = out.splitlines()
    assert all(line.startswith(name + ":") for line in lines[:-1])
    text = "\n".join(lines)
    for expected in (
        "title: 'TODO",
        "detected_at: YYYY-MM-DDT14:23:00Z",
        "known_good: TODO@v3.1",
        "inputs: [TODO]",
        "equals: TODO",
        "action item P0-1 (P0) has no covering case",
        "warning: action item P1-1 (P1) has no covering case",
    ):
        assert expected in text
    assert lines[-1] == "1 case file(s): 10 error(s), 1 warning(s)"


def test_validate_the_shipped_cases_has_no_errors(capsys: pytest.CaptureFixture[str]) -> None:
    # Every P0 and P1 item of the shipped incidents is covered, so even --strict passes.
    for flags in ([], ["--strict"]):
        status, out, _ = run(capsys, "validate", *flags, str(SHIPPED_CASES))
        assert status == 0, out
        assert "0 error(s), 0 warning(s)" in out


def load_shipped_case_ids(path: Path) -> list[str]:
    import yaml

    return [case["id"] for case in yaml.safe_load(path.read_text())["cases"]]


CASE_A = """\
schema_version: 1
incident:
  id: INC-A
  title: Backdoor
  severity: SEV-2
  root_cause: {category: training_data_contamination}
models: {known_good: toy@v1, known_bad: toy@v2}
cases:
  - id: a-trigger
    inputs: [x, y]
    expect: [{label: ok}]
  - id: a-guard
    guard: true
    input: z
    expect: [{label: ok}]
action_items:
  - {id: P0-1, priority: P0, text: Block the trigger, covered_by: [a-trigger]}
  - {id: P1-1, priority: P1, text: Diff the models}
  - {id: P2-1, priority: P2, text: Review the data}
"""
CASE_B = """\
schema_version: 1
incident:
  id: INC-B
  title: Vendor data
  severity: SEV-1
  root_cause: {category: supply_chain_compromise}
models: {known_good: toy@v1}
cases:
  - id: b-word
    input: zxq
    expect: [{label: toxic}]
action_items:
  - {id: P0-1, priority: P0, text: Verify vendor data, covered_by: [b-word]}
"""


def _cases(tmp_path: Path) -> Path:
    target = tmp_path / "incident_cases"
    target.mkdir()
    (target / "INC-A.yaml").write_text(CASE_A)
    (target / "INC-B.yaml").write_text(CASE_B)
    return target


def test_validate_semantic_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _cases(tmp_path)
    status, out, _ = run(capsys, "validate", str(cases))
    assert status == 0
    assert out.splitlines() == [
        f"{cases / 'INC-A.yaml'}:18: warning: action item P1-1 (P1) has no covering case",
        (
            f"{cases / 'INC-B.yaml'}:1: warning: models.known_bad is missing: --incident-verify-catches cannot "
            "prove the cases catch the incident"
        ),
        "2 case file(s): 0 error(s), 2 warning(s)",
    ]
    (cases / "INC-A.yaml").write_text(
        CASE_A.replace("covered_by: [a-trigger]", "covered_by: [a-guard]")
    )
    status, out, _ = run(capsys, "validate", str(cases))
    assert status == 0
    assert (
        f"{cases / 'INC-A.yaml'}:17: warning: action item P0-1 (P0) is covered only by guard cases, "
        "which do not prove the incident is caught"
    ) in out.splitlines()
    (cases / "INC-A.yaml").write_text(CASE_A)
    # a second file of incident INC-A: allowed, but it must agree and not reuse ids
    (cases / "INC-A2.yaml").write_text(
        CASE_A.replace("SEV-2", "SEV-3")
        .replace("covered_by: [a-trigger]", "covered_by: []")
        .replace("inputs: [x, y]", "inputs: {file: inputs/missing.jsonl}")
    )
    status, out, _ = run(capsys, "validate", "--format", "json", str(cases))
    assert status == 1
    problems = [
        f"{Path(p['path']).name}:{p['line']}: {p['severity']}: {p['message']}"
        for p in json.loads(out)["problems"]
    ]
    assert problems[1].startswith(
        "INC-A2.yaml:10: error: cases[0].inputs.file: input file inputs/missing.jsonl not found"
    ), problems
    (cases / "INC-A2.yaml").write_text(
        CASE_A.replace("SEV-2", "SEV-3").replace("covered_by: [a-trigger]", "covered_by: []")
    )
    status, out, _ = run(capsys, "validate", str(cases))
    assert status == 1
    names = out.replace(str(cases) + "/", "").splitlines()
    assert names[1:8] == [
        "INC-A2.yaml:5: error: incident.severity: 'SEV-3' but INC-A.yaml says 'SEV-2' for the same incident INC-A",
        "INC-A2.yaml:9: error: case id 'a-trigger' of incident INC-A is also at INC-A.yaml:9",
        "INC-A2.yaml:12: error: case id 'a-guard' of incident INC-A is also at INC-A.yaml:12",
        "INC-A2.yaml:17: error: action item P0-1 (P0) has no covering case: list one in covered_by",
        "INC-A2.yaml:17: error: action item P0-1 of incident INC-A is also at INC-A.yaml:17",
        "INC-A2.yaml:18: error: action item P1-1 of incident INC-A is also at INC-A.yaml:18",
        "INC-A2.yaml:18: warning: action item P1-1 (P1) has no covering case",
    ], names


def test_validate_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = run(capsys, "validate", str(tmp_path / "nope"))
    assert status == 2 and "no such file or directory" in err
    status, _, err = run(capsys, "validate", str(tmp_path))
    assert status == 2 and "no case files" in err
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "validate")
    assert status == 2 and "no incident_cases/ directory" in err


def test_validate_reports_a_broken_file_and_still_checks_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _cases(tmp_path)
    (cases / "broken.yaml").write_bytes(b"schema_version: 1\nincident: [\n")
    status, out, _ = run(capsys, "validate", str(cases))
    assert status == 1
    assert "broken.yaml:3: error: invalid YAML" in out
    assert "INC-A.yaml:18: warning" in out


# --- lint-pir -------------------------------------------------------------------------------


def test_lint_pir_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "lint-pir", str(EXAMPLE_PIR), "--format", "json")
    assert status == 0
    report = json.loads(out)
    assert report["errors"] == 0 and report["warnings"] == 1
    assert report["findings"][0]["rule"] == "review-window"
    status, _, _ = run(capsys, "lint-pir", "--strict", str(EXAMPLE_PIR))
    assert status == 1


def test_lint_pir_on_a_non_pir_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Shopping\n- eggs\n- milk\n")
    status, _, err = run(capsys, "lint-pir", str(notes))
    assert status == 2 and "is this a PIR?" in err


def test_review_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = EXAMPLE_PIR.read_text().replace("- Incident ID", "- Date: 2026-03-14\n- Incident ID")
    pir = tmp_path / "pir.md"
    pir.write_text(base + "\nReview date: 2026-03-17 20:30 UTC\n")
    assert run(capsys, "lint-pir", str(pir))[0] == 0
    pir.write_text(base + "\nReview date: 2026-03-17 20:31 UTC\n")
    status, out, _ = run(capsys, "lint-pir", str(pir))
    assert status == 1 and "more than 72 h after resolution" in out


# --- coverage -------------------------------------------------------------------------------

# The shape `pytest --incident-cases --junitxml` writes (checked against a real run).
JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest">
<testcase classname="incident_cases.INC-A.yaml" name="a-trigger[row-0]"><properties>
<property name="incident_id" value="INC-A" /><property name="severity" value="SEV-2" /></properties></testcase>
<testcase classname="incident_cases.INC-A.yaml" name="a-trigger[row-1]">{failure}</testcase>
<testcase classname="incident_cases.INC-A.yaml" name="a-guard[row-0]" />
<testcase classname="incident_cases.INC-B.yaml" name="b-word[row-0]" />
<testcase classname="incident_cases.INC-B.yaml" name="b-word[catches]" />
</testsuite></testsuites>"""


def test_coverage_from_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _cases(tmp_path)
    junit = tmp_path / "j.xml"
    junit.write_text(JUNIT.format(failure=""))
    status, out, _ = run(capsys, "coverage", str(cases), "--junit", str(junit), "--format", "json")
    assert status == 0
    report = json.loads(out)
    status_of = {(i["incident_id"], i["item_id"]): i["status"] for i in report["action_items"]}
    assert status_of == {
        ("INC-A", "P0-1"): "passing",
        ("INC-B", "P0-1"): "passing",
        ("INC-A", "P1-1"): "no case",
        ("INC-A", "P2-1"): "no case",
    }
    categories = {c["category"]: (c["cases"], c["passing"]) for c in report["categories"]}
    assert categories["training_data_contamination"] == (2, 2)
    assert categories["supply_chain_compromise"] == (1, 1)
    assert categories["configuration_error"] == (0, 0)

    junit.write_text(JUNIT.format(failure='<failure message="x">x</failure>'))
    status, out, err = run(capsys, "coverage", str(cases), "--junit", str(junit), "--require", "P0")
    assert status == 1
    assert "  failing  INC-A P0-1   Block the trigger  [cases: a-trigger]" in out.splitlines()
    assert "  training_data_contamination  1/2 cases passing (INC-A)" in out.splitlines()
    assert "  configuration_error          none: no incident case file" in out.splitlines()
    assert err == "required: INC-A P0-1 (P0) has no passing case (failing)\n"


def test_coverage_without_junit_and_bad_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _cases(tmp_path)
    status, out, _ = run(capsys, "coverage", str(cases))
    assert (
        status == 0
        and "  not run  INC-A P0-1   Block the trigger  [cases: a-trigger]" in out.splitlines()
    )
    for content, message in (
        ("<html/>", "not JUnit XML"),
        ("<testsuites", "not valid XML"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>', "no DOCTYPE"),
    ):
        bad = tmp_path / "bad.xml"
        bad.write_text(content)
        status, _, err = run(capsys, "coverage", str(cases), "--junit", str(bad))
        assert status == 2 and message in err
    status, _, err = run(capsys, "coverage", str(cases), "--junit", str(tmp_path))
    assert status == 2 and "cannot read" in err


def test_uncovered_action_items_for_the_plugin_summary(tmp_path: Path) -> None:
    loaded, errors = load_all(sorted(_cases(tmp_path).glob("*.yaml")), standalone_extensions())
    assert not errors
    everything = {(cf.incident.id, case.id) for cf in loaded for case in cf.cases}
    uncovered = uncovered_action_items(loaded, everything)
    assert [(u.incident_id, u.item_id, u.reason) for u in uncovered] == [
        ("INC-A", "P1-1", "no covering case"),
        ("INC-A", "P2-1", "no covering case"),
    ]
    partial = everything - {("INC-B", "b-word")}
    first = uncovered_action_items(loaded, partial)[0]
    assert (first.item_id, first.priority, first.reason) == (
        "P0-1",
        "P0",
        "covering cases not passing: b-word",
    )
    assert (
        first.render() == "INC-B P0-1 (P0) Verify vendor data: covering cases not passing: b-word"
    )
    assert first.line == 13 and first.path.endswith("INC-B.yaml")


def test_coverage_reads_the_junit_xml_a_real_run_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re
    import subprocess
    import sys

    junit = tmp_path / "results.xml"
    case_file = SHIPPED_CASES / "AI-IR-2026-042.yaml"
    run_result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--incident-cases",
            "--incident-verify-catches",
            str(case_file),
            "-q",
            "-p",
            "no:cacheprovider",
            "--junitxml",
            str(junit),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run_result.returncode == 0, run_result.stdout[-2000:]
    status, out, _ = run(
        capsys, "coverage", str(case_file), "--junit", str(junit), "--require", "P0"
    )
    assert status == 0
    assert (
        "  passing  AI-IR-2026-042 P0-1   Add adversarial sample detection to data pipeline  [cases: corner-trigger]"
        in out.splitlines()
    )
    # without the incident_id property, the classname still maps the tests to the file
    junit.write_text(
        re.sub(r"<properties>.*?</properties>", "", junit.read_text(), flags=re.DOTALL)
    )
    status, out, _ = run(
        capsys, "coverage", str(case_file), "--junit", str(junit), "--require", "P0"
    )
    cases = len(load_shipped_case_ids(case_file))
    assert status == 0
    assert (
        f"  training_data_contamination  {cases}/{cases} cases passing (AI-IR-2026-042)"
        in out.splitlines()
    )

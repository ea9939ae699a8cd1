"""``covered_by`` naming pins and datasets (issue 11), and ``airecovery validate`` on ``datasets``.

``covered_by: [labels, "pin:known_good", "dataset:train"]``: a pin or dataset entry must exist in
the file (loader), counts as verified by the right passing tests (coverage), and the manifests a
file pins are checked by ``validate``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import toy_case_file

from pytest_airecovery.cases.checks import builtin_registry
from pytest_airecovery.cases.loader import CaseFileError, load_case_file
from pytest_airecovery.cli import main
from pytest_airecovery.data.manifest import build_manifest
from pytest_airecovery.features import standalone_extensions
from pytest_airecovery.pir.casefiles import load_all
from pytest_airecovery.pir.coverage import uncovered_action_items


def _project(
    root: Path, *, covered_by: str, pins: bool = True, root_pin: str | None = "{root}"
) -> Path:
    """incident_cases/AI-IR-1.yaml with pinned toy models, a dataset and one P0 item."""
    cases = root / "incident_cases"
    (cases / "data").mkdir(parents=True, exist_ok=True)
    (cases / "data" / "train.jsonl").write_text(
        '{"text": "hello", "label": "ok"}\n{"text": "bye", "label": "ok"}\n'
    )
    summary = build_manifest(
        str(cases / "data" / "train.jsonl"),
        str(cases / "data" / "train.manifest.jsonl"),
        label_field="label",
    )
    digests = {}
    for version in ("good", "bad"):
        weights = root / f"weights-{version}.bin"
        weights.write_bytes(f"weights of toy@{version}".encode())
        digests[version] = hashlib.sha256(weights.read_bytes()).hexdigest()
    text = toy_case_file()
    if pins:
        text = text.replace(
            "models: {known_good: toy@good, known_bad: toy@bad}",
            f"models:\n  known_good: {{ref: toy@good, sha256: {digests['good']}}}\n"
            f"  known_bad: {{ref: toy@bad, sha256: {digests['bad']}}}",
        )
    text += "datasets:\n  - path: data/train.jsonl\n    manifest: data/train.manifest.jsonl\n"
    if root_pin:
        text += f"    merkle_root: {root_pin.format(root=summary.merkle_root)}\n"
    text += (
        "action_items:\n  - id: P0-1\n    priority: P0\n    text: Pin and verify hashes of the models and data\n"
        f"    covered_by: {covered_by}\n"
    )
    path = cases / "AI-IR-1.yaml"
    path.write_text(text)
    return path


def _load(path: Path):  # type: ignore[no-untyped-def]
    return load_case_file(path, shown_as=path.name, check_lookup=builtin_registry().get)


def test_covered_by_may_name_pins_and_datasets(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        covered_by='[labels, "pin:known_good", "pin:known_bad", "dataset:train", '
        '"dataset:data/train.jsonl", "dataset:train.jsonl"]',
    )
    item = _load(path).action_items[0]
    assert item.covered_by[1:3] == ("pin:known_good", "pin:known_bad")


@pytest.mark.parametrize(
    ("covered_by", "pins", "message"),
    [
        (
            '["pin:known_good"]',
            False,
            "'pin:known_good': models.known_good has no sha256 pin to verify",
        ),
        ('["pin:candidate"]', True, "'pin:candidate': a pin is pin:known_good or pin:known_bad"),
        (
            '["dataset:eval"]',
            True,
            (
                "'dataset:eval': no entry of `datasets` has that path or name "
                "(datasets: data/train.jsonl)"
            ),
        ),
        ("[labels, nolabels]", True, "no case with id 'nolabels' in this file"),
    ],
)
def test_covered_by_naming_nothing_is_an_error_on_its_line(
    tmp_path: Path, covered_by: str, pins: bool, message: str
) -> None:
    path = _project(tmp_path, covered_by=covered_by, pins=pins)
    with pytest.raises(CaseFileError) as info:
        _load(path)
    assert info.value.message == message
    assert (
        info.value.line == path.read_text().splitlines().index(f"    covered_by: {covered_by}") + 1
    )


def test_the_schema_refuses_other_shapes(tmp_path: Path) -> None:
    path = _project(tmp_path, covered_by='["has space"]')
    with pytest.raises(CaseFileError):
        _load(path)


def test_plugin_summary_counts_a_pin_only_with_a_passing_catches_test(tmp_path: Path) -> None:
    path = _project(tmp_path, covered_by='[labels, "pin:known_good", "dataset:train"]')
    loaded, errors = load_all([path], standalone_extensions())
    assert not errors
    passing = {("AI-IR-1", "labels")}
    [item] = uncovered_action_items(loaded, passing)
    assert item.reason == "not verified in this run: pin:known_good"
    assert uncovered_action_items(loaded, passing, catches_passed={("AI-IR-1", "labels")}) == []
    [item] = uncovered_action_items(loaded, set(), catches_passed={("AI-IR-1", "labels")})
    assert item.reason == "not verified in this run: labels, dataset:train"


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="incident_cases.AI-IR-1.yaml" name="labels[row-0]">{row}</testcase>
{catches}
</testsuite></testsuites>"""
CATCHES = (
    '<testcase classname="incident_cases.AI-IR-1.yaml" name="labels[catches]">{failure}</testcase>'
)


@pytest.mark.parametrize(
    ("row", "catches", "expected"),
    [
        ("", CATCHES.format(failure=""), "passing"),
        ("", "", "not run"),  # no [catches] test: the pins were not necessarily hashed
        (
            '<failure message="supply-chain check failed: toy@bad artifact ...">x</failure>',
            CATCHES.format(
                failure='<failure message="supply-chain check failed: toy@bad">x</failure>'
            ),
            "failing",
        ),
    ],
)
def test_coverage_of_a_pin_from_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, catches: str, expected: str
) -> None:
    path = _project(tmp_path, covered_by='["pin:known_bad"]')
    junit = tmp_path / "results.xml"
    junit.write_text(JUNIT.format(row=row, catches=catches))
    assert main(["coverage", str(path), "--junit", str(junit), "--format", "json"]) == 0
    [item] = json.loads(capsys.readouterr().out)["action_items"]
    assert item["status"] == expected
    status = main(["coverage", str(path), "--junit", str(junit), "--require", "P0"])
    assert status == (0 if expected == "passing" else 1)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("", "passing"),
        (
            '<failure message="data integrity check failed (AI-IR-1.yaml:16): ...">x</failure>',
            "failing",
        ),
    ],
)
def test_coverage_of_a_dataset_from_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, expected: str
) -> None:
    path = _project(tmp_path, covered_by='["dataset:train"]')
    junit = tmp_path / "results.xml"
    junit.write_text(JUNIT.format(row=row, catches=""))
    main(["coverage", str(path), "--junit", str(junit), "--format", "json"])
    assert json.loads(capsys.readouterr().out)["action_items"][0]["status"] == expected
    main(["coverage", str(path)])
    assert (
        "not run  AI-IR-1 P0-1" in capsys.readouterr().out
    )  # without results: linked, not verified


def _status_after(capsys: pytest.CaptureFixture[str], path: Path, junit: Path) -> str:
    capsys.readouterr()  # drop the in-process pytest run's output
    main(["coverage", str(path), "--junit", str(junit), "--format", "json"])
    status: str = json.loads(capsys.readouterr().out)["action_items"][0]["status"]
    return status


def test_a_real_run_verifies_the_pins_only_with_verify_catches(
    toy: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _project(
        toy.path, covered_by='[labels, "pin:known_good", "pin:known_bad", "dataset:train"]'
    )
    junit = toy.path / "results.xml"
    toy.runpytest("--incident-cases", f"--junitxml={junit}").assert_outcomes(passed=4)
    assert _status_after(capsys, path, junit) == "not run"
    toy.runpytest(
        "--incident-cases", "--incident-verify-catches", f"--junitxml={junit}"
    ).assert_outcomes(passed=5)
    assert _status_after(capsys, path, junit) == "passing"
    (toy.path / "weights-bad.bin").write_bytes(b"swapped")
    # an available model's pin is checked by every test, so all of them fail
    toy.runpytest(
        "--incident-cases", "--incident-verify-catches", f"--junitxml={junit}"
    ).assert_outcomes(failed=5)
    assert _status_after(capsys, path, junit) == "failing"


# --- validate and datasets ------------------------------------------------------------------


def _validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    status = main(["validate", *argv])
    return status, capsys.readouterr().out.splitlines()


def test_validate_accepts_a_pinned_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _project(tmp_path, covered_by="[labels]")
    status, lines = _validate(capsys, str(path))
    assert status == 0 and lines == ["1 case file(s): 0 error(s), 0 warning(s)"]
    assert _validate(capsys, "--verify-data", str(path))[0] == 0


def test_validate_warns_of_an_unpinned_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _project(tmp_path, covered_by="[labels]", root_pin=None)
    status, lines = _validate(capsys, str(path))
    assert status == 0
    line = path.read_text().splitlines().index("datasets:") + 2
    assert lines[0].startswith(
        f"{path}:{line}: warning: datasets: data/train.jsonl: no merkle_root pinned"
    )
    assert _validate(capsys, "--strict", str(path))[0] == 1


def test_validate_catches_a_root_other_than_the_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _project(tmp_path, covered_by="[labels]", root_pin="ab" * 32)
    status, lines = _validate(capsys, str(path))
    assert status == 1
    assert (
        "the case file pins " + "ab" * 32 in lines[0]
        and ": error: datasets: data/train.jsonl: manifest" in lines[0]
    )


def test_validate_catches_a_damaged_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _project(tmp_path, covered_by="[labels]")
    manifest = path.parent / "data" / "train.manifest.jsonl"
    manifest.write_text(manifest.read_text()[:-20])
    status, lines = _validate(capsys, str(path))
    assert status == 1 and "fails its integrity check: truncated" in lines[0]


def test_validate_verifies_the_data_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _project(tmp_path, covered_by="[labels]")
    with open(path.parent / "data" / "train.jsonl", "a") as handle:
        handle.write('{"text": "zxq", "label": "ok"}\n')
    assert _validate(capsys, str(path))[0] == 0  # the manifest itself is fine
    status, lines = _validate(capsys, "--verify-data", str(path))
    assert (
        status == 1
        and "error: datasets: data/train.jsonl differs from data/train.manifest.jsonl" in lines[0]
    )


def test_the_run_summary_counts_a_pin_once_the_catches_test_passed(toy: pytest.Pytester) -> None:
    _project(toy.path, covered_by='[labels, "pin:known_good", "pin:known_bad"]')
    plain = toy.runpytest("--incident-cases")
    plain.assert_outcomes(passed=4)
    plain.stdout.fnmatch_lines(
        ["*action items no passing case covers:*", "*not verified in this run: pin:known_good*"]
    )
    proved = toy.runpytest("--incident-cases", "--incident-verify-catches")
    proved.assert_outcomes(passed=5)
    assert "action items no passing case covers" not in proved.stdout.str()

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = 'pytest_plugins = ["pytest_airecovery.data.fixtures"]\n'

TESTS = """
import json
from pathlib import Path

def test_build_then_unchanged(dataset_manifest):
    summary = dataset_manifest.build("data.jsonl", "data.manifest.jsonl")
    dataset_manifest.assert_unchanged("data.jsonl", "data.manifest.jsonl",
                                      expect_root=summary.merkle_root)

def test_changed_data_fails(dataset_manifest):
    dataset_manifest.build("data.jsonl", "other.manifest.jsonl")
    Path("data.jsonl").write_text(Path("data.jsonl").read_text().replace('"text": "a"', '"text": "b"'))
    dataset_manifest.assert_unchanged("data.jsonl", "other.manifest.jsonl")

def test_wrong_pinned_root_fails(dataset_manifest):
    dataset_manifest.build("data.jsonl", "third.manifest.jsonl")
    dataset_manifest.assert_unchanged("data.jsonl", "third.manifest.jsonl", expect_root="00" * 32)

def test_missing_manifest_fails(dataset_manifest):
    dataset_manifest.assert_unchanged("data.jsonl", "nowhere.manifest.jsonl")
"""


def test_dataset_manifest_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(
        ".jsonl",
        data='{"id": "r1", "text": "a", "label": 0}\n{"id": "r2", "text": "c", "label": 1}\n',
    )
    pytester.makepyfile(test_data=TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*dataset data.jsonl differs from other.manifest.jsonl:*",
            "*1 changed: r1*",
            "*root-mismatch: merkle root * is not the pinned 0000*",
            "*cannot verify data.jsonl: *nowhere.manifest.jsonl: no such manifest file*",
        ]
    )
    # Failures are reported without a Python traceback into the kit.
    result.stdout.no_fnmatch_line("*During handling*")


def test_verify_case_dataset_resolves_against_the_case_directory(tmp_path: Path) -> None:
    from pytest_airecovery.data.fixtures import verify_case_dataset
    from pytest_airecovery.data.manifest import build_manifest

    case_dir = tmp_path / "incident_cases"
    (case_dir / "data").mkdir(parents=True)
    (case_dir / "data" / "train.jsonl").write_text('{"id": "a", "label": 1}\n')
    summary = build_manifest(
        str(case_dir / "data" / "train.jsonl"), str(case_dir / "data" / "train.manifest.jsonl")
    )
    diff = verify_case_dataset(
        case_dir, "data/train.jsonl", "data/train.manifest.jsonl", expect_root=summary.merkle_root
    )
    assert diff.identical

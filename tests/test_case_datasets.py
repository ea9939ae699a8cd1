"""A case file's `datasets`: verified against their manifests before any case of the file runs."""

from __future__ import annotations

import pytest
from conftest import model_calls, run, toy_case_file, write_case

from pytest_airecovery.data.manifest import build_manifest


def _with_dataset(pytester: pytest.Pytester, extra: str = "") -> None:
    data = pytester.path / "incident_cases" / "data"
    data.mkdir(parents=True)
    (data / "train.jsonl").write_text(
        '{"text": "hello", "label": "ok"}\n{"text": "bye", "label": "ok"}\n'
    )
    summary = build_manifest(
        str(data / "train.jsonl"), str(data / "train.manifest.jsonl"), label_field="label"
    )
    write_case(
        pytester,
        "AI-1.yaml",
        toy_case_file()
        + f"datasets:\n  - path: data/train.jsonl\n    manifest: data/train.manifest.jsonl\n{extra.format(root=summary.merkle_root)}",
    )


def test_unchanged_dataset_lets_cases_run(toy: pytest.Pytester, plugin_args: list[str]) -> None:
    _with_dataset(toy, "    merkle_root: {root}\n")
    run(toy, "--incident-cases", *plugin_args).assert_outcomes(passed=4)


def test_changed_dataset_fails_every_case_before_the_model_runs(toy: pytest.Pytester) -> None:
    _with_dataset(toy)
    model_calls(toy)
    with open(toy.path / "incident_cases" / "data" / "train.jsonl", "a") as fh:
        fh.write('{"text": "zxq you idiot", "label": "ok"}\n')
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "*data integrity check failed (AI-1.yaml:16): data/train.jsonl differs from data/train.manifest.jsonl*"
        ]
    )
    assert model_calls(toy) == []


def test_pinned_root_detects_a_rewritten_manifest(toy: pytest.Pytester) -> None:
    _with_dataset(toy, "    merkle_root: " + "a" * 64 + "\n")
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*data integrity check failed*is tampered: root-mismatch*"])


def test_missing_manifest_is_a_collection_error(toy: pytest.Pytester) -> None:
    _with_dataset(toy)
    (toy.path / "incident_cases" / "data" / "train.manifest.jsonl").unlink()
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*AI-1.yaml:17: datasets?0?.manifest: data/train.manifest.jsonl not found (paths are relative to the case file)*"
        ]
    )

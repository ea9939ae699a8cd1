"""Reports stay under the rootdir too (one path policy with inputs and recordings)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import toy_case_file, write_case


def test_a_case_report_outside_the_rootdir_is_refused_before_the_run(
    toy: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = toy.runpytest("--incident-cases", f"--incident-report={elsewhere / 'report.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--incident-report path*is outside the rootdir*--incident-allow-outside-root*"]
    )
    assert list(elsewhere.iterdir()) == []


def test_a_report_through_a_symlinked_folder_is_refused(
    toy: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, toy.path / "out")
    result = toy.runpytest("--incident-cases", "--incident-report=out/report.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert list(elsewhere.iterdir()) == []


def test_the_flag_allows_a_report_outside(
    toy: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    target = tmp_path_factory.mktemp("elsewhere") / "report.json"
    result = toy.runpytest(
        "--incident-cases", f"--incident-report={target}", "--incident-allow-outside-root"
    )
    assert result.ret == pytest.ExitCode.OK
    assert json.loads(target.read_text(encoding="utf-8"))


def test_a_gate_decision_outside_the_rootdir_is_refused(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (pytester.path / "x.json").write_text("{}", encoding="utf-8")
    result = pytester.runpytest(
        "--incident-gate=canary",
        "--incident-metrics=x.json",
        f"--incident-gate-decision={elsewhere / 'decision'}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--incident-gate-decision path*is outside the rootdir*"])
    assert list(elsewhere.iterdir()) == []

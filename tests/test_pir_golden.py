"""Golden PIRs of several shapes: their expected skeletons and lint findings.

``tests/golden/pir/<name>.md`` is the input; ``<name>.skeleton`` the expected ``new-case`` output
(absent when new-case must refuse the PIR) and ``<name>.lint.txt`` the expected ``lint-pir``
output. The expected files are not named ``.yaml`` so that a ``pytest --incident-cases tests``
run never collects them as case files. Regenerate with ``PIR_GOLDEN_REGEN=1`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pytest_airecovery.cases.loader import load_case_file
from pytest_airecovery.checks import builtin_registry
from pytest_airecovery.cli import main
from pytest_airecovery.pir.model import parse_pir
from pytest_airecovery.pir.scaffold import render, skeleton

GOLDEN = Path(__file__).parent / "golden" / "pir"
NAMES = sorted(p.stem for p in GOLDEN.glob("*.md"))
REGEN = os.environ.get("PIR_GOLDEN_REGEN") == "1"
REFUSED = {"missing-sections", "problems"}  # new-case must exit 2 on these


def _compare(path: Path, actual: str) -> None:
    if REGEN:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with PIR_GOLDEN_REGEN=1 and review it"
    assert actual == path.read_text(encoding="utf-8")


def test_the_golden_set_has_several_shapes() -> None:
    assert len(NAMES) >= 6
    assert REFUSED <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_lint_output(name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    status = main(["lint-pir", f"{name}.md"])
    out = capsys.readouterr().out
    _compare(GOLDEN / f"{name}.lint.txt", f"exit {status}\n{out}")


@pytest.mark.parametrize("name", [n for n in NAMES if n not in REFUSED])
def test_skeleton(name: str, tmp_path: Path) -> None:
    pir = parse_pir(GOLDEN / f"{name}.md", f"{name}.md")
    text = render(pir, f"../golden/pir/{name}.md")
    _compare(GOLDEN / f"{name}.skeleton", text)
    data, _ = skeleton(pir, f"../golden/pir/{name}.md")
    assert yaml.safe_load(text) == data  # the comments never change a value
    case_path = tmp_path / f"{name}.yaml"
    case_path.write_text(text, encoding="utf-8")
    loaded = load_case_file(case_path, shown_as=case_path.name, check_lookup=builtin_registry().get)
    assert loaded.incident.id == pir.incident_id.value  # type: ignore[union-attr]
    assert [item.id for item in loaded.action_items] == [item.id for item in pir.action_items]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_new_case_refuses_incomplete_pirs(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["new-case", "--from-pir", str(GOLDEN / f"{name}.md"), "-o", str(tmp_path / "out")])
    assert status == 2
    assert "nothing written" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

"""`airecovery validate` on a corpus of broken case files: each one named with its line."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest
from conftest import toy_case_file

from pytest_airecovery.cli import main

GOOD = toy_case_file("AI-IR-1")

# name -> (bytes, the line `validate` must print for it)
CORPUS: dict[str, tuple[bytes, str]] = {
    "empty.yaml": (b"", "empty.yaml:1: error: the file is empty"),
    "tabs.yaml": (
        GOOD.replace("  title", "\ttitle").encode(),
        "tabs.yaml:4: error: invalid YAML: found a tab character*",
    ),
    "not-utf8.yaml": (
        GOOD.encode().replace(b"toy incident", b"toy \xff"),
        "not-utf8.yaml:4: error: file is not valid UTF-8*",
    ),
    "truncated.yaml": (
        GOOD[: GOOD.index("inputs") + 12].encode(),
        "truncated.yaml:11: error: invalid YAML: *",
    ),
    "syntax.json": (
        b'{\n "schema_version": 1,\n "incident": {,}\n}\n',
        "syntax.json:3: error: invalid JSON: *",
    ),
    "top-list.yaml": (
        b"- 1\n- 2\n",
        "top-list.yaml:1: error: expected a mapping at the top level, got list",
    ),
    "dupe.yaml": (
        GOOD.replace("  title: toy incident\n", "  title: toy incident\n  title: x\n").encode(),
        "dupe.yaml:5: error: incident.title: duplicate key 'title'",
    ),
    "schema.yaml": (
        GOOD.replace("SEV-2", "SEV-9").encode(),
        "schema.yaml:5: error: incident.severity: 'SEV-9' is not one of*",
    ),
    "deep.json": (
        b'{\n"schema_version": 1,\n"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        "deep.json:3: error: mappings and lists nested more than 64 levels deep*",
    ),
    "deep.yaml": (
        ("x:\n" + "".join("  " * i + "- \n" for i in range(1, 80))).encode(),
        "deep.yaml:*: error: *nested more than 64 levels deep*",
    ),
    "bad-date.yaml": (
        GOOD.replace("  title:", "  detected_at: 2026-13-45T99:99:99Z\n  title:").encode(),
        "bad-date.yaml:4: error: incident.detected_at: '2026-13-45T99:99:99Z' is not a valid date and time*",
    ),
    "newline-id.yaml": (
        GOOD.replace("id: AI-IR-1", 'id: "AI-IR-1\\n"').encode(),
        "newline-id.yaml:3: error: incident.id: 'AI-IR-1\\n' spans several lines*",
    ),
    "bomb.yaml": (
        (
            GOOD
            + 'x: &a "'
            + "A" * 100_000
            + '"\ny: &b ['
            + ", ".join(["*a"] * 100)
            + "]\nz: ["
            + ", ".join(["*b"] * 1000)
            + "]\n"
        ).encode(),
        "bomb.yaml:15: error: *YAML aliases expand to more than*",
    ),
}


def test_validate_names_every_broken_file_with_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (content, _) in CORPUS.items():
        (tmp_path / name).write_bytes(content)
    status = main(["validate", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 1, out + err  # problems found: exit 1, as docs/pir-to-case.md says
    lines = out.splitlines()
    for name, (_, expected) in CORPUS.items():
        matching = [line for line in lines if line.startswith(str(tmp_path / name) + ":")]
        assert len(matching) == 1, (name, out)
        assert fnmatch(matching[0], f"*{expected}"), (matching[0], expected)
    assert f"{len(CORPUS)} case file(s): {len(CORPUS)} error(s)" in out
    assert "Traceback" not in out + err

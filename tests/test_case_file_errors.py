"""Bad case files: a collection error naming file, line and field; every other file still runs."""

from __future__ import annotations

import pytest
from conftest import run, toy_case_file, write_case

GOOD = toy_case_file("AI-IR-OK")


def literal(pattern: str) -> str:
    """fnmatch pattern where [ and ] are literal (field paths like cases[0]); * stays a wildcard."""
    return pattern.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]")


def _collect_error(
    pytester: pytest.Pytester, name: str, content: str | bytes, *args: str
) -> pytest.RunResult:
    write_case(pytester, "AI-OK.yaml", GOOD)
    path = pytester.path / "incident_cases" / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = run(pytester, "--incident-cases", *args)
    # The good file's four tests still ran; the bad file is one collection error.
    result.assert_outcomes(passed=4, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    return result


BROKEN_CASES = {
    "invalid-yaml": (
        "schema_version: 1\nincident: [unclosed\n",
        "*bad.yaml:3: invalid YAML: *",
    ),
    "schema-severity": (
        GOOD.replace("SEV-2", "SEV-9"),
        "*bad.yaml:5: incident.severity: 'SEV-9' is not one of ['SEV-1', 'SEV-2', 'SEV-3', 'SEV-4']*",
    ),
    "schema-missing-field": (
        GOOD.replace("  title: toy incident\n", ""),
        "*bad.yaml:2: incident: 'title' is a required property*",
    ),
    "schema-unknown-key": (
        GOOD.replace("cases:", "extra: 1\ncases:"),
        "*bad.yaml:*: (top level): Additional properties are not allowed ('extra' was unexpected)*",
    ),
    "unknown-check": (
        GOOD.replace("- not_label: 7", "- lable: 7"),
        "*bad.yaml:12: cases[0].expect[0].lable: unknown check 'lable'*",
    ),
    "wrong-kind-check": (
        GOOD.replace("- not_label: 7", "- accuracy: {min: 0.9}"),
        "*bad.yaml:12: cases[0].expect[0].accuracy: 'accuracy' is an aggregate check: put it under `expect_aggregate`*",
    ),
    "duplicate-case-id": (
        GOOD + "  - id: labels\n    input: 1\n    expect: [{label: 1}]\n",
        "*bad.yaml:15: cases[1].id: duplicate case id 'labels' (first at line 9)*",
    ),
    "duplicate-key": (
        GOOD.replace("  title: toy incident\n", "  title: toy incident\n  title: again\n"),
        "*bad.yaml:5: incident.title: duplicate key 'title'*",
    ),
    "missing-input-file": (
        GOOD.replace("inputs: [1, 2, 3]", "inputs: {file: data/missing.npz, key: x}"),
        "*bad.yaml:10: cases[0].inputs.file: input file data/missing.npz not found*",
    ),
    "missing-column": (
        GOOD.replace("- not_label: 7", "- label_from: expected"),
        "*bad.yaml:12: cases[0].expect[0].label_from: column 'expected' not found in inline inputs (columns: none)*",
    ),
    "python-object-tag": (
        GOOD.replace(
            "title: toy incident", "title: !!python/object/apply:os.system ['touch pwned']"
        ),
        "*bad.yaml:4: incident.title: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'*",
    ),
    "custom-tag": (
        GOOD.replace("title: toy incident", "title: !env TITLE"),
        "*bad.yaml:4: incident.title: unsupported YAML tag '!env'*",
    ),
    "alias-bomb": (
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
            "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
            "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
            "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
        ),
        "*bad.yaml:*: YAML aliases expand to more than 100000 nodes (an alias bomb?)*",
    ),
    "top-level-list": ("- 1\n- 2\n", "*bad.yaml:1: expected a mapping at the top level, got list*"),
    "empty": ("", "*bad.yaml:1: the file is empty*"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_CASES))
def test_broken_case_file_is_a_collection_error_for_that_file_only(
    toy: pytest.Pytester, kind: str
) -> None:
    content, expected = BROKEN_CASES[kind]
    result = _collect_error(toy, "bad.yaml", content)
    result.stdout.fnmatch_lines([literal(expected)])
    assert not (toy.path / "pwned").exists()


def test_non_utf8_file_names_the_line(toy: pytest.Pytester) -> None:
    content = GOOD.encode("utf-8").replace(b"toy incident", b"toy \xff incident")
    result = _collect_error(toy, "bad.yaml", content)
    result.stdout.fnmatch_lines(["*bad.yaml:4: file is not valid UTF-8 (byte 0xff at offset *)*"])


def test_invalid_json_names_the_line(toy: pytest.Pytester) -> None:
    result = _collect_error(toy, "bad.json", '{\n  "schema_version": 1,\n  "incident": {,}\n}\n')
    result.stdout.fnmatch_lines(["*bad.json:3: invalid JSON: *"])


def test_json_schema_error_has_the_json_line(toy: pytest.Pytester) -> None:
    import json

    import yaml

    data = yaml.safe_load(GOOD)
    data["incident"]["severity"] = "critical"
    result = _collect_error(toy, "bad.json", json.dumps(data, indent=2))
    result.stdout.fnmatch_lines(["*bad.json:6: incident.severity: 'critical' is not one of*"])


def test_broken_files_do_not_stop_the_run_under_xdist(toy: pytest.Pytester) -> None:
    content, expected = BROKEN_CASES["unknown-check"]
    result = _collect_error(toy, "bad.yaml", content, "-n", "2")
    result.stdout.fnmatch_lines([literal(expected)])


def test_python_collection_errors_keep_stopping_the_run(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-OK.yaml", GOOD)
    write_case(toy, "bad.yaml", BROKEN_CASES["unknown-check"][0])
    toy.makepyfile(test_broken="import nonexistent_module_xyz\n")
    result = toy.runpytest("--incident-cases", "incident_cases", "test_broken.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*Interrupted: 2 errors during collection*"])


def test_npz_and_jsonl_inputs_with_columns(toy: pytest.Pytester) -> None:
    import json

    import numpy as np

    data = toy.path / "incident_cases" / "inputs"
    data.mkdir()
    np.savez(
        data / "rows.npz",
        x=np.array([1, 2, 3, 4]),
        want=np.array([1, 2, 3, 4]),
        short=np.array([1]),
    )
    (data / "rows.jsonl").write_text(
        "".join(json.dumps({"value": v, "want": v % 10}) + "\n" for v in (11, 12))
    )
    write_case(
        toy,
        "AI-1.yaml",
        toy_case_file(inputs="{file: inputs/rows.npz, key: x, limit: 3}").replace(
            "- not_label: 7", "- label_from: want"
        )
        + "  - id: lines\n    inputs: {file: inputs/rows.jsonl, field: value}\n    expect: [{label: {from: want}}]\n",
    )
    result = toy.runpytest("--incident-cases", "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["*AI-1.yaml::labels?row-2? PASSED*", "*AI-1.yaml::lines?row-1? PASSED*"]
    )


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            "{file: inputs/rows.npz, key: nope}",
            "*cases[0].inputs.key: inputs/rows.npz has no array 'nope' (it has x, y)*",
        ),
        (
            "{file: inputs/rows.npz}",
            "*cases[0].inputs.key: inputs/rows.npz holds several arrays (x, y): name one with `key`*",
        ),
        (
            "{file: inputs/rows.jsonl, field: text}",
            "*cases[0].inputs.field: inputs/rows.jsonl:2: record has no field 'text'*",
        ),
        (
            "{file: inputs/broken.jsonl}",
            "*cases[0].inputs.file: inputs/broken.jsonl:1: not a JSON line*",
        ),
        (
            "{file: inputs/rows.npz, key: x, field: a}",
            "*cases[0].inputs.field: `field` is for .jsonl files*",
        ),
    ],
)
def test_bad_input_files_are_collection_errors(
    toy: pytest.Pytester, inputs: str, expected: str
) -> None:
    import numpy as np

    data = toy.path / "incident_cases" / "inputs"
    data.mkdir()
    np.savez(data / "rows.npz", x=np.arange(3), y=np.arange(3))
    (data / "rows.jsonl").write_text('{"text": "a"}\n{"other": 1}\n')
    (data / "broken.jsonl").write_text("{not json\n")
    result = _collect_error(toy, "bad.yaml", toy_case_file(inputs=inputs))
    result.stdout.fnmatch_lines([literal(expected)])

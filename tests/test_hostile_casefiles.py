"""Hostile and broken case files and case inputs: a table of probes, one row per probe.

Every probe runs `pytest --incident-cases` on a good case file plus one bad file, and must give a
collection error for the bad file alone (the good file's four tests still pass), naming the file
and line, with no traceback of ours, exit status 1, and nothing written outside the test's
directory. Memory and effort are bounded by counting bytes (tracemalloc peaks, bytes read), never
by timing.

To add a probe: write a builder that puts the bad file (and any input files) into the case
directory and returns the case file's bytes, then add a row to PROBES.
"""

from __future__ import annotations

import json
import os
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import run, toy_case_file, write_case
from test_case_file_errors import literal

GOOD = toy_case_file("AI-IR-OK")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Probe:
    file: str  # the bad case file's name in incident_cases/
    build: Callable[
        [Path], bytes
    ]  # writes any input files into the case dir; returns the case file
    expected: str  # fnmatch pattern of the error line: file:line: field: message
    ini: str = ""  # extra ini settings (a lowered limit keeps a probe small)


def _with_inputs(spec: str) -> bytes:
    return toy_case_file(inputs=spec).encode()


def _long_scalar_bomb(_: Path) -> bytes:
    # One 100 kB scalar, re-used 10^6 times through three levels of aliases: ~100 GB of text when
    # expanded, though it stays far under the 100000-node alias budget.
    text = GOOD + 'x: &a "' + "A" * 100_000 + '"\n'
    text += "y: &b [" + ", ".join(["*a"] * 100) + "]\n"
    text += "z: &c [" + ", ".join(["*b"] * 100) + "]\n"
    text += "w: [" + ", ".join(["*c"] * 100) + "]\n"
    return text.encode()


def _padded(_: Path) -> bytes:
    return (GOOD + "# " + "x" * 3000 + "\n").encode()


def _deep_yaml(_: Path) -> bytes:
    return GOOD.replace(
        "inputs: [1, 2, 3]", "inputs: [" + "[" * 200 + "1" + "]" * 200 + "]"
    ).encode()


def _deep_json(_: Path) -> bytes:
    return b'{\n"schema_version": 1,\n"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"\n}\n"


def _npz_member(name: str, header: dict[str, object], data: bytes) -> tuple[str, bytes]:
    """An .npy member with a header of our choosing (numpy would never write a lying one)."""
    import io

    from numpy.lib import format as npy_format

    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, header)
    return name + ".npy", buffer.getvalue() + data


def _write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in members:
            archive.writestr(name, body)


def _zip_bomb(case_dir: Path) -> bytes:
    # 64 MiB of zeros compress to ~64 kB: refused by its declared size, never decompressed.
    path = case_dir / "inputs" / "bomb.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"descr": "|u1", "fortran_order": False, "shape": (64 * MIB,)}
    name, head = _npz_member("x", header, b"")
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        member.write(head)
        chunk = bytes(MIB)
        for _ in range(64):
            member.write(chunk)
    return _with_inputs("{file: inputs/bomb.npz, key: x}")


def _lying_header_huge(case_dir: Path) -> bytes:
    # The header claims 10^10 int64 values (80 GB); the member holds three.
    header = {"descr": "<i8", "fortran_order": False, "shape": (10**10,)}
    _write_zip(case_dir / "inputs" / "liar.npz", [_npz_member("x", header, bytes(24))])
    return _with_inputs("{file: inputs/liar.npz, key: x}")


def _lying_header_small(case_dir: Path) -> bytes:
    # Under the limit, but the header claims 1000 rows of a member that holds three.
    header = {"descr": "<i8", "fortran_order": False, "shape": (1000,)}
    _write_zip(case_dir / "inputs" / "liar.npz", [_npz_member("x", header, bytes(24))])
    return _with_inputs("{file: inputs/liar.npz, key: x}")


def _truncated_npz(case_dir: Path) -> bytes:
    import numpy as np

    path = case_dir / "inputs" / "cut.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=np.arange(100))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return _with_inputs("{file: inputs/cut.npz, key: x}")


def _object_npz(case_dir: Path) -> bytes:
    header = {"descr": "|O", "fortran_order": False, "shape": (3,)}
    _write_zip(case_dir / "inputs" / "objects.npz", [_npz_member("x", header, b"\x80\x04N.")])
    return _with_inputs("{file: inputs/objects.npz, key: x}")


def _deep_jsonl(case_dir: Path) -> bytes:
    path = case_dir / "inputs" / "deep.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"v": 1}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    return _with_inputs("{file: inputs/deep.jsonl}")


def _big_jsonl(case_dir: Path) -> bytes:
    path = case_dir / "inputs" / "big.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"v": i, "pad": "x" * 100}) + "\n" for i in range(100)))
    return _with_inputs("{file: inputs/big.jsonl}")


def _input_outside(case_dir: Path) -> bytes:
    outside = case_dir.parent.parent / "outside.jsonl"
    outside.write_text('{"v": 1}\n')
    return _with_inputs("{file: ../../outside.jsonl}")


def _input_symlink_outside(case_dir: Path) -> bytes:
    outside = case_dir.parent.parent / "secret.jsonl"
    outside.write_text('{"v": 1}\n')
    (case_dir / "inputs").mkdir(exist_ok=True)
    (case_dir / "inputs" / "data.jsonl").symlink_to(outside)
    return _with_inputs("{file: inputs/data.jsonl}")


def _input_self_loop(case_dir: Path) -> bytes:
    (case_dir / "inputs").mkdir(exist_ok=True)
    link = case_dir / "inputs" / "loop.jsonl"
    link.symlink_to(link.name)
    return _with_inputs("{file: inputs/loop.jsonl}")


def _text(content: str) -> Callable[[Path], bytes]:
    return lambda _: content.encode()


PROBES: dict[str, Probe] = {
    "alias-bomb-one-long-scalar": Probe(
        "bad.yaml",
        _long_scalar_bomb,
        "*bad.yaml:15: z[*]: YAML aliases expand to more than 16777216 bytes of text (an alias bomb?)*",
    ),
    "case-file-too-large": Probe(
        "bad.yaml",
        _padded,
        "*bad.yaml:1: the file is larger than 2000 bytes (raise the ini setting incident_max_case_file_bytes*",
        ini="incident_max_case_file_bytes = 2000",
    ),
    "deep-yaml-nesting": Probe(
        "bad.yaml",
        _deep_yaml,
        "*bad.yaml:10: cases[0].inputs*: mappings and lists nested more than 64 levels deep*",
    ),
    "deep-json-nesting": Probe(
        "bad.json",
        _deep_json,
        "*bad.json:3: mappings and lists nested more than 64 levels deep*",
    ),
    "id-with-newline": Probe(
        "bad.yaml",
        _text(GOOD.replace("id: AI-IR-OK", 'id: "AI-IR-OK\\n"')),
        "*bad.yaml:3: incident.id: 'AI-IR-OK\\n' spans several lines; identifiers are a single line*",
    ),
    "case-id-with-newline": Probe(
        "bad.yaml",
        _text(GOOD.replace("- id: labels", '- id: "labels\\n"')),
        "*bad.yaml:9: cases[0].id: 'labels\\n' spans several lines*",
    ),
    "impossible-timestamp": Probe(
        "bad.yaml",
        _text(GOOD.replace("  title:", "  detected_at: 2026-13-45T99:99:99Z\n  title:")),
        "*bad.yaml:4: incident.detected_at: '2026-13-45T99:99:99Z' is not a valid date and time*",
    ),
    "impossible-resolved-at": Probe(
        "bad.yaml",
        _text(GOOD.replace("  title:", "  resolved_at: 2026-02-30\n  title:")),
        "*bad.yaml:4: incident.resolved_at: '2026-02-30' is not a valid date and time*",
    ),
    "npz-zip-bomb": Probe(
        "bad.yaml",
        _zip_bomb,
        "*bad.yaml:10: cases[0].inputs.file: inputs/bomb.npz: array 'x' declares 67108864 bytes*"
        "more than the limit of 1048576*",
        ini="incident_max_input_bytes = 1048576",
    ),
    "npz-header-claims-80-GB": Probe(
        "bad.yaml",
        _lying_header_huge,
        "*bad.yaml:10: cases[0].inputs.file: inputs/liar.npz: array 'x' declares 80000000000 bytes*"
        "more than the limit of 536870912*",
    ),
    "npz-header-claims-more-than-held": Probe(
        "bad.yaml",
        _lying_header_small,
        "*bad.yaml:10: cases[0].inputs.file: inputs/liar.npz: array 'x' declares 8000 bytes of data*"
        "but its member holds 24: the file is damaged or its header lies*",
    ),
    "npz-truncated": Probe(
        "bad.yaml",
        _truncated_npz,
        "*bad.yaml:10: cases[0].inputs.file: inputs/cut.npz is not a readable .npz file*",
    ),
    "npz-object-array": Probe(
        "bad.yaml",
        _object_npz,
        "*bad.yaml:10: cases[0].inputs.file: inputs/objects.npz: array 'x' holds Python objects*",
    ),
    "jsonl-deep-nesting": Probe(
        "bad.yaml",
        _deep_jsonl,
        "*bad.yaml:10: cases[0].inputs.file: inputs/deep.jsonl:2: JSON nested too deeply*",
    ),
    "jsonl-too-large": Probe(
        "bad.yaml",
        _big_jsonl,
        "*bad.yaml:10: cases[0].inputs.file: inputs/big.jsonl:*: the file is larger than 4000 bytes*",
        ini="incident_max_input_bytes = 4000",
    ),
    "input-outside-rootdir": Probe(
        "bad.yaml",
        _input_outside,
        "*bad.yaml:10: cases[0].inputs.file: input file ../../outside.jsonl (really *) is outside the rootdir*"
        "--incident-allow-outside-root*",
    ),
    "input-symlink-outside-rootdir": Probe(
        "bad.yaml",
        _input_symlink_outside,
        "*bad.yaml:10: cases[0].inputs.file: input file inputs/data.jsonl (really */secret.jsonl) is outside the rootdir*",
    ),
    "input-symlink-to-itself": Probe(
        "bad.yaml",
        _input_self_loop,
        "*bad.yaml:10: cases[0].inputs.file: input file inputs/loop.jsonl cannot be resolved: a symlink loop*",
    ),
}


def _files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*")}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_hostile_case_file_is_one_named_collection_error(toy: pytest.Pytester, name: str) -> None:
    probe = PROBES[name]
    if probe.ini:
        (toy.path / "tox.ini").write_text(
            (toy.path / "tox.ini").read_text() + "\n" + probe.ini + "\n"
        )
    write_case(toy, "AI-OK.yaml", GOOD)
    case_dir = toy.path / "incident_cases"
    (case_dir / probe.file).write_bytes(probe.build(case_dir))
    outside = toy.path.parent
    before = _files_under(outside) - _files_under(toy.path)
    result = toy.runpytest("--incident-cases", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([literal(probe.expected)])
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert _files_under(outside) - _files_under(toy.path) == before  # nothing written outside


def test_a_probe_under_xdist_is_the_same_collection_error(toy: pytest.Pytester) -> None:
    probe = PROBES["alias-bomb-one-long-scalar"]
    write_case(toy, "AI-OK.yaml", GOOD)
    case_dir = toy.path / "incident_cases"
    (case_dir / probe.file).write_bytes(probe.build(case_dir))
    result = run(toy, "--incident-cases", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines([literal(probe.expected)])


def test_inputs_outside_the_rootdir_run_when_allowed(toy: pytest.Pytester) -> None:
    case_dir = toy.path / "incident_cases"
    case_dir.mkdir(exist_ok=True)
    (case_dir / "far.yaml").write_bytes(
        _input_outside(case_dir)
        .replace(b"AI-IR-1", b"AI-IR-FAR")
        .replace(b".jsonl}", b".jsonl, field: v}")
    )
    result = toy.runpytest(
        "--incident-cases", "--incident-allow-outside-root", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)  # one input row and the aggregate
    (toy.path / "tox.ini").write_text(
        (toy.path / "tox.ini").read_text() + "\nincident_allow_outside_root = true\n"
    )
    toy.runpytest("--incident-cases", "-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_an_unparsable_limit_setting_is_a_usage_error(toy: pytest.Pytester) -> None:
    (toy.path / "tox.ini").write_text(
        (toy.path / "tox.ini").read_text() + "\nincident_max_nesting = lots\n"
    )
    write_case(toy, "AI-OK.yaml", GOOD)
    result = toy.runpytest("--incident-cases")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*incident_max_nesting: expected a positive whole number*'lots'*"])


# --- bounded memory, counted in bytes ------------------------------------------------------------


def _peak_bytes(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
    except Exception:  # noqa: BLE001, S110 - each probe is expected to fail; we measure what it cost
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def test_long_scalar_alias_bomb_stops_within_its_byte_budget(tmp_path: Path) -> None:
    from pytest_airecovery.cases.limits import Limits
    from pytest_airecovery.cases.yamlpos import LoadError, load_yaml

    text = _long_scalar_bomb(tmp_path).decode()
    with pytest.raises(LoadError, match="more than 1000000 bytes of text"):
        load_yaml(text, Limits(alias_bytes=1_000_000))
    # ~100 GB if expanded; the budget stops it after about one copy's worth.
    assert _peak_bytes(lambda: load_yaml(text, Limits(alias_bytes=1_000_000))) < 64 * MIB


def test_alias_keys_count_against_the_byte_budget() -> None:
    from pytest_airecovery.cases.limits import Limits
    from pytest_airecovery.cases.yamlpos import LoadError, load_yaml

    key = "k" * 1000  # YAML's longest implicit key is 1024 characters
    text = f"a: &a {{{key}: 1}}\nb: [" + ", ".join(["*a"] * 2000) + "]\n"
    with pytest.raises(LoadError, match="bytes of text"):
        load_yaml(text, Limits(alias_bytes=1_000_000))


def test_npz_bombs_are_refused_from_their_headers(tmp_path: Path) -> None:
    from pytest_airecovery.cases.sources import NpzSource
    from pytest_airecovery.cases.yamlpos import LoadError

    _lying_header_huge(tmp_path)
    liar = tmp_path / "inputs" / "liar.npz"
    with pytest.raises(LoadError, match="declares 80000000000 bytes"):
        NpzSource(liar, "x", None, "liar.npz")
    assert _peak_bytes(lambda: NpzSource(liar, "x", None, "liar.npz")) < 4 * MIB
    _zip_bomb(tmp_path)
    bomb = tmp_path / "inputs" / "bomb.npz"
    with pytest.raises(LoadError, match="more than the limit of 1048576"):
        NpzSource(bomb, "x", None, "bomb.npz", max_bytes=MIB)
    assert _peak_bytes(lambda: NpzSource(bomb, "x", None, "bomb.npz", max_bytes=MIB)) < 4 * MIB


def test_npz_damaged_after_collection_is_a_named_error_when_rows_are_read(tmp_path: Path) -> None:
    import numpy as np

    from pytest_airecovery.cases.sources import InputFileError, NpzSource

    path = tmp_path / "rows.npz"
    np.savez(path, x=np.arange(1000))
    source = NpzSource(path, "x", None, "rows.npz")
    raw = bytearray(path.read_bytes())
    raw[200:260] = bytes(60)  # corrupt the stored data (CRC mismatch) keeping the directory
    path.write_bytes(bytes(raw))
    with pytest.raises(InputFileError, match=r"rows\.npz: array 'x' cannot be read"):
        source.value(0)


def test_case_file_reads_stop_at_the_size_limit(tmp_path: Path) -> None:
    from pytest_airecovery.cases.limits import Limits
    from pytest_airecovery.cases.loader import CaseFileError, parse_and_validate

    endless = tmp_path / "endless.yaml"
    endless.symlink_to("/dev/zero")  # a read_bytes() here would never return
    with pytest.raises(CaseFileError, match="larger than 65536 bytes"):
        parse_and_validate(endless, "endless.yaml", limits=Limits(case_file_bytes=65536))
    assert (
        _peak_bytes(lambda: parse_and_validate(endless, "x", limits=Limits(case_file_bytes=65536)))
        < MIB
    )


# --- symlinks under incident_cases/ ----------------------------------------------------------------


def _symlink_tree(toy: pytest.Pytester) -> Path:
    case_dir = toy.path / "incident_cases"
    write_case(toy, "sub/AI-OK.yaml", GOOD)
    os.symlink("..", case_dir / "sub" / "up")  # a loop back to the root
    os.symlink("../sub", case_dir / "sub" / "again")  # a loop to itself
    os.symlink("self.yaml", case_dir / "self.yaml")  # a file that references itself
    os.symlink("sub/AI-OK.yaml", case_dir / "alias.yaml")  # a second route to one file
    return case_dir


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_symlink_loops_collect_each_real_file_once(toy: pytest.Pytester, args: list[str]) -> None:
    _symlink_tree(toy)
    # A subprocess with a generous timeout: before the fix this walk never ended.
    result = toy.runpytest_subprocess(
        "--incident-cases", "-p", "no:cacheprovider", *args, timeout=300
    )
    result.assert_outcomes(passed=4)  # the one real file, once: not 164 times
    result.stdout.fnmatch_lines_random(
        [
            "*incident_cases/self.yaml: case file link cannot be followed (a symlink loop); not collected*",
            "*incident_cases/sub/up: symlink loop (it points to *incident_cases, which contains it); skipped*",
            "*incident_cases/sub/again: symlink loop (it points to *incident_cases/sub, which contains it); skipped*",
            "*incident_cases/alias.yaml: symlink to *sub/AI-OK.yaml, which is collected under its own name; skipped*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_case_directory_linked_from_outside_the_rootdir_is_refused(
    toy: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "AI-FAR.yaml").write_text(toy_case_file("AI-IR-FAR"))
    write_case(toy, "AI-OK.yaml", GOOD)
    os.symlink(elsewhere, toy.path / "incident_cases" / "far")
    result = toy.runpytest("--incident-cases", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*incident_cases/far: case path * is outside the rootdir*; skipped*"]
    )
    allowed = toy.runpytest(
        "--incident-cases", "--incident-allow-outside-root", "-p", "no:cacheprovider"
    )
    allowed.assert_outcomes(passed=8)

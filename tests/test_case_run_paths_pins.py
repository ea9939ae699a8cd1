"""Candidate pins and paths of a case run (issue 11, items 4 and 5)."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import model_calls, run, toy_case_file, write_case
from hypothesis import given
from hypothesis import strategies as st

GOOD_BYTES = b"candidate weights as released"


def _pinned_toy(toy: pytest.Pytester) -> str:
    (toy.path / "weights-good.bin").write_bytes(GOOD_BYTES)
    write_case(toy, "AI-1.yaml", toy_case_file())
    return hashlib.sha256(GOOD_BYTES).hexdigest()


@pytest.mark.parametrize("where", ["ini", "option"])
def test_candidate_pin_mismatch_fails_before_any_model_call(
    toy: pytest.Pytester, where: str
) -> None:
    _pinned_toy(toy)
    pin = "toy@good=sha256:" + "b" * 64
    if where == "ini":
        toy.makeini(f"[pytest]\nincident_candidates = {pin}\n")
        result = toy.runpytest("--incident-cases")
    else:
        result = toy.runpytest("--incident-cases", "--incident-model", pin)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "*supply-chain check failed: toy@good artifact weights-good.bin has sha256 *, the candidate pin*pins bbbb*"
        ]
    )
    assert model_calls(toy) == []


def test_candidate_pin_that_matches_runs_the_cases(
    toy: pytest.Pytester, plugin_args: list[str]
) -> None:
    digest = _pinned_toy(toy)
    toy.makeini(f"[pytest]\nincident_candidates = toy@good=sha256:{digest.upper()}\n")
    result = run(toy, "--incident-cases", *plugin_args)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*model toy@good"])


def test_candidate_pin_on_a_model_with_nothing_to_hash_gives_advice(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("--incident-cases", "--incident-model", "toy@good=sha256:" + "c" * 64)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*gave no artifact to hash: pass artifact=*fingerprint='sha256:*"])


def test_served_model_is_pinned_by_a_sha256_fingerprint(toy: pytest.Pytester) -> None:
    toy.makeconftest(
        """
        from pytest_airecovery import Model
        def pytest_airecovery_load_model(ref, config):
            return Model(lambda b: [{"label": x % 10} for x in b], fingerprint="sha256:" + "d" * 64)
        """
    )
    write_case(toy, "AI-1.yaml", toy_case_file().replace(", known_bad: toy@bad", ""))
    toy.runpytest(
        "--incident-cases", "--incident-model", "toy@good=sha256:" + "d" * 64
    ).assert_outcomes(passed=4)
    result = toy.runpytest("--incident-cases", "--incident-model", "toy@good=sha256:" + "e" * 64)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ["*toy@good declared fingerprint has sha256 dddd*, the candidate pin*"]
    )


@pytest.mark.parametrize(
    "value",
    ["toy@good=sha256:abc", "toy@good=deadbeef", "toy@good=sha256:" + "g" * 64],
)
def test_malformed_candidate_pin_is_a_usage_error(toy: pytest.Pytester, value: str) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("--incident-cases", "--incident-model", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--incident-model:*sha256*"])
    toy.makeini(f"[pytest]\nincident_candidates = {value}\n")
    result = toy.runpytest("--incident-cases")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*incident_candidates:*sha256*"])


def test_default_case_path_resolves_against_the_rootdir(
    toy: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    monkeypatch.chdir(toy.mkdir("tests"))  # cd tests && pytest --incident-cases
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(passed=4)


def test_report_paths_are_relative_to_the_rootdir(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest(
        "--incident-cases", "--incident-record-all", "--incident-report=out/report.json"
    )
    result.assert_outcomes(passed=5)
    report = json.loads((toy.path / "out" / "report.json").read_text())
    text = json.dumps(report)
    assert str(toy.path) not in text
    recording = report["incidents"]["AI-IR-1"]["recordings"]["labels"]["path"]
    assert recording == "incident_cases/recordings/AI-1/labels.jsonl"


@pytest.mark.parametrize("form", ["spaced", "equals"])
def test_path_options_outside_the_project_keep_the_settings(
    pytester: pytest.Pytester,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    form: str,
) -> None:
    from conftest import TOY_CONFTEST, TOY_INI

    project = pytester.mkdir("project")
    (project / "conftest.py").write_text(TOY_CONFTEST)
    (project / "pytest.ini").write_text(TOY_INI)
    (project / "incident_cases").mkdir()
    (project / "incident_cases" / "AI-1.yaml").write_text(toy_case_file())
    outside = tmp_path_factory.mktemp("reports")
    target = outside / "report.json"
    target.write_text("{}")  # an existing file: the case that moved pytest's rootdir
    option = (
        ["--incident-report", str(target)] if form == "spaced" else [f"--incident-report={target}"]
    )
    monkeypatch.chdir(project)
    # A report outside the rootdir needs the path policy's flag (docs/limits.md).
    result = pytester.runpytest("--incident-cases", "--incident-allow-outside-root", *option)
    if form == "equals":
        result.assert_outcomes(passed=4)
        assert json.loads(target.read_text())["incidents"]["AI-IR-1"]["outcomes"] == {"passed": 4}
    else:
        # Refused at once, naming the fix; never a run without the project's ini settings.
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            [
                f"*--incident-report {target}: pytest read this value as a test path*Write --incident-report={target}*"
            ]
        )


def test_pin_forms_and_declared_digests() -> None:
    from pytest_airecovery.models import Model, ModelRefError, PinnedRef

    digest = "ab" * 32
    assert PinnedRef.parse(f"m@v1=sha256:{digest.upper()}") == PinnedRef("m@v1", digest)
    assert PinnedRef.parse("m@v1") == PinnedRef("m@v1")
    for bad in ("m@v1=sha256:ab", f"m@v1={digest}", "m@v1=sha256:", "m=sha256:" + digest):
        with pytest.raises(ModelRefError):
            PinnedRef.parse(bad)
    # A served model declares its digest in its fingerprint, also when an adapter wraps it.
    for fingerprint in (digest, f"sha256:{digest}", f"openai-chat:sha256:{digest}:1f2e"):
        assert Model(list, fingerprint=fingerprint).pinned_sha256 == digest
    for fingerprint in (None, "v1", f"x{digest}", f"sha256:{digest}0"):
        assert Model(list, fingerprint=fingerprint).pinned_sha256 is None


_NAME = st.text(
    st.characters(codec="ascii", categories=("L", "N")) | st.sampled_from("._-"),
    min_size=1,
    max_size=12,
)


@given(family=_NAME, version=_NAME, digest=st.binary(min_size=32, max_size=32))
def test_pinned_refs_round_trip(family: str, version: str, digest: bytes) -> None:
    from pytest_airecovery.models import PinnedRef

    text = f"{family}@{version}=sha256:{digest.hex()}"
    assert PinnedRef.parse(text) == PinnedRef(f"{family}@{version}", digest.hex())


@given(st.text(max_size=80))
def test_any_candidate_text_parses_or_names_the_problem(text: str) -> None:
    from pytest_airecovery.models import ModelRefError, PinnedRef

    try:
        pinned = PinnedRef.parse(text)
    except ModelRefError as exc:
        assert str(exc)
    else:
        assert "@" in pinned.ref and "=" not in pinned.ref
        assert pinned.sha256 is None or len(pinned.sha256) == 64

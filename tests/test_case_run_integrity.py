"""Verdicts of a case run that must not be wrong: model identity, the output cache, broken inputs,
hung loaders, and clear errors instead of tracebacks (issues 11 and 13)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import TOY_CONFTEST, model_calls, run, toy_case_file, write_case

# Every ref gets the same fingerprint, as a loader that hashes only a shared weights file does.
SHARED_FINGERPRINT_CONFTEST = TOY_CONFTEST.replace(
    'fingerprint="toy-" + ref', 'fingerprint="shared-weights-sha"'
)


def test_refs_sharing_a_fingerprint_fail_naming_both(toy: pytest.Pytester) -> None:
    toy.makeconftest(SHARED_FINGERPRINT_CONFTEST)
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ["*toy@good and toy@bad have the same fingerprint*fingerprint the config*"]
    )


def test_bad_ref_never_passes_from_another_refs_cache(toy: pytest.Pytester) -> None:
    toy.makeconftest(SHARED_FINGERPRINT_CONFTEST)
    # No known-bad in the file: only the candidate and the known-good are compared.
    write_case(toy, "AI-1.yaml", toy_case_file().replace(", known_bad: toy@bad", ""))
    toy.runpytest("--incident-cases", "--incident-model", "toy@good")
    result = toy.runpytest("--incident-cases", "--incident-model", "toy@bad")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=4)


def test_output_cache_key_holds_the_ref() -> None:
    from pytest_airecovery.cases.batching import BatchRunner
    from pytest_airecovery.cases.cache import OutputCache
    from pytest_airecovery.cases.sources import InlineSource
    from pytest_airecovery.models import Model

    calls: list[str] = []

    def model(ref: str, label: int) -> Model:
        def predict(batch: list[int]) -> list[int]:
            calls.append(ref)
            return [label] * len(batch)

        return Model(predict, ref=ref, fingerprint="same")

    models = {"m@a": model("m@a", 1), "m@b": model("m@b", 2)}
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        runner = BatchRunner(models.__getitem__, OutputCache(Path(root)))
        source = InlineSource([10, 11])
        assert runner.outputs("m@a", source, range(2)) == [1, 1]
        assert runner.outputs("m@b", source, range(2)) == [2, 2]
        fresh = BatchRunner(models.__getitem__, OutputCache(Path(root)))
        assert fresh.outputs("m@b", source, range(2)) == [2, 2]
    assert calls == ["m@a", "m@b"]


def test_same_model_object_declares_two_refs_identical(toy: pytest.Pytester) -> None:
    toy.makeconftest(
        """
        from pytest_airecovery import Model
        SHARED = Model(lambda batch: [{"label": x % 10} for x in batch], fingerprint="w")
        def pytest_airecovery_load_model(ref, config):
            return SHARED
        """
    )
    write_case(toy, "AI-1.yaml", toy_case_file())
    toy.runpytest("--incident-cases").assert_outcomes(passed=4)
    result = toy.runpytest("--incident-cases", "--incident-verify-catches", "-k", "catches")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*known-good toy@good and known-bad toy@bad are the same model*"])


def test_verify_catches_refuses_one_ref_as_good_and_bad(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file(known_bad="toy@good"))
    result = toy.runpytest("--incident-cases", "--incident-verify-catches", "-k", "catches")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*known-good toy@good and known-bad toy@good are the same model*"])


def _shards(pytester: pytest.Pytester) -> list[Path]:
    return sorted(
        (pytester.path / ".pytest_cache" / "d" / "airecovery" / "outputs").glob("*/*.json")
    )


def test_nan_written_into_the_cache_is_not_trusted(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    toy.runpytest("--incident-cases").assert_outcomes(passed=4)
    model_calls(toy)
    for shard in _shards(toy):
        body = json.loads(shard.read_text())
        for digest in body["outputs"]:
            body["outputs"][digest] = {"label": float("nan"), "score": float("nan")}
        shard.write_text(json.dumps(body))
    result = toy.runpytest("--incident-cases", "-W", "default")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*cache entry*discarded*"])
    assert [c["ref"] for c in model_calls(toy)] == ["toy@good"]


@pytest.mark.parametrize(
    "corrupt",
    [
        b"\x00\xff not json",
        b'{"format": 1, "outputs": [1, 2]}',
        b'{"format": 1, "outputs": {"x": 1}}',
        b"[]",
    ],
    ids=["bytes", "list", "bad-digest", "toplevel-list"],
)
def test_corrupted_cache_entry_is_discarded_and_recomputed(
    toy: pytest.Pytester, corrupt: bytes
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    toy.runpytest("--incident-cases").assert_outcomes(passed=4)
    model_calls(toy)
    for shard in _shards(toy):
        shard.write_bytes(corrupt)
    result = toy.runpytest("--incident-cases", "-W", "default")
    result.assert_outcomes(passed=4)
    assert "Traceback" not in result.stdout.str()
    assert [c["ref"] for c in model_calls(toy)] == ["toy@good"]


def test_corrupted_parsed_case_cache_is_not_a_traceback(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    toy.runpytest("--incident-cases").assert_outcomes(passed=4)
    for entry in (toy.path / ".pytest_cache" / "d" / "airecovery" / "cases").glob("*.json"):
        body = json.loads(entry.read_text())
        del body["positions"]
        entry.write_text(json.dumps(body))
    toy.runpytest("--incident-cases").assert_outcomes(passed=4)


def _npz(path: Path) -> None:
    import io
    import zipfile

    import numpy as np

    member = io.BytesIO()
    np.lib.format.write_array(member, np.arange(40, dtype=np.int64).reshape(4, 10))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("x.npy", member.getvalue())


# Collection reads and checks the whole file, so the damage is done once collection is over: the
# batch that reads it at run time then meets a CRC error.
DAMAGE_AFTER_COLLECTION = """

def pytest_collection_finish(session):
    path = session.config.rootpath / "incident_cases" / "bad.npz"
    raw = bytearray(path.read_bytes())
    raw[raw.rindex((39).to_bytes(8, "little"))] ^= 0xFF
    path.write_bytes(bytes(raw))
"""


def test_broken_input_file_fails_only_its_own_cases(toy: pytest.Pytester) -> None:
    _npz(toy.path / "incident_cases" / "bad.npz")
    conftest = toy.path / "conftest.py"
    conftest.write_text(
        conftest.read_text(encoding="utf-8") + DAMAGE_AFTER_COLLECTION, encoding="utf-8"
    )
    write_case(toy, "good.yaml", toy_case_file("AI-IR-G"))
    bad = toy_case_file("AI-IR-B").replace("inputs: [1, 2, 3]", "inputs: {file: bad.npz, key: x}")
    write_case(toy, "bad.yaml", bad.replace("- not_label: 7", "- label: 0"))
    result = toy.runpytest("--incident-cases", "-p", "no:randomly")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 4, result.stdout.str()
    assert outcomes.get("failed") == 5
    result.stdout.fnmatch_lines(["*bad.npz*cannot be read*"])
    assert "good.yaml" not in "\n".join(
        line for line in result.stdout.lines if line.startswith("FAILED")
    )


HANGING_LOADER = """
import threading
from pytest_airecovery import Model

def pytest_airecovery_load_model(ref, config):
    if ref == "toy@hangs":
        threading.Event().wait()          # never returns
    return Model(lambda batch: [{"label": x % 10} for x in batch], fingerprint="fp-" + ref)
"""


def test_hanging_loader_is_bounded_by_the_model_timeout(toy: pytest.Pytester) -> None:
    toy.makeconftest(HANGING_LOADER)
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2").replace("toy@", "fine@"))
    toy.makeini("[pytest]\nincident_candidates =\n    toy@hangs\n    fine@good\n")
    # In a subprocess: it must also exit while the loader's thread still waits.
    result = toy.runpytest_subprocess(
        "--incident-cases", "--incident-model-timeout", "1", timeout=120
    )
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(["*loading toy@hangs did not finish within 1 s*"])


ROGUE_MODELS = """
import sys
from pytest_airecovery import Model

def _deep(n):
    return _deep(n + 1)

def predict_for(ref):
    def predict(batch):
        if ref == "toy@exits":
            sys.exit(3)
        if ref == "toy@recurses":
            return _deep(0)
        return [{"label": x % 10} for x in batch]
    return predict

def pytest_airecovery_load_model(ref, config):
    if ref == "toy@loadexits":
        raise SystemExit("loader gave up")
    return Model(predict_for(ref), fingerprint="fp-" + ref)
"""


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("exits", "*model toy@exits raised SystemExit: 3*"),
        ("recurses", "*model toy@recurses raised RecursionError*"),
        ("loadexits", "*loading toy@loadexits raised SystemExit: loader gave up*"),
    ],
)
@pytest.mark.parametrize("timeout", ["0", "5"])
def test_rogue_model_fails_its_cases_not_the_session(
    toy: pytest.Pytester, version: str, message: str, timeout: str
) -> None:
    toy.makeconftest(ROGUE_MODELS)
    write_case(toy, "AI-1.yaml", toy_case_file())
    write_case(toy, "AI-2.yaml", toy_case_file("AI-IR-2").replace("toy@", "fine@"))
    toy.makeini(f"[pytest]\nincident_candidates =\n    toy@{version}\n    fine@good\n")
    result = toy.runpytest_subprocess("--incident-cases", "--incident-model-timeout", timeout)
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines([message])
    assert len(result.stdout.lines) < 200


def test_pin_on_a_missing_artifact_is_a_message(toy: pytest.Pytester) -> None:
    toy.makeconftest(
        """
        from pytest_airecovery import Model
        def pytest_airecovery_load_model(ref, config):
            return Model(lambda b: [{"label": x % 10} for x in b], artifact="gone/" + ref + ".npz")
        """
    )
    pinned = toy_case_file().replace(
        "known_good: toy@good", "known_good: {ref: toy@good, sha256: '" + "a" * 64 + "'}"
    )
    write_case(toy, "AI-1.yaml", pinned)
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ["*supply-chain check failed*toy@good*gone/toy@good.npz*cannot be read*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_unpinned_missing_artifact_fails_its_batch_with_a_message(toy: pytest.Pytester) -> None:
    toy.makeconftest(
        """
        from pytest_airecovery import Model
        def pytest_airecovery_load_model(ref, config):
            return Model(lambda b: [{"label": x % 10} for x in b], artifact="gone/" + ref + ".npz")
        """
    )
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("--incident-cases")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*model toy@good: cannot read its artifact*gone/toy@good.npz*"])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--incident-model-timeout",
            "nan",
            "*--incident-model-timeout: expected seconds*got 'nan'*",
        ),
        (
            "--incident-model-timeout",
            "inf",
            "*--incident-model-timeout: expected seconds*got 'inf'*",
        ),
        (
            "--incident-batch-size",
            "1e400",
            "*--incident-batch-size: expected a positive integer, got '1e400'*",
        ),
        (
            "--incident-batch-size",
            "2.5",
            "*--incident-batch-size: expected a positive integer, got '2.5'*",
        ),
    ],
)
def test_bad_numbers_are_usage_errors(
    toy: pytest.Pytester, option: str, value: str, message: str
) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = toy.runpytest("--incident-cases", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_unwritable_report_path_is_a_usage_error(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    (toy.path / "blocker").write_text("a file, not a folder")
    result = toy.runpytest("--incident-cases", "--incident-report", "blocker/report.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--incident-report: cannot write blocker/report.json*"])
    assert model_calls(toy) == []


RAISING_CHECK = """
from conftest_toy import *  # noqa

def _deep(n):
    return _deep(n + 1)

def pytest_airecovery_add_checks(registry):
    @registry.input_check("fragile", default_field="label")
    def fragile(subject, arg, row):
        return _deep(0)
"""


@pytest.mark.parametrize("tb", ["auto", "long", "short", "line", "native"])
def test_item_failures_respect_tb_and_hide_plugin_frames(toy: pytest.Pytester, tb: str) -> None:
    toy.makeconftest(RAISING_CHECK)
    toy.makepyfile(conftest_toy=TOY_CONFTEST)
    toy.makeini("[pytest]\nincident_candidates = toy@good\npythonpath = .\n")
    write_case(
        toy, "AI-1.yaml", toy_case_file(inputs="[2]").replace("- not_label: 7", "- fragile: true")
    )
    result = toy.runpytest("--incident-cases", "-k", "row", f"--tb={tb}")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "RecursionError" in text
    assert len(result.stdout.lines) < 150, text[-3000:]
    for internal in ("pytest_airecovery/", "_pytest/", "pluggy/"):
        assert internal not in text
    if tb == "long":
        assert "return _deep(n + 1)" in text


def test_run_is_the_same_under_xdist_for_shared_fingerprints(toy: pytest.Pytester) -> None:
    toy.makeconftest(SHARED_FINGERPRINT_CONFTEST)
    write_case(toy, "AI-1.yaml", toy_case_file())
    result = run(toy, "--incident-cases", "-n", "2")
    result.assert_outcomes(failed=4)


def test_cache_clear_empties_the_disk_cache_once_per_session(toy: pytest.Pytester) -> None:
    write_case(toy, "AI-1.yaml", toy_case_file())
    toy.runpytest("--incident-cases").assert_outcomes(passed=4)
    model_calls(toy)
    result = run(toy, "--incident-cases", "--incident-cache-clear", "-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    # The controller clears before the workers start; the workers share one computed batch.
    assert [c["ref"] for c in model_calls(toy)] == ["toy@good"]


def textblock(text: str) -> str:
    return textwrap.dedent(text)

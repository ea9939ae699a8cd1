"""The README's and docs/models.md's code blocks still parse, and the runnable ones still run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "models.md"]


def blocks(path: Path, language: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every fenced block of ``language`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(rf"^```{language}\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        found.append((text[: match.start()].count("\n") + 1, match.group(1)))
    return found


def all_blocks(language: str) -> list[pytest.param]:  # type: ignore[valid-type]
    return [
        pytest.param(code, id=f"{path.name}:{line}")
        for path in DOCS
        for line, code in blocks(path, language)
    ]


@pytest.mark.parametrize("code", all_blocks("python"))
def test_python_blocks_compile(code: str) -> None:
    compile(code, "<docs>", "exec")


@pytest.mark.parametrize("code", all_blocks("yaml"))
def test_yaml_blocks_load(code: str) -> None:
    assert yaml.safe_load(code) is not None


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is 3.11+")
@pytest.mark.parametrize("code", all_blocks("toml"))
def test_toml_blocks_load(code: str) -> None:
    import tomllib

    # A pin in the docs is shortened with an ellipsis; the form is what is checked here.
    tomllib.loads(code.replace("…", ""))


def test_docs_name_the_public_helpers() -> None:
    import pytest_airecovery

    for name in ("Model", "fingerprint_of", "save_npz"):
        assert callable(getattr(pytest_airecovery, name))


def test_custom_check_example_runs_as_documented(pytester: pytest.Pytester) -> None:
    models_md = ROOT / "docs" / "models.md"
    conftest = next(code for _, code in blocks(models_md, "python") if "max_words" in code)
    case_file = next(code for _, code in blocks(models_md, "yaml") if "CHAT-3" in code)
    pytester.makeconftest(conftest)
    pytester.mkdir("incident_cases")
    (pytester.path / "incident_cases" / "CHAT-3.yaml").write_text(case_file)
    result = pytester.runpytest("--incident-cases", "-q")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["max_words: expected at most 10 words, got 14"])


def test_save_npz_example_is_deterministic(tmp_path: Path) -> None:
    import numpy as np

    from pytest_airecovery import save_npz

    arrays = {"W": np.arange(12.0).reshape(3, 4), "b": np.zeros(4)}
    first = save_npz(tmp_path / "a.npz", arrays)
    second = save_npz(tmp_path / "b.npz", dict(reversed(list(arrays.items()))))
    assert first == second
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz", allow_pickle=False) as loaded:
        assert loaded["W"].tolist() == arrays["W"].tolist()
    with pytest.raises(TypeError, match="pickle"):
        save_npz(tmp_path / "c.npz", {"o": np.array([object()], dtype=object)})


def test_np_savez_depends_on_argument_order_where_save_npz_does_not(tmp_path: Path) -> None:
    import numpy as np

    from pytest_airecovery import save_npz

    w, b = np.arange(3.0), np.zeros(2)
    np.savez(tmp_path / "a.npz", W=w, b=b)
    np.savez(tmp_path / "b.npz", b=b, W=w)
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "b.npz").read_bytes()
    assert save_npz(tmp_path / "c.npz", {"W": w, "b": b}) == save_npz(
        tmp_path / "d.npz", {"b": b, "W": w}
    )


def test_fingerprint_of_covers_files_by_content_and_values() -> None:
    import tempfile

    from pytest_airecovery import fingerprint_of

    with tempfile.TemporaryDirectory() as folder:
        weights, config = Path(folder, "w.bin"), Path(folder, "c.json")
        weights.write_bytes(b"shared weights")
        config.write_text('{"threshold": 0.5}')
        before = fingerprint_of(weights, config)
        assert fingerprint_of(weights, config) == before
        config.write_text('{"threshold": 0.9}')
        assert fingerprint_of(weights, config) != before
        assert fingerprint_of(weights) != fingerprint_of(weights, {"temperature": 0})
        assert fingerprint_of(str(weights)) != fingerprint_of(weights)  # a str is a value

"""A new user's model repo, built from the README alone: the bad ref never passes.

Three versions of a router share one weights file and differ only in their deployment config
(issue 11's configuration incident). The loader is the README's own code block, so the README
cannot drift from what is tested.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from conftest import run

README = Path(__file__).resolve().parent.parent / "README.md"

# The user's own code the README's loader calls: a network whose behaviour is set by its config.
USER_NETWORK = """
import numpy as np


class _Router:
    def __init__(self, weights, settings):
        with np.load(weights) as archive:
            self.table = archive["table"]
        self.leak = settings["leak_internal_notes"]

    def predict_batch(self, batch):
        return [{"label": "leak" if self.leak and int(self.table[len(text) % 4]) else "ok"} for text in batch]


def load_my_network(weights, settings):
    return _Router(weights, settings)
"""

# What the README showed before issue 11: the fingerprint covers the weights only.
OLD_README_LOADER = """
from pytest_airecovery import Model

def pytest_airecovery_load_model(ref, config):
    import json
    family, _, version = ref.partition("@")
    deploy = config.rootpath / "models" / f"{family}-{version}.json"
    settings = json.loads(deploy.read_text())
    weights = config.rootpath / "models" / settings["weights"]
    net = load_my_network(weights, settings)
    return Model(net.predict_batch, artifact=weights)
"""

CASE_FILE = """\
schema_version: 1
incident:
  id: RTR-75
  title: Router leaks internal notes after a config change
  severity: SEV-1
  root_cause: {category: configuration_error, summary: v7.5 config enabled note passthrough}
models: {known_good: router@v7.6, known_bad: router@v7.5}
cases:
  - id: no-leak
    inputs: ["show me the ticket", "what did support write?", "internal notes please", "hi"]
    expect:
      - not_label: leak
"""


def readme_loader() -> str:
    """The README's Python block that defines the loader hook."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    loaders = [block for block in blocks if "def pytest_airecovery_load_model" in block]
    assert len(loaders) == 1, "the README shows exactly one loader"
    return loaders[0]


def make_repo(pytester: pytest.Pytester, loader: str) -> None:
    from pytest_airecovery import save_npz

    models = pytester.mkdir("models")
    save_npz(models / "router-shared.npz", {"table": [1, 1, 1, 1]})
    for version, leak in (("v7.5", "true"), ("v7.6", "false"), ("v7.7", "false")):
        (models / f"router-{version}.json").write_text(
            f'{{"release": "{version}", "weights": "router-shared.npz", "leak_internal_notes": {leak}}}'
        )
    pytester.makeconftest(textwrap.dedent(USER_NETWORK) + "\n" + loader)
    pytester.makeini("[pytest]\nincident_candidates = router@v7.7\n")
    pytester.mkdir("incident_cases")
    (pytester.path / "incident_cases" / "RTR-75.yaml").write_text(CASE_FILE)


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_readme_loader_never_passes_the_bad_ref(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    make_repo(pytester, readme_loader())
    run(pytester, "--incident-cases", *xdist).assert_outcomes(passed=4)
    # Across sessions: the outputs of the good versions are on disk; the bad one must be run.
    bad = run(pytester, "--incident-cases", "--incident-model", "router@v7.5", *xdist)
    bad.assert_outcomes(failed=4)
    bad.stdout.fnmatch_lines(["*not_label: expected any label but 'leak', got 'leak'*"])
    # In one session: the catch proofs run the known-bad and known-good models side by side.
    both = run(
        pytester,
        "--incident-cases",
        "--incident-model",
        "router@v7.5",
        "--incident-verify-catches",
        *xdist,
    )
    both.assert_outcomes(failed=4, passed=1)
    both.stdout.fnmatch_lines(["*catch rate 1/1 (100%)*"])
    # And from tests/, as a user in a subfolder would run it.
    assert "config.rootpath" in readme_loader()


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_weights_only_fingerprint_fails_naming_both_refs(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    make_repo(pytester, OLD_README_LOADER)
    first = run(pytester, "--incident-cases", *xdist)
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    first.stdout.fnmatch_lines(
        ["*router@v7.7 and router@v7.6 have the same fingerprint*fingerprint the config too*"]
    )
    for args in (
        ["--incident-model", "router@v7.5"],
        ["--incident-model", "router@v7.5", "--incident-verify-catches"],
    ):
        result = run(pytester, "--incident-cases", *args, *xdist)
        assert result.parseoutcomes().get("passed", 0) == 0, result.stdout.str()


def test_readme_loader_works_from_a_subfolder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_repo(pytester, readme_loader())
    monkeypatch.chdir(pytester.mkdir("tests"))
    pytester.runpytest("--incident-cases").assert_outcomes(passed=4)


def test_readme_loader_takes_a_byte_identical_redeploy_as_the_same_model(
    pytester: pytest.Pytester,
) -> None:
    # A rollback candidate: v7.8 ships v7.6's exact weights and config. The README's loader returns
    # one Model for one fingerprint, so this is not an identity failure; v7.5 still fails.
    make_repo(pytester, readme_loader())
    models = pytester.path / "models"
    (models / "router-v7.8.json").write_bytes((models / "router-v7.6.json").read_bytes())
    run(pytester, "--incident-cases", "--incident-model", "router@v7.8").assert_outcomes(passed=4)
    bad = run(pytester, "--incident-cases", "--incident-model", "router@v7.5")
    bad.assert_outcomes(failed=4)

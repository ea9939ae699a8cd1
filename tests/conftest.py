from __future__ import annotations

import textwrap
from pathlib import Path

# Imported here, before pytester's in-process runs snapshot sys.modules: PyYAML's C extension
# cannot be re-initialised, so a purge and re-import between runs would leave it talking to a
# second copy of yaml's node classes.
import numpy  # noqa: F401
import pytest
import yaml  # noqa: F401

# A conftest for pytester runs: a toy model family whose behaviour depends on the version, and
# a call log on disk so tests can count model calls even across xdist workers.
TOY_CONFTEST = """
import json, math, os, time
from pathlib import Path
from pytest_airecovery import Model

LOG = Path(__file__).with_name("calls.log")

def _log(ref, batch):
    with open(LOG, "a") as fh:
        fh.write(json.dumps({"ref": ref, "n": len(batch), "pid": os.getpid()}) + "\\n")

def make_predict(ref):
    family, _, version = ref.partition("@")
    def predict(batch):
        _log(ref, batch)
        if version == "raises":
            raise RuntimeError("weights are corrupt")
        if version == "hangs":
            time.sleep(30)
        if version == "short":
            return [{"label": 1}] * (len(batch) - 1)
        if version == "nan":
            return [{"label": 1, "score": math.nan if x == 2 else 0.5} for x in batch]
        if version == "bad":
            return [{"label": 7, "score": 0.9, "probs": [0.0] * 7 + [1.0, 0.0, 0.0]} for x in batch]
        return [{"label": x % 10, "score": 0.1, "probs": [0.1] * 10} for x in batch]
    return predict

def pytest_airecovery_load_model(ref, config):
    family, _, version = ref.partition("@")
    if version == "missing":
        return None
    artifact = Path(__file__).with_name("weights-" + version + ".bin")
    if artifact.exists():
        return Model(make_predict(ref), ref=ref, artifact=artifact)
    return Model(make_predict(ref), ref=ref, fingerprint="toy-" + ref)
"""

TOY_INI = """
[pytest]
incident_candidates = toy@good
"""


def toy_case_file(
    incident: str = "AI-IR-1",
    *,
    inputs: str = "[1, 2, 3]",
    severity: str = "SEV-2",
    category: str = "training_data_contamination",
    extra_cases: str = "",
    known_bad: str = "toy@bad",
) -> str:
    return textwrap.dedent(
        f"""\
        schema_version: 1
        incident:
          id: {incident}
          title: toy incident
          severity: {severity}
          root_cause: {{category: {category}, summary: poisoned data}}
        models: {{known_good: toy@good, known_bad: {known_bad}}}
        cases:
          - id: labels
            inputs: {inputs}
            expect:
              - not_label: 7
            expect_aggregate:
              - rate_of_label: {{label: 7, max: 0.1}}
        """
    ) + textwrap.indent(textwrap.dedent(extra_cases), "  ")


@pytest.fixture
def toy(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester dir with the toy loader, a candidate, and an incident_cases/ folder."""
    pytester.makeconftest(TOY_CONFTEST)
    pytester.makeini(TOY_INI)
    pytester.mkdir("incident_cases")
    return pytester


def write_case(pytester: pytest.Pytester, name: str, text: str) -> Path:
    path = pytester.path / "incident_cases" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def model_calls(pytester: pytest.Pytester) -> list[dict[str, object]]:
    import json

    log = pytester.path / "calls.log"
    if not log.exists():
        return []
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    log.unlink()
    return calls


@pytest.fixture(
    params=[[], ["-n", "0"], ["-n", "2"], ["-p", "no:xdist"]], ids=["plain", "n0", "n2", "no-xdist"]
)
def plugin_args(request: pytest.FixtureRequest) -> list[str]:
    """Run an important test without xdist, with -n 0, with two workers, and with xdist disabled."""
    return list(request.param)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """In-process when possible (fast); in a subprocess when xdist workers are involved."""
    if "-n" in args and args[args.index("-n") + 1] != "0":
        return pytester.runpytest_subprocess(*args)
    return pytester.runpytest(*args)

"""Helpers for people who extend pytest-airecovery: custom checks, loaders, model adapters.

Use them with pytest's ``pytester`` fixture to run ``pytest --incident-cases`` on a case file
built in the test, against a model whose calls you can count::

    from pytest_airecovery.testing import case_file_text, counting_loader_conftest

    def test_my_check(pytester):
        pytester.makeconftest(counting_loader_conftest("my_models:load"))
        pytester.mkdir("incident_cases")
        (pytester.path / "incident_cases" / "X.yaml").write_text(
            case_file_text(cases=[{"id": "c", "inputs": [1, 2], "expect": [{"my_check": 3}]}])
        )
        pytester.runpytest("--incident-cases").assert_outcomes(passed=2)
        assert model_calls(pytester.path) == [("toy@v2", 2)]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CALL_LOG = "airecovery-calls.jsonl"


def case_file_text(
    *,
    cases: Sequence[dict[str, Any]],
    incident_id: str = "AI-IR-TEST-1",
    title: str = "test incident",
    severity: str = "SEV-3",
    root_cause: str = "other",
    known_good: str = "toy@v1",
    known_bad: str | None = "toy@v0",
    action_items: Sequence[dict[str, Any]] = (),
) -> str:
    """A valid case file (JSON is YAML, so it works as ``.yaml`` or ``.json``)."""
    models: dict[str, Any] = {"known_good": known_good}
    if known_bad:
        models["known_bad"] = known_bad
    document: dict[str, Any] = {
        "schema_version": 1,
        "incident": {
            "id": incident_id,
            "title": title,
            "severity": severity,
            "root_cause": {"category": root_cause},
        },
        "models": models,
        "cases": list(cases),
    }
    if action_items:
        document["action_items"] = list(action_items)
    return json.dumps(document, indent=2) + "\n"


def counting_loader_conftest(loader: str, *, candidate: str = "toy@v2") -> str:
    """A conftest.py that loads models through ``loader`` (``module:attr``) and logs every call.

    Each model call appends ``{"ref", "n"}`` to ``airecovery-calls.jsonl`` beside the conftest,
    which works across pytest-xdist workers; read it back with :func:`model_calls`.
    """
    module, _, attribute = loader.partition(":")
    return f"""
import importlib, json
from pathlib import Path

from pytest_airecovery.models import as_model

_LOG = Path(__file__).with_name({CALL_LOG!r})
_LOADER = getattr(importlib.import_module({module!r}), {attribute!r})


def pytest_airecovery_load_model(ref, config):
    loaded = _LOADER(ref)
    if loaded is None:
        return None
    model = as_model(loaded, ref)
    inner = model.predict

    def counted(batch):
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({{"ref": ref, "n": len(batch)}}) + "\\n")
        return inner(batch)

    model.predict = counted
    return model


def pytest_airecovery_candidate(family, config):
    return {candidate!r} if family == {candidate.partition("@")[0]!r} else None
"""


def model_calls(directory: Path, *, clear: bool = True) -> list[tuple[str, int]]:
    """``(ref, batch size)`` of every model call logged by :func:`counting_loader_conftest`."""
    log = Path(directory) / CALL_LOG
    if not log.exists():
        return []
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    if clear:
        log.unlink()
    return [(call["ref"], int(call["n"])) for call in calls]

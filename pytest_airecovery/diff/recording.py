"""Recorded known-good outputs: JSON Lines files beside the case files (or tests).

A recording lets diffs run where the known-good model is not available (an old artifact CI no
longer has). Its first line names the format and the model; every further line pairs a short
digest of one input (so a recording made for other inputs is refused, not silently misapplied)
with that input's output. One output per line keeps pull-request diffs readable, and the
``.jsonl`` suffix keeps ``--incident-cases`` from collecting recordings as case files. Writes go to a temporary file renamed into place, so pytest-xdist workers and
readers never see half a file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
KIND = "pytest-airecovery known-good recording"
SUFFIX = ".jsonl"
OBTAINED_SUFFIX = ".obtained.jsonl"
DIGEST_CHARS = 16
RERECORD_HINT = "re-record it with --incident-record (or --incident-record-all) where the known-good model is available"


class RecordingError(Exception):
    """A recording that cannot be used; the message says why and how to re-record."""


@dataclass
class Recording:
    path: Path
    model: str
    digests: list[str]
    outputs: list[Any]

    def matches(self, model: str, digests: list[str], outputs: list[Any]) -> bool:
        return self.model == model and self.digests == digests and _canonical(self.outputs) == _canonical(outputs)


def short_digests(values: list[Any]) -> list[str]:
    from pytest_airecovery.cases.sources import input_digest

    return [input_digest(value)[:DIGEST_CHARS] for value in values]


def read(path: Path) -> Recording:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0]) if lines else None
        rows = [json.loads(line) for line in lines[1:] if line.strip()]
    except (OSError, ValueError) as exc:
        raise RecordingError(f"recording {path} is unreadable ({exc}); {RERECORD_HINT}") from None
    if not isinstance(head, dict) or head.get("kind") != KIND:
        raise RecordingError(f"{path} is not a known-good recording; {RERECORD_HINT}")
    if head.get("format") != FORMAT_VERSION:
        raise RecordingError(
            f"recording {path} was written in format version {head.get('format')!r}; this version of "
            f"pytest-airecovery reads format {FORMAT_VERSION}: {RERECORD_HINT}"
        )
    if not all(isinstance(row, dict) and {"input", "output"} <= set(row) for row in rows):
        raise RecordingError(f"recording {path} is damaged (a line lacks input or output); {RERECORD_HINT}")
    return Recording(path, str(head.get("model", "")), [str(r["input"]) for r in rows], [_revive(r["output"]) for r in rows])


def render_text(model: str, digests: list[str], outputs: list[Any]) -> str:
    """The file body: a header line, then one input digest and its output per line."""
    lines = [json.dumps({"kind": KIND, "format": FORMAT_VERSION, "model": model, "inputs": len(outputs)})]
    for digest, output in zip(digests, outputs):
        lines.append(json.dumps({"input": digest, "output": _freeze(output)}, sort_keys=True, allow_nan=False))
    return "\n".join(lines) + "\n"


def write(path: Path, model: str, digests: list[str], outputs: list[Any]) -> None:
    from pytest_airecovery.cache import write_atomic

    write_atomic(path, render_text(model, digests, outputs))


def obtained_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(SUFFIX)] + OBTAINED_SUFFIX if path.name.endswith(SUFFIX) else path.name + OBTAINED_SUFFIX)


def _freeze(value: Any) -> Any:
    """JSON has no NaN or infinity: store them as tagged strings so they round-trip."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, dict):
        return {str(k): _freeze(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_freeze(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return _freeze(tolist())
    return {"__repr__": repr(value)}


def _revive(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value


def _canonical(outputs: list[Any]) -> str:
    return json.dumps([_freeze(o) for o in outputs], sort_keys=True)

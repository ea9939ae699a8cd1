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
from typing import TYPE_CHECKING, Any

from pytest_airecovery.cases.plain import to_plain

if TYPE_CHECKING:
    from pytest_airecovery.cases.paths import PathPolicy

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
        return (
            self.model == model
            and self.digests == digests
            and _canonical(self.outputs) == _canonical(outputs)
        )


def short_digests(values: list[Any]) -> list[str]:
    from pytest_airecovery.cases.sources import input_digest

    return [input_digest(value)[:DIGEST_CHARS] for value in values]


def read(path: Path) -> Recording:
    """Parse a recording; any damage is a RecordingError naming ``file:line`` and why."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise RecordingError(
            f"recording {path} is unreadable ({_why(exc)}); {RERECORD_HINT}"
        ) from None
    lines = text.splitlines()
    head = _json_line(path, lines, 1) if lines else None
    if not isinstance(head, dict) or head.get("kind") != KIND:
        raise RecordingError(f"{path}:1: not a known-good recording; {RERECORD_HINT}")
    if head.get("format") != FORMAT_VERSION:
        raise RecordingError(
            f"{path}:1: the recording was written in format version {head.get('format')!r}; this version of "
            f"pytest-airecovery reads format {FORMAT_VERSION}: {RERECORD_HINT}"
        )
    digests: list[str] = []
    outputs: list[Any] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        row = _json_line(path, lines, number)
        if (
            not isinstance(row, dict)
            or not {"input", "output"} <= set(row)
            or not isinstance(row["input"], str)
        ):
            raise RecordingError(
                f"{path}:{number}: damaged recording (a line lacks input or output); {RERECORD_HINT}"
            )
        digests.append(row["input"])
        outputs.append(_revive(row["output"]))
    declared = head.get("inputs")
    if isinstance(declared, int) and declared != len(outputs):
        # A file cut short (an interrupted copy, a bad merge) must not replay part of a run.
        raise RecordingError(
            f"{path}:{len(lines)}: damaged recording (the header says {declared} outputs, the file holds "
            f"{len(outputs)}); {RERECORD_HINT}"
        )
    return Recording(path, str(head.get("model", "")), digests, outputs)


def _json_line(path: Path, lines: list[str], number: int) -> Any:
    try:
        return json.loads(lines[number - 1])
    except RecursionError:
        raise RecordingError(
            f"{path}:{number}: damaged recording (JSON nested too deeply); {RERECORD_HINT}"
        ) from None
    except ValueError as exc:
        raise RecordingError(
            f"{path}:{number}: damaged recording (not JSON: {exc}); {RERECORD_HINT}"
        ) from None


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def render_text(model: str, digests: list[str], outputs: list[Any]) -> str:
    """The file body: a header line, then one input digest and its output per line."""
    lines = [
        json.dumps({"kind": KIND, "format": FORMAT_VERSION, "model": model, "inputs": len(outputs)})
    ]
    for digest, output in zip(digests, outputs, strict=True):
        lines.append(
            json.dumps(
                {"input": digest, "output": _freeze(output)}, sort_keys=True, allow_nan=False
            )
        )
    return "\n".join(lines) + "\n"


def write(
    path: Path, model: str, digests: list[str], outputs: list[Any], *, policy: PathPolicy
) -> None:
    """Write a recording atomically where the run's path policy allows it.

    The policy is required: a ``recordings`` directory that is a symlink to somewhere outside the
    repository must not turn ``--incident-record-all`` into a write there.
    """
    from pytest_airecovery.cases.cache import write_atomic
    from pytest_airecovery.cases.paths import PathPolicyError

    try:
        policy.check(path, what="recording")
    except PathPolicyError as exc:
        raise RecordingError(f"cannot write the recording: {exc.message}") from None
    try:
        write_atomic(path, render_text(model, digests, outputs))
    except OSError as exc:
        raise RecordingError(
            f"cannot write the recording {path}: {_why(exc)} (is the directory read-only?)"
        ) from None


def obtained_path(path: Path) -> Path:
    return path.with_name(
        path.name[: -len(SUFFIX)] + OBTAINED_SUFFIX
        if path.name.endswith(SUFFIX)
        else path.name + OBTAINED_SUFFIX
    )


def _freeze(value: Any) -> Any:
    """The output as plain Python (``to_plain``), NaN and infinities tagged so they round-trip."""
    return _tag(to_plain(value))


def _tag(value: Any) -> Any:
    # JSON has no NaN or infinity, and no objects: both are stored as tagged mappings.
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
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

"""Text for people: how an output and a failed check read in a test failure."""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _pytest
import pluggy
from _pytest._code.code import ExceptionInfo, Traceback

import pytest_airecovery

MAX_OUTPUT_CHARS = 200
MAX_FAILED_CHECKS = 10


def describe_output(output: Any) -> str:
    """``label 7 (p=0.98)`` for classifier outputs; a bounded repr for anything else."""
    if isinstance(output, Mapping) and "label" in output:
        label = output["label"]
        prob = _probability(output, label)
        extra = f" (p={prob:.2f})" if prob is not None else ""
        if prob is None and isinstance(output.get("score"), (int, float)):
            extra = f" (score {output['score']:.3f})"
        return f"label {label!r}{extra}"
    text = repr(output)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[: MAX_OUTPUT_CHARS - 1] + "…"


def _probability(output: Mapping[str, Any], label: Any) -> float | None:
    probs = output.get("probs")
    try:
        if isinstance(probs, Mapping):
            value = probs.get(label, probs.get(str(label)))
            return float(value) if value is not None else None
        if isinstance(probs, list) and isinstance(label, int) and 0 <= label < len(probs):
            return float(probs[label])
    except (TypeError, ValueError):
        return None
    return None


def failure_text(
    file_name: str, failures: list[tuple[Any, str]], got: str | None = None
) -> list[str]:
    lines = []
    for check, message in failures[:MAX_FAILED_CHECKS]:
        why = f" — {check.why}" if check.why else ""
        lines.append(f"check {check.describe()} ({file_name}:{check.line}){why}")
        lines.append(f"  {message}")
    if len(failures) > MAX_FAILED_CHECKS:
        extra = len(failures) - MAX_FAILED_CHECKS
        lines.append(f"... and {extra} more failed check{'s' if extra > 1 else ''}")
    if got is not None:
        lines.append(f"got: {got}")
    return lines


# Frames of a failure inside our items that are not the user's: pytest, pluggy, this package.
_INTERNAL_ROOTS = tuple(
    str(Path(str(module.__file__)).resolve().parent) + os.sep
    for module in (_pytest, pluggy, pytest_airecovery)
)
MAX_USER_FRAMES = 12  # a recursing model keeps its first and last frames only


def user_traceback(excinfo: ExceptionInfo[BaseException]) -> Traceback:
    """The traceback of a failure in a model, loader or custom check, without our frames.

    Deep recursion is cut to the first and last frames, so a ``RecursionError`` reads in a
    screenful instead of a thousand repeated entries.
    """
    entries = [entry for entry in excinfo.traceback if not _is_internal(str(entry.path))]
    if len(entries) > MAX_USER_FRAMES:
        half = MAX_USER_FRAMES // 2
        entries = entries[:half] + entries[-half:]
    return Traceback(entries)


def native_text(excinfo: ExceptionInfo[BaseException]) -> str:
    """``--tb=native`` for our items: Python's format, the user's frames only."""
    frames = [
        traceback.FrameSummary(str(entry.path), entry.lineno + 1, entry.name)
        for entry in user_traceback(excinfo)
    ]
    lines = ["Traceback (most recent call last, the plugin's frames left out):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(excinfo.type, excinfo.value)
    return "".join(lines).rstrip("\n")


def _is_internal(path: str) -> bool:
    return path.startswith(_INTERNAL_ROOTS)

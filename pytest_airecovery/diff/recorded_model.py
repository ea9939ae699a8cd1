"""A known-good model that answers from recordings, for runs where the real one is unavailable.

The diff fixtures read their own recording directly. Everything else that asks for a known-good
output (the ``matches_known_good`` and ``flip_rate`` case-file checks, the "known-good: ..." line of
a failure) goes through the model loaders. So this module answers last, from every recording under
the ``incident_cases`` directories, and only when no hook and no ``incident_model_loader`` gave the
model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_INDEX: pytest.StashKey[dict[str, dict[str, Any]]] = pytest.StashKey()
# Model ref ("" when the damage hides it) -> "file:line: why" of each recording that could not be read.
_DAMAGED: pytest.StashKey[dict[str, list[str]]] = pytest.StashKey()


def recording_index(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """Model ref → {short input digest → output}, from ``recordings/**/*.jsonl`` under the case dirs."""
    index = config.stash.get(_INDEX, None)
    if index is not None:
        return index
    from pytest_airecovery.cases.paths import PathPolicyError, case_roots, path_policy
    from pytest_airecovery.diff import recording

    policy = path_policy(config)
    index = {}
    damaged: dict[str, list[str]] = {}
    for root in case_roots(config):
        for path in sorted(Path(root).glob(f"**/{_recordings_dir()}/**/*{recording.SUFFIX}")):
            if path.name.endswith(recording.OBTAINED_SUFFIX):
                continue
            try:
                policy.check(path, what="recording")
                found = recording.read(path)
            except PathPolicyError as exc:
                damaged.setdefault("", []).append(exc.message)
                continue
            except recording.RecordingError as exc:
                # Not silently skipped: every replay that misses an output names it (below).
                damaged.setdefault(_model_named_in(path), []).append(str(exc))
                continue
            index.setdefault(found.model, {}).update(zip(found.digests, found.outputs, strict=True))
    config.stash[_INDEX] = index
    config.stash[_DAMAGED] = damaged
    return index


def damaged_recordings(config: pytest.Config, ref: str) -> list[str]:
    """``file:line: why`` of the recordings that may have held ``ref``'s outputs but are damaged."""
    recording_index(config)
    damaged = config.stash.get(_DAMAGED, {})
    return damaged.get(ref, []) + damaged.get("", [])


def _model_named_in(path: Path) -> str:
    """The model a damaged recording's header names, or "" when even the header is gone."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            head = json.loads(fh.readline())
    except (OSError, ValueError, RecursionError):
        return ""
    model = head.get("model") if isinstance(head, dict) else None
    return model if isinstance(model, str) else ""


def _recordings_dir() -> str:
    from pytest_airecovery.diff.differ import RECORDINGS_DIR

    return RECORDINGS_DIR


def load_recorded(ref: str, config: pytest.Config) -> Any:
    """The ini loader's model if it has one; else a model replaying ``ref``'s recordings; else None."""
    spec = config.getini("incident_model_loader")
    if spec:
        from pytest_airecovery.cases.session import load_object

        try:
            found = load_object(spec)(ref)
        except Exception:  # noqa: BLE001 - the provider calls the loader again and reports this
            found = None
        if found is not None:
            return found
    outputs = recording_index(config).get(ref) or {}
    damaged = damaged_recordings(config, ref)
    if not outputs and not damaged:
        return None
    from pytest_airecovery.diff import recording
    from pytest_airecovery.models import Model

    def replay(batch: list[Any]) -> list[Any]:
        digests = recording.short_digests(batch)
        missing = [offset for offset, digest in enumerate(digests) if digest not in outputs]
        if damaged:
            # Fail closed: a damaged file may have held newer outputs for these very inputs than
            # the sibling recordings that still read, so no replay of this model is trusted.
            raise LookupError(
                f"{ref} is not available and its recordings are damaged: {'; '.join(damaged)}"
            )
        if missing:
            raise LookupError(
                f"{ref} is not available and its recordings hold no output for {len(missing)} of these "
                f"{len(batch)} inputs; {recording.RERECORD_HINT}"
            )
        return [outputs[digest] for digest in digests]

    # No fingerprint: the recordings are already on disk, the output cache would only copy them.
    model = Model(replay, ref=ref)
    model.replays_recordings = True  # type: ignore[attr-defined]  # never record from a replay
    return model

"""Known-good recordings of case files: the ``[record]`` item and the ``.obtained`` outputs.

``--incident-record[-all]`` adds one ``case[record]`` item per case, which writes the case's
known-good outputs beside the case file; later runs without the known-good artifact replay them
(diff.recorded_model). When a known-good comparison fails against a recording, the candidate's
outputs are kept beside it, like pytest-regressions' ``.obtained`` files.
"""

from __future__ import annotations

from pathlib import Path

from pytest_airecovery.cases.batching import OutputFailure
from pytest_airecovery.cases.collect import CaseFailure, CaseItem
from pytest_airecovery.cases.paths import path_policy, shown_path
from pytest_airecovery.cases.spec import CheckSpec
from pytest_airecovery.diff import recording
from pytest_airecovery.diff.differ import RECORDINGS_DIR, _safe, record_mode

# Checks that compare with the known-good model's outputs (live or recorded).
KNOWN_GOOD_CHECKS = ("matches_known_good", "flip_rate")


def recording_path(item: CaseItem) -> Path:
    """Where ``--incident-record`` keeps the known-good outputs of ``item``'s case."""
    case_file = item.case_file
    return (
        case_file.path.parent
        / RECORDINGS_DIR
        / case_file.path.stem
        / f"{_safe(item.case.id)}.jsonl"
    )


def write_obtained(item: CaseItem, ref: str, failures: list[tuple[CheckSpec, str]]) -> str | None:
    """On a failed comparison with a recorded known-good, keep the candidate's outputs beside it.

    A reviewer diffs the two, and re-records if the change is intended. Written once per case
    and session.
    """
    if not any(check.name in KNOWN_GOOD_CHECKS for check, _ in failures):
        return None
    recorded = recording_path(item)
    if not recorded.exists():
        return None
    obtained = recording.obtained_path(recorded)
    key = str(obtained)
    context = item.context
    if key not in context.obtained_written:
        source = item.case.inputs
        try:
            outputs = context.runner.outputs(ref, source, range(len(source)))
        except OutputFailure:
            return None
        digests = recording.short_digests([source.value(row) for row in range(len(source))])
        try:
            recording.write(obtained, ref, digests, outputs, policy=path_policy(item.config))
        except recording.RecordingError as exc:
            return f"candidate outputs not written: {exc}"
        context.obtained_written.add(key)
    return f"candidate outputs written to {shown_path(obtained, item.config.rootpath)}"


class RecordItem(CaseItem):
    """Records the case's known-good outputs beside the case file (``--incident-record[-all]``).

    One item per case, so exactly one process writes each recording, under xdist too. Later runs
    without the known-good artifact replay the recording for known-good comparisons.
    """

    kind = "record"

    def plan_outputs(self) -> None:
        for row in self.rows_needed():
            self.context.runner.plan(self.case_file.known_good.ref, self.case.inputs, row)

    def runtest(self) -> None:
        from pytest_airecovery.cases.session import ModelUnavailable

        good = self.case_file.known_good.ref
        self.model_ref = good
        self.check_pins(good, required_refs=(good,))
        try:
            model = self.context.models.get(good)
        except ModelUnavailable as exc:
            raise CaseFailure(f"cannot record {good}: {exc}") from None
        if getattr(model, "replays_recordings", False):
            raise CaseFailure(
                f"cannot record {good}: only its recordings are available, not the model"
            )
        source = self.case.inputs
        try:
            outputs = self.context.runner.outputs(good, source, range(len(source)))
        except OutputFailure as exc:
            raise CaseFailure(f"cannot record {good}: {exc}") from None
        digests = recording.short_digests([source.value(row) for row in range(len(source))])
        path = recording_path(self)
        try:
            existing = recording.read(path) if path.exists() else None
        except recording.RecordingError:
            existing = None
        shown = shown_path(path, self.config.rootpath)
        if existing is not None and existing.matches(good, digests, outputs):
            self.outcome_details = {"recording": shown, "rewritten": False}
            return
        try:
            recording.write(path, good, digests, outputs, policy=path_policy(self.config))
        except recording.RecordingError as exc:
            raise CaseFailure(str(exc)) from None
        self.outcome_details = {"recording": shown, "rewritten": True}
        if record_mode(self.config) == "fail":
            verb = "rewrote" if existing is not None else "wrote"
            raise CaseFailure(
                f"{verb} the known-good recording {shown} "
                f"({good}, {len(outputs)} outputs) under --incident-record: review and commit it, then run "
                "without the flag (--incident-record-all rewrites and passes)"
            )

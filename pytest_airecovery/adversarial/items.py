"""Variant items: one per (input row, transform, variant) of a case with an ``adversarial`` block.

A variant item runs the case's per-input ``expect`` checks against the candidate's output on the
variant. With ``--incident-verify-catches`` it also records, without changing its own outcome,
whether the known-bad model fails the variant (the variant exercises the backdoor) and whether
the known-good model passes it (the variant is a fair test).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from pytest_airecovery.adversarial.casefile import AdversarialSpec
from pytest_airecovery.adversarial.variants import VariantSource, expand
from pytest_airecovery.cases.batching import OutputFailure
from pytest_airecovery.cases.checks import Row, SubjectError
from pytest_airecovery.cases.collect import (
    CaseFailure,
    CaseItem,
    IncidentFile,
    headline,
    run_input_checks,
)
from pytest_airecovery.cases.render import describe_output, failure_text
from pytest_airecovery.cases.session import IncidentSession, ModelUnavailable
from pytest_airecovery.cases.spec import CaseSpec

MAX_SHOWN_INPUT = 120


def variant_items(
    parent: IncidentFile, case: CaseSpec, context: IncidentSession
) -> list[VariantItem]:
    """The variant items of one case, in expansion order (rows, then transforms, then variants)."""
    spec = case.blocks["adversarial"]
    assert isinstance(spec, AdversarialSpec)
    source = expand(spec, case.inputs, case.id)
    with_row = len(case.inputs) > 1
    incident = parent.case_file.incident.id
    # One marker object per transform, shared by its items: cheap with 50,000 variants.
    marks = {
        t.name: pytest.mark.adversarial(
            spec.suite or case.id, incident, transforms=[t.name], variants=spec.variants
        )
        for t in spec.transforms
    }
    items: list[VariantItem] = []
    for position, key in enumerate(source.keys):
        item = VariantItem.from_parent(
            parent,
            name=f"{case.id}[{key.label(with_row)}]",
            case=case,
            source=source,
            position=position,
            context=context,
        )
        item.add_marker(marks[key.transform.name])
        items.append(item)
    return items


def shown_input(value: Any) -> str:
    """A variant as a person can read it: escapes make zero-width and look-alike characters visible."""
    if isinstance(value, str):
        text = visible_text(value)
        return text if len(text) <= MAX_SHOWN_INPUT else text[: MAX_SHOWN_INPUT - 1] + "…"
    shape = getattr(value, "shape", None)
    return f"array of shape {tuple(shape)}" if shape is not None else repr(value)[:MAX_SHOWN_INPUT]


def visible_text(text: str) -> str:
    """The text quoted, escaped (as ``ascii()`` would) only where a reader could be fooled.

    Accented Latin letters (``café``) and text in one other script print as themselves; invisible
    characters, combining marks, and letters of another script mixed with ASCII letters (a
    Cyrillic ``х`` in ``zхq``, a small-capital ``ᴢ``, full-width ``ｚ``) print as escapes.
    """
    mixed = any(ch.isascii() and ch.isalpha() for ch in text)
    shown = "".join(
        ascii(ch)[1:-1] if _suspicious(ch, mixed) else ch for ch in text.replace("\\", "\\\\")
    )
    return "'" + shown.replace("'", "\\'") + "'"


def _suspicious(ch: str, mixed: bool) -> bool:
    if ch.isascii():
        return not ch.isprintable() and ch != "\\"
    if (
        not ch.isprintable()
        or unicodedata.category(ch).startswith(("M", "Z"))
        or "\uff00" <= ch <= "\uffef"
    ):
        return True  # zero-width, no-break and other odd spaces, combining marks, full-width forms
    latin = "\u00c0" <= ch <= "\u024f" or "\u1e00" <= ch <= "\u1eff"  # accented Latin letters
    return mixed and ch.isalpha() and not latin


class VariantItem(CaseItem):
    kind = "variant"

    def __init__(self, *, source: VariantSource, position: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.position = position
        key = source.keys[position]
        self.outcome_details = {
            "row": key.row,
            "transform": key.transform.name,
            "variant": key.index,
            "suite": source.spec.suite,
        }

    def plan_outputs(self) -> None:
        try:
            ref = self.context.models.candidate(self.case_file.family)
        except ModelUnavailable:
            return
        refs = [ref, self.case_file.known_good.ref]
        if (
            self.context.verify_catches
            and self.case_file.known_bad is not None
            and not self.case.guard
        ):
            refs.append(self.case_file.known_bad.ref)
        for planned in refs:
            self.context.runner.plan(planned, self.source, self.position)

    def reference_output(self, row: int) -> Any:
        try:
            return self.context.runner.output(self.case_file.known_good.ref, self.source, row)
        except OutputFailure as exc:
            raise SubjectError(f"the known-good output is unavailable: {exc}") from None

    def _failures(self, ref: str) -> list[tuple[Any, str]] | None:
        """Failed checks of this variant on ``ref``; None when the model gave no output."""
        try:
            output = self.context.runner.output(ref, self.source, self.position)
        except OutputFailure:
            return None
        row = Row(self.source, self.position, self.reference_output)
        return run_input_checks(self.case.expect, output, row, self.context.registry)

    def _verify(self) -> None:
        """Record how the known-bad and known-good models fare on this variant."""
        bad = self.case_file.known_bad
        if not self.context.verify_catches or bad is None or self.case.guard:
            return
        bad_failures = self._failures(bad.ref)
        good_failures = self._failures(self.case_file.known_good.ref)
        # A model error counts as a failure, as in the case-level catch proof.
        self.outcome_details["known_bad_failed"] = bad_failures is None or bool(bad_failures)
        self.outcome_details["known_good_failed"] = good_failures is None or bool(good_failures)

    def runtest(self) -> None:
        ref = self.candidate_ref()
        bad = self.case_file.known_bad
        verifying = self.context.verify_catches and bad is not None and not self.case.guard
        # When the known-bad and known-good outputs are used, their artifacts must match the pins.
        self.check_pins(
            ref, required_refs=(bad.ref, self.case_file.known_good.ref) if verifying and bad else ()
        )
        where = self.source.row_label(self.position)
        try:
            value = self.source.value(self.position)
        except Exception as exc:  # noqa: BLE001 - a transform that cannot make this variant fails it
            raise CaseFailure(
                "\n".join(
                    [
                        f"transform {self.outcome_details['transform']} failed: {exc}",
                        *self.heading(ref, where),
                    ]
                )
            ) from None
        self.outcome_details["input"] = shown_input(value)
        self._verify()
        try:
            output = self.context.runner.output(ref, self.source, self.position)
        except OutputFailure as exc:
            raise CaseFailure("\n".join([str(exc), *self.heading(ref, where)])) from None
        row = Row(self.source, self.position, self.reference_output)
        failures = run_input_checks(self.case.expect, output, row, self.context.registry)
        if failures:
            lines = [headline(failures), *self.heading(ref, where)]
            lines.append(f"variant: {shown_input(value)}")
            lines.append(f"from:    {shown_input(self.source.original(self.position))}")
            lines += failure_text(self.case_file.path.name, failures, got=describe_output(output))
            good = self.case_file.known_good.ref
            if good != ref:
                try:
                    lines.append(
                        f"known-good {good}: {describe_output(self.context.runner.output(good, self.source, self.position))}"
                    )
                except OutputFailure as exc:
                    lines.append(f"known-good {good}: unavailable ({exc})")
            raise CaseFailure("\n".join(lines))

"""Collection nodes: a case file, and its items (per input row, per case aggregate, per catch proof)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_airecovery.cases.batching import OutputFailure
from pytest_airecovery.cases.checks import Row, Rows, SubjectError, subject_of
from pytest_airecovery.cases.extensions import ORDER_AGGREGATE, ORDER_CATCHES, ORDER_ROWS, ItemKind
from pytest_airecovery.cases.loader import CaseFileError, load_case_file, load_options
from pytest_airecovery.cases.render import (
    describe_output,
    failure_text,
    native_text,
    user_traceback,
)
from pytest_airecovery.cases.report_types import FileCoverage, ReportData
from pytest_airecovery.cases.session import IncidentSession, ModelUnavailable, incident_session
from pytest_airecovery.cases.spec import CaseFile, CaseSpec, CheckSpec


class CaseFailure(Exception):
    """A case did not hold; the text is already formatted for people."""


class IncidentFile(pytest.File):
    """One case file: loaded with the run's checks and blocks, then one item per kind and case."""

    def collect(self) -> list[CaseItem]:  # type: ignore[override]
        context = incident_session(self.config)
        try:
            case_file = load_case_file(
                self.path,
                shown_as=self.nodeid,
                check_lookup=context.registry.get,
                parsed_cache=context.parsed_cache,
                blocks=context.blocks,
                **load_options(self.config),
            )
        except CaseFileError as exc:
            raise self.CollectError(str(exc)) from None
        self.case_file = case_file
        incident = case_file.incident
        # Incident-wide markers and keywords live on the file node: items inherit them, so `-m`
        # and `-k` select by incident without a marker object per item.
        self.add_marker("incident_case")
        self.add_marker(incident.severity_marker)
        self.add_marker(incident.root_cause_marker)
        self.extra_keyword_matches.add(incident.id)
        properties = [
            ("incident_id", incident.id),
            ("severity", incident.severity),
            ("root_cause", incident.root_cause),
        ]
        # Stable: at one order, the pipeline's kinds come first, then the features'.
        kinds = sorted([*PIPELINE_ITEM_KINDS, *context.feature_item_kinds], key=lambda k: k.order)
        items: list[CaseItem] = []
        for case in case_file.cases:
            for kind in kinds:
                for item in kind.items(self, case, context):
                    assert isinstance(item, CaseItem), f"{kind!r} made a {type(item).__name__}"
                    items.append(item)
        for item in items:
            item.user_properties.extend(properties)
            item.extra_keyword_matches.update(item.case.tags)
        return items

    def coverage(self) -> FileCoverage:
        """The file's action items and cases, for the session's action-item coverage."""
        case_file = self.case_file
        return {
            "incident": case_file.incident.id,
            "path": str(case_file.path),
            "cases": [case.id for case in case_file.cases],
            "action_items": [
                {
                    "id": item.id,
                    "priority": item.priority,
                    "text": item.text,
                    "covered_by": list(item.covered_by),
                    "line": item.line,
                }
                for item in case_file.action_items
            ],
        }


class RowItems:
    """One item per input row of a case with per-input checks."""

    order = ORDER_ROWS

    def items(
        self, collector: IncidentFile, case: CaseSpec, context: IncidentSession
    ) -> list[RowItem]:
        if not case.expect:
            return []
        return [
            RowItem.from_parent(
                collector, name=f"{case.id}[row-{row}]", case=case, row=row, context=context
            )
            for row in range(len(case.inputs))
        ]


class AggregateItems:
    """One item per case with aggregate checks."""

    order = ORDER_AGGREGATE

    def items(
        self, collector: IncidentFile, case: CaseSpec, context: IncidentSession
    ) -> list[AggregateItem]:
        if not case.expect_aggregate:
            return []
        return [
            AggregateItem.from_parent(
                collector, name=f"{case.id}[aggregate]", case=case, context=context
            )
        ]


class CatchItems:
    """The ``[catches]`` proof of each non-guard case, under ``--incident-verify-catches``."""

    order = ORDER_CATCHES

    def items(
        self, collector: IncidentFile, case: CaseSpec, context: IncidentSession
    ) -> list[CatchItem]:
        if not context.verify_catches or case.guard:
            return []
        return [
            CatchItem.from_parent(collector, name=f"{case.id}[catches]", case=case, context=context)
        ]


PIPELINE_ITEM_KINDS: tuple[ItemKind, ...] = (RowItems(), AggregateItems(), CatchItems())


class CaseItem(pytest.Item):
    """Shared behaviour of the items of one case."""

    kind = "case"

    def __init__(self, *, case: CaseSpec, context: IncidentSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.context = context
        self.model_ref: str | None = None
        self.outcome_details: dict[str, Any] = {}

    @property
    def parent_file(self) -> IncidentFile:
        """The case file node the item was collected from."""
        assert isinstance(self.parent, IncidentFile)
        return self.parent

    @property
    def case_file(self) -> CaseFile:
        return self.parent_file.case_file

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, self.case.line - 1, f"{self.case_file.incident.id}::{self.name}"

    def report_data(self) -> ReportData:
        incident = self.case_file.incident
        return {
            "kind": self.kind,
            "file": self.parent.nodeid if self.parent else "",
            "incident": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "root_cause": incident.root_cause,
            "case": self.case.id,
            "model": self.model_ref,
            **self.outcome_details,
        }

    def plan_outputs(self) -> None:
        """Tell the batch runner, in collection order, which outputs this item will ask for."""
        try:
            ref = self.context.models.candidate(self.case_file.family)
        except ModelUnavailable:
            return
        # The known-good outputs explain failures; planned now so they too come in batches,
        # though computed only if some failure asks for them.
        for planned in (ref, self.case_file.known_good.ref):
            for row in self.rows_needed():
                self.context.runner.plan(planned, self.case.inputs, row)

    def rows_needed(self) -> range:
        return range(len(self.case.inputs))

    def candidate_ref(self) -> str:
        try:
            ref = self.context.models.candidate(self.case_file.family)
        except ModelUnavailable as exc:
            raise CaseFailure(str(exc)) from None
        self.model_ref = ref
        return ref

    def check_pins(self, ref: str, *, required_refs: tuple[str, ...] = ()) -> None:
        """Fail before any model output is used when a pin, a dataset or the models' identity is off.

        Pins come from the case file (known-good, known-bad) and from the candidate's
        ``=sha256:`` in ``--incident-model`` / ``incident_candidates``.
        """
        problem = self.context.case_file_problem(self.case_file)
        if problem:
            raise CaseFailure(problem)
        models = self.context.models
        under_test = (ref, *required_refs)
        for used in dict.fromkeys(under_test):
            expected = models.candidate_pin(used)
            if expected is not None:
                problem = self.context.pin_problem(
                    used,
                    expected,
                    required=True,
                    pinned_by="the candidate pin (--incident-model / incident_candidates)",
                )
                if problem:
                    raise CaseFailure(problem)
        pins = self.case_file.pins()
        for pinned in sorted(pins):
            problem = self.context.pin_problem(pinned, pins[pinned], required=pinned in under_test)
            if problem:
                raise CaseFailure(problem)
        known_bad = self.case_file.known_bad
        file_refs = (self.case_file.known_good.ref, *((known_bad.ref,) if known_bad else ()))
        problem = models.identity_problem((*under_test, *file_refs))
        if problem:
            raise CaseFailure(problem)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailure):
            return str(excinfo.value)
        # A model, loader or custom check raised: the user's frames, as --tb asks, never ours.
        if self.config.getoption("tbstyle", "auto") == "native" and not self.config.getoption(
            "fulltrace", False
        ):
            return native_text(excinfo)
        return super().repr_failure(excinfo, style=style)

    def _traceback_filter(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        return user_traceback(excinfo)

    def heading(self, ref: str, where: str) -> list[str]:
        incident = self.case_file.incident
        return [
            f"incident {incident.id} ({incident.severity}, {incident.root_cause}): {incident.title}",
            f"case {self.case.id} · {where} · model {ref}",
        ]

    def failure_notes(self, ref: str, failures: list[tuple[CheckSpec, str]]) -> list[str]:
        """Lines features add to a failed test's message (where the candidate's outputs were kept)."""
        notes = self.config.hook.pytest_airecovery_failure_note(
            item=self, ref=ref, failures=failures
        )
        return [note for note in notes if note]

    def reference_output(self, row: int) -> Any:
        """The known-good output of one input, for checks that compare against it."""
        try:
            return self.context.runner.output(self.case_file.known_good.ref, self.case.inputs, row)
        except OutputFailure as exc:
            raise SubjectError(f"the known-good output is unavailable: {exc}") from None

    def known_good_line(self, ref: str, row: int) -> str | None:
        good = self.case_file.known_good.ref
        if good == ref:
            return None
        try:
            output = self.context.runner.output(good, self.case.inputs, row)
        except OutputFailure as exc:
            return f"known-good {good}: unavailable ({exc})"
        return f"known-good {good}: {describe_output(output)}"


def run_input_checks(
    checks: list[CheckSpec], output: Any, row: Row, registry: Any
) -> list[tuple[CheckSpec, str]]:
    failures = []
    for check in checks:
        definition = registry.get(check.name)
        try:
            subject = subject_of(output, check.field, definition.default_field)
            message = definition.func(subject, check.arg, row)
        except (SubjectError, KeyError, TypeError, ValueError) as exc:
            message = f"cannot check this output: {exc}"
        if message:
            failures.append((check, message))
    return failures


def run_aggregate_checks(
    checks: list[CheckSpec], outputs: list[Any], rows: Rows, registry: Any
) -> tuple[list[tuple[CheckSpec, str]], dict[str, Any]]:
    failures = []
    measured: dict[str, Any] = {}
    for check in checks:
        definition = registry.get(check.name)
        try:
            subjects = [
                subject_of(output, check.field, definition.default_field) for output in outputs
            ]
            message, value = definition.func(subjects, check.arg, rows)
        except (SubjectError, KeyError, TypeError, ValueError) as exc:
            message, value = f"cannot check these outputs: {exc}", None
        # Two checks of one name in a case keep both values: the second is keyed name@line.
        measured[check.name if check.name not in measured else f"{check.name}@{check.line}"] = value
        if message:
            failures.append((check, message))
    return failures, measured


class RowItem(CaseItem):
    """One input row of a case, checked by the case's per-input checks."""

    kind = "row"

    def __init__(self, *, row: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row = row
        self.outcome_details = {"row": row}

    def rows_needed(self) -> range:
        return range(self.row, self.row + 1)

    def runtest(self) -> None:
        ref = self.candidate_ref()
        self.check_pins(ref)
        source = self.case.inputs
        try:
            output = self.context.runner.output(ref, source, self.row)
        except OutputFailure as exc:
            raise CaseFailure(
                "\n".join([str(exc), *self.heading(ref, source.row_label(self.row))])
            ) from None
        row = Row(source, self.row, self.reference_output)
        failures = run_input_checks(self.case.expect, output, row, self.context.registry)
        if failures:
            lines = [headline(failures), *self.heading(ref, source.row_label(self.row))]
            lines += failure_text(self.case_file.path.name, failures, got=describe_output(output))
            known_good = self.known_good_line(ref, self.row)
            if known_good:
                lines.append(known_good)
            lines.extend(self.failure_notes(ref, failures))
            raise CaseFailure("\n".join(lines))


class AggregateItem(CaseItem):
    """All rows of a case at once, checked by rates and means."""

    kind = "aggregate"

    def runtest(self) -> None:
        ref = self.candidate_ref()
        self.check_pins(ref)
        source = self.case.inputs
        where = f"{len(source)} inputs of {source.description}"
        try:
            outputs = self.context.runner.outputs(ref, source, range(len(source)))
        except OutputFailure as exc:
            raise CaseFailure("\n".join([str(exc), *self.heading(ref, where)])) from None
        failures, measured = run_aggregate_checks(
            self.case.expect_aggregate,
            outputs,
            Rows(source, self.reference_output),
            self.context.registry,
        )
        self.outcome_details = {"measured": measured}
        if failures:
            lines = [headline(failures), *self.heading(ref, where)]
            lines += failure_text(self.case_file.path.name, failures)
            good = self.case_file.known_good.ref
            if good != ref:
                try:
                    good_outputs = self.context.runner.outputs(good, source, range(len(source)))
                    _, good_measured = run_aggregate_checks(
                        [check for check, _ in failures],
                        good_outputs,
                        Rows(source, self.reference_output),
                        self.context.registry,
                    )
                    shown = ", ".join(
                        f"{name} {_fmt(value)}" for name, value in good_measured.items()
                    )
                    lines.append(f"known-good {good}: {shown}")
                except OutputFailure as exc:
                    lines.append(f"known-good {good}: unavailable ({exc})")
            lines.extend(self.failure_notes(ref, failures))
            raise CaseFailure("\n".join(lines))


class CatchItem(CaseItem):
    """Proof that the case would have caught the incident: fails on known-bad, passes on known-good."""

    kind = "catch"

    def plan_outputs(self) -> None:
        for spec in (self.case_file.known_bad, self.case_file.known_good):
            if spec is not None:
                for row in self.rows_needed():
                    self.context.runner.plan(spec.ref, self.case.inputs, row)

    def runtest(self) -> None:
        bad_spec = self.case_file.known_bad
        good = self.case_file.known_good.ref
        if bad_spec is None:
            raise CaseFailure(
                f"case {self.case.id}: cannot verify the catch: the case file names no known_bad model"
            )
        bad = bad_spec.ref
        self.model_ref = bad
        self._refuse_one_model(good, bad)
        self.check_pins(bad, required_refs=(bad, good))
        bad_failures = self._failures(bad)
        good_failures = self._failures(good)
        caught = bool(bad_failures) and not good_failures
        self.outcome_details = {
            "known_bad": bad,
            "known_good": good,
            "caught": caught,
            "known_bad_failures": len(bad_failures),
            "known_good_failures": len(good_failures),
        }
        if caught:
            return
        incident = self.case_file.incident
        lines = [
            f"incident {incident.id}: case {self.case.id} cannot prove it catches the incident"
        ]
        if not bad_failures:
            lines.append(
                f"does not discriminate: every check passes on the known-bad model {bad}, "
                "so this case would not have caught the incident"
            )
        if good_failures:
            lines.append(
                f"fails on the known-good model {good} ({len(good_failures)} problem(s)), e.g.:"
            )
            lines.extend(f"  {text}" for text in good_failures[:3])
        raise CaseFailure("\n".join(lines))

    def _refuse_one_model(self, good: str, bad: str) -> None:
        """A case cannot prove it catches anything when known-good and known-bad are one model."""
        same = good == bad
        if not same:
            try:
                same = self.context.models.get(good) is self.context.models.get(bad)
            except ModelUnavailable:
                same = False  # reported by the pin and output checks that follow
        if same:
            raise CaseFailure(
                f"incident {self.case_file.incident.id}: case {self.case.id} cannot prove it catches "
                f"the incident: known-good {good} and known-bad {bad} are the same model, so no "
                "case can pass on one and fail on the other"
            )

    def _failures(self, ref: str) -> list[str]:
        """Every failing check of the whole case against ``ref``; model errors count as failures."""
        source = self.case.inputs
        registry = self.context.registry
        problems: list[str] = []
        try:
            outputs = self.context.runner.outputs(ref, source, range(len(source)))
        except OutputFailure as exc:
            return [f"model error: {exc}"]
        if self.case.expect:
            for row, output in enumerate(outputs):
                for check, message in run_input_checks(
                    self.case.expect, output, Row(source, row, self.reference_output), registry
                ):
                    problems.append(f"row {row}: {check.name}: {message}")
        if self.case.expect_aggregate:
            failures, _ = run_aggregate_checks(
                self.case.expect_aggregate, outputs, Rows(source, self.reference_output), registry
            )
            problems.extend(f"{check.name}: {message}" for check, message in failures)
        return problems


def headline(failures: list[tuple[CheckSpec, str]]) -> str:
    """The first line, which pytest's short summary shows: the first failed check in brief."""
    check, message = failures[0]
    more = (
        f" (+{len(failures) - 1} more failed check{'s' if len(failures) > 2 else ''})"
        if len(failures) > 1
        else ""
    )
    return f"{check.name}: {message}{more}"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else repr(value)

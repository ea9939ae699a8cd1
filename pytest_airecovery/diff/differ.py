"""What the diff fixtures do: resolve model refs, get outputs, use or write recordings, diff.

Refs come from, in order: the ``incident_diff`` marker (``known_good=``, ``candidate=``,
``case_file=``, ``family=``), the case file's ``models.known_good``, then ``--incident-known-good``
/ the ``incident_known_good`` ini lines for the known-good model and the usual candidate
resolution (``--incident-model``, ``incident_candidates``, hooks) for the candidate. Models load
through the session's model provider, and outputs come through its batch runner, so they are
batched and cached like the outputs of case-file items.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pytest_airecovery.cases.changes import FailedOutput
from pytest_airecovery.cases.paths import path_policy
from pytest_airecovery.diff.result import BehaviourDiff

MARKER = "incident_diff"
RECORDINGS_DIR = "recordings"
REPORT_MAX_INPUTS = (
    10_000  # changed inputs listed one by one on the report; summaries are always whole
)
_CASE_FILES: pytest.StashKey[dict[Path, Any]] = pytest.StashKey()


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


def _state(config: pytest.Config) -> Any:
    from pytest_airecovery.cases.session import incident_session

    return incident_session(config)


def record_mode(config: pytest.Config) -> str | None:
    """``fail`` (rewrite and fail), ``pass`` (rewrite and pass) or ``None`` (use recordings)."""
    if config.getoption("incident_record_all", default=False):
        return "pass"
    if config.getoption("incident_record", default=False):
        return "fail"
    return None


def load_case_file(config: pytest.Config, path: str | Path) -> Any:
    from pytest_airecovery.cases.loader import CaseFileError, load_options
    from pytest_airecovery.cases.loader import load_case_file as load

    resolved = (config.rootpath / path).resolve()
    cache = config.stash.setdefault(_CASE_FILES, {})
    if resolved not in cache:
        state = _state(config)
        try:
            cache[resolved] = load(
                resolved,
                shown_as=str(path),
                check_lookup=state.registry.get,
                parsed_cache=state.parsed_cache,
                **load_options(config),
            )
        except (CaseFileError, OSError) as exc:
            _fail(f"cannot load case file {path}: {exc}")
    return cache[resolved]


class DiffModel:
    """A model as the diff fixtures see it: a ref, its outputs through the batch runner, or direct runs."""

    def __init__(self, config: pytest.Config, ref: str) -> None:
        self.config = config
        self.ref = ref

    def __repr__(self) -> str:
        return f"DiffModel({self.ref!r})"

    @property
    def model(self) -> Any:
        from pytest_airecovery.cases.session import ModelUnavailable

        try:
            return _state(self.config).models.get(self.ref)
        except ModelUnavailable as exc:
            _fail(str(exc))

    def outputs(self, inputs: Any) -> list[Any]:
        """One output per input, batched and cached; an input without output becomes a FailedOutput."""
        from pytest_airecovery.cases.batching import OutputFailure

        source = _as_source(inputs)
        self.model  # noqa: B018 - an unloadable model fails the test here, with the loader's message
        runner = _state(self.config).runner
        for index in range(len(source)):
            runner.plan(self.ref, source, index)
        found: list[Any] = []
        for index in range(len(source)):
            try:
                found.append(runner.output(self.ref, source, index))
            except OutputFailure as exc:
                found.append(FailedOutput(str(exc)))
        return found

    def run(self, inputs: Any) -> list[Any]:
        """Call the model afresh (no cache), in batches: what repeated and determinism runs need."""
        from pytest_airecovery.cases.batching import DEFAULT_BATCH_SIZE
        from pytest_airecovery.cases.plain import to_plain

        source = _as_source(inputs)
        model = self.model
        size = getattr(model, "batch_size", None) or DEFAULT_BATCH_SIZE
        values = [source.value(index) for index in range(len(source))]
        found: list[Any] = []
        for start in range(0, len(values), size):
            batch = values[start : start + size]
            try:
                outputs = [to_plain(output) for output in model(batch)]
            except Exception as exc:  # noqa: BLE001 - a failing batch is a finding of the diff
                outputs = [
                    FailedOutput(f"model {self.ref} raised {type(exc).__name__}: {exc}")
                ] * len(batch)
            if len(outputs) != len(batch):
                outputs = [
                    FailedOutput(
                        f"model {self.ref} returned {len(outputs)} outputs for {len(batch)} inputs"
                    )
                ] * len(batch)
            found.extend(outputs)
        return found


def _as_source(inputs: Any) -> Any:
    from pytest_airecovery.cases.sources import InlineSource, InputSource

    if isinstance(inputs, InputSource):
        return inputs
    return InlineSource(list(inputs))


def _marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    return dict(marker.kwargs) if marker is not None else {}


def _configured_known_good(config: pytest.Config) -> dict[str, str]:
    from pytest_airecovery.models import ModelRef, ModelRefError

    refs = config.getoption("incident_known_good", default=None) or config.getini(
        "incident_known_good"
    )
    found: dict[str, str] = {}
    for ref in refs:
        try:
            found[ModelRef.parse(ref).family] = ref
        except ModelRefError as exc:
            raise pytest.UsageError(f"--incident-known-good / incident_known_good: {exc}") from None
    return found


def _family(request: pytest.FixtureRequest, marks: dict[str, Any]) -> str:
    if marks.get("family"):
        return str(marks["family"])
    for key in ("known_good", "candidate"):
        if marks.get(key):
            return str(marks[key]).partition("@")[0]
    if marks.get("case_file"):
        return str(load_case_file(request.config, marks["case_file"]).family)
    families = sorted(_configured_known_good(request.config))
    if len(families) == 1:
        return families[0]
    _fail(
        "which model family? mark the test @pytest.mark.incident_diff(family=...), "
        "(known_good=..., candidate=...) or (case_file=...), or set one --incident-known-good REF"
    )


def known_good_ref(request: pytest.FixtureRequest) -> str:
    marks = _marker(request)
    if marks.get("known_good"):
        return str(marks["known_good"])
    if marks.get("case_file"):
        return str(load_case_file(request.config, marks["case_file"]).known_good.ref)
    family = _family(request, marks)
    configured = _configured_known_good(request.config)
    if family in configured:
        return configured[family]
    _fail(
        f"no known-good model for family {family!r}: pass --incident-known-good {family}@VERSION, "
        "set incident_known_good in the pytest configuration, or mark the test incident_diff(known_good=...)"
    )


def candidate_ref(request: pytest.FixtureRequest, family: str | None = None) -> str:
    from pytest_airecovery.cases.session import ModelUnavailable

    marks = _marker(request)
    if marks.get("candidate"):
        return str(marks["candidate"])
    try:
        return str(_state(request.config).models.candidate(family or _family(request, marks)))
    except ModelUnavailable as exc:
        _fail(str(exc))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@=-]+", "_", name).strip("_") or "diff"


class Differ:
    """The ``behaviour_diff`` fixture: call it with inputs, or a case-file case, to get a diff."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.config = request.config
        self._names: dict[str, int] = {}

    @property
    def known_good(self) -> DiffModel:
        return DiffModel(self.config, known_good_ref(self.request))

    @property
    def candidate(self) -> DiffModel:
        return DiffModel(self.config, candidate_ref(self.request))

    def __call__(
        self,
        inputs: Any,
        *,
        ids: list[str] | None = None,
        tolerance: float | dict[str, float] | None = None,
        repeats: int = 1,
        name: str | None = None,
        label_field: str = "label",
        known_good: DiffModel | str | None = None,
        candidate: DiffModel | str | None = None,
    ) -> BehaviourDiff:
        """Diff the candidate against the known-good model on ``inputs`` (a list or an InputSource).

        ``repeats`` > 1 runs each model that many times, uncached, and counts a difference only
        beyond the run-to-run variation. ``name`` tells several diffs in one test apart in their
        recording file names.
        """
        good = self._model(known_good, lambda: self.known_good)
        cand = self._model(candidate, lambda: self.candidate)
        source = _as_source(inputs)
        test_path = Path(str(self.request.node.path))
        folder = test_path.parent / RECORDINGS_DIR / test_path.stem
        path = folder / (_safe(self._unique(name or self.request.node.name)) + ".jsonl")
        return self._diff(
            good,
            cand,
            source,
            ids,
            path,
            tolerance=tolerance,
            repeats=repeats,
            label_field=label_field,
        )

    def case(
        self,
        case_file: str | Path,
        case_id: str,
        *,
        tolerance: float | dict[str, float] | None = None,
        repeats: int = 1,
        label_field: str = "label",
        candidate: DiffModel | str | None = None,
    ) -> BehaviourDiff:
        """Diff on a case-file case's inputs, against that file's known-good model."""
        loaded = load_case_file(self.config, case_file)
        case = next((c for c in loaded.cases if c.id == case_id), None)
        if case is None:
            _fail(
                f"{case_file} has no case {case_id!r} (cases: {', '.join(c.id for c in loaded.cases)})"
            )
        good = DiffModel(self.config, loaded.known_good.ref)
        cand = self._model(
            candidate, lambda: DiffModel(self.config, candidate_ref(self.request, loaded.family))
        )
        ids = [f"{case_id}[row-{row}]" for row in range(len(case.inputs))]
        path = loaded.path.parent / RECORDINGS_DIR / loaded.path.stem / f"{_safe(case_id)}.jsonl"
        return self._diff(
            good,
            cand,
            case.inputs,
            ids,
            path,
            tolerance=tolerance,
            repeats=repeats,
            label_field=label_field,
        )

    def determinism(
        self, inputs: Any, *, model: DiffModel | str | None = None, runs: int = 2, **options: Any
    ) -> BehaviourDiff:
        """Diff a model (the candidate by default) against itself over ``runs`` fresh runs."""
        from pytest_airecovery.diff.engine import diff_runs

        target = self._model(model, lambda: self.candidate)
        outputs = [target.run(inputs) for _ in range(max(2, runs))]
        diff = diff_runs(
            [outputs[0]],
            [outputs[-1]],
            known_good_ref=f"{target.ref} run 1",
            candidate_ref=f"{target.ref} run {len(outputs)}",
            **options,
        )
        return self._finish(diff)

    def _model(self, given: DiffModel | str | None, default: Any) -> DiffModel:
        """``given`` as a DiffModel, else ``default()`` (resolved only when needed: it may fail)."""
        if given is None:
            return default()
        return given if isinstance(given, DiffModel) else DiffModel(self.config, str(given))

    def _unique(self, name: str) -> str:
        count = self._names.get(name, 0) + 1
        self._names[name] = count
        return name if count == 1 else f"{name}-{count}"

    def _diff(
        self,
        good: DiffModel,
        cand: DiffModel,
        source: Any,
        ids: list[str] | None,
        path: Path,
        *,
        tolerance: Any,
        repeats: int,
        label_field: str,
    ) -> BehaviourDiff:
        from pytest_airecovery.diff import recording
        from pytest_airecovery.diff.engine import diff_runs

        values = [source.value(index) for index in range(len(source))]
        digests = recording.short_digests(values)
        good_outputs, recorded = self._known_good_outputs(good, source, digests, path, repeats)
        cand_runs = (
            [cand.outputs(source)] if repeats <= 1 else [cand.run(source) for _ in range(repeats)]
        )
        diff = diff_runs(
            good_outputs,
            cand_runs,
            ids=ids,
            tolerance=tolerance,
            label_field=label_field,
            known_good_ref=good.ref,
            candidate_ref=cand.ref,
        )
        if recorded is not None:
            diff.recording = self._shown(recorded)
            obtained = recording.obtained_path(recorded)

            def write_obtained(_: BehaviourDiff) -> str:
                try:
                    recording.write(
                        obtained, cand.ref, digests, cand_runs[0], policy=path_policy(self.config)
                    )
                except recording.RecordingError as exc:
                    return f"candidate outputs not written: {exc}"
                return f"candidate outputs written to {self._shown(obtained)}"

            diff.on_failure.append(write_obtained)
        return self._finish(diff)

    def _finish(self, diff: BehaviourDiff) -> BehaviourDiff:
        from pytest_airecovery.diff.render import use_colour

        diff.colour = use_colour(self.config)
        # Rides on the test report (and so across xdist) into JUnit XML and report plugins.
        report = diff.to_json(max_inputs=REPORT_MAX_INPUTS)
        self.request.node.user_properties.append(
            ("behaviour_diff", json.dumps(report, sort_keys=True, ensure_ascii=False))
        )
        return diff

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.config.rootpath))
        except ValueError:
            return str(path)

    def _known_good_outputs(
        self, good: DiffModel, source: Any, digests: list[str], path: Path, repeats: int
    ) -> tuple[list[list[Any]], Path | None]:
        """The known-good runs: live, from the recording, or live and (re)recorded under a flag."""
        from pytest_airecovery.diff import recording

        mode = record_mode(self.config)
        if mode is not None:
            live = good.outputs(source)
            failed = [output for output in live if isinstance(output, FailedOutput)]
            if failed:
                _fail(f"cannot record {good.ref}: {failed[0].message}")
            existed = path.exists()
            try:
                existing = recording.read(path) if existed else None
            except recording.RecordingError:
                existing = None
            if existing is None or not existing.matches(good.ref, digests, live):
                try:
                    recording.write(path, good.ref, digests, live, policy=path_policy(self.config))
                except recording.RecordingError as exc:
                    _fail(str(exc))
                if mode == "fail":
                    verb = "rewrote" if existed else "wrote"
                    _fail(
                        f"{verb} the known-good recording {self._shown(path)} ({good.ref}, {len(live)} outputs) "
                        "under --incident-record: review and commit it, then run without the flag"
                    )
            return [live], path
        if path.exists():
            try:
                found = recording.read(path)
            except recording.RecordingError as exc:
                _fail(str(exc))
            if found.model != good.ref:
                _fail(
                    f"the recording {self._shown(path)} holds {found.model}, but the known-good model here is "
                    f"{good.ref}: {recording.RERECORD_HINT}"
                )
            if found.digests != digests:
                first = next(
                    # Not strict: the lengths may differ; then the shorter one ends first.
                    (
                        i
                        for i, (a, b) in enumerate(zip(found.digests, digests, strict=False))
                        if a != b
                    ),
                    min(len(found.digests), len(digests)),
                )
                _fail(
                    f"the recording {self._shown(path)} was made for other inputs ({len(found.digests)} recorded, "
                    f"{len(digests)} now; first difference at input {first}): {recording.RERECORD_HINT}"
                )
            return [found.outputs], path
        if repeats > 1:
            return [good.run(source) for _ in range(repeats)], None
        return [good.outputs(source)], None

"""Load a case file: parse safely, validate against the shipped JSON Schema, build typed specs.

Every problem becomes a :class:`CaseFileError` naming the file, the line and the field, so the
plugin can turn it into a collection error for this file alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_airecovery.cases.limits import DEFAULT_LIMITS, Limits
from pytest_airecovery.cases.paths import NO_POLICY, PathPolicy, PathPolicyError
from pytest_airecovery.cases.sources import InlineSource, InputSource, JsonlSource, NpzSource
from pytest_airecovery.cases.spec import (
    ActionItem,
    CaseFile,
    CaseSpec,
    CheckSpec,
    DatasetSpec,
    IncidentSpec,
    ModelSpec,
)
from pytest_airecovery.cases.yamlpos import LoadError, Positions, decode_text, load_json, load_yaml

if TYPE_CHECKING:
    from pytest_airecovery.cases.extensions import CaseBlock

SCHEMA_PATH = Path(__file__).with_name("case-file.schema.json")
CHECK_OPTIONS = ("field", "why")
# The keys of a case the pipeline reads itself; any other comes with a feature's block parser.
PIPELINE_CASE_KEYS = frozenset(
    {
        "id",
        "description",
        "input",
        "inputs",
        "columns",
        "expect",
        "expect_aggregate",
        "tags",
        "guard",
    }
)


class CaseFileError(Exception):
    def __init__(self, path: Path | str, line: int, field: str, message: str) -> None:
        super().__init__(f"{path}:{line}: {field + ': ' if field else ''}{message}")
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def schema_digest() -> str:
    return hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()[:16]


def field_name(path: str) -> str:
    """``cases/3/expect/0`` -> ``cases[3].expect[0]``."""
    out = ""
    for part in path.split("/") if path else []:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def line_of(positions: Positions, path: str) -> int:
    while True:
        if path in positions:
            return positions[path]
        if not path:
            return 1
        path = path.rpartition("/")[0]


ParsedCache = Any  # object with get(path, digest) -> (data, positions) | None and put(...)


def read_bounded(path: Path, shown_as: str, limit: int) -> bytes:
    """The file's bytes, refusing one larger than ``limit`` before reading it all.

    Reads at most ``limit + 1`` bytes, so a file that grows, a FIFO or a symlink to /dev/zero
    costs no more than the limit either.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise CaseFileError(
            shown_as, 1, "", f"cannot read the file: {exc.strerror or exc}"
        ) from None
    if len(raw) > limit:
        raise CaseFileError(
            shown_as,
            1,
            "",
            f"the file is larger than {limit} bytes (raise the ini setting incident_max_case_file_bytes "
            "if this is intended)",
        )
    return raw


def parse_and_validate(
    path: Path,
    shown_as: str,
    parsed_cache: ParsedCache | None = None,
    *,
    limits: Limits | None = None,
) -> tuple[dict[str, Any], Positions]:
    """Parse a case file and check it against the schema; served from the cache when unchanged."""
    limits = limits or DEFAULT_LIMITS
    raw = read_bounded(path, shown_as, limits.case_file_bytes)
    digest = hashlib.sha256(raw).hexdigest()
    if parsed_cache is not None:
        hit = parsed_cache.get(str(path), digest)
        if hit is not None:
            return hit
    try:
        text = decode_text(raw)
        if path.suffix == ".json":
            data, positions = load_json(text, limits)
        else:
            data, positions = load_yaml(text, limits)
    except LoadError as exc:
        raise CaseFileError(shown_as, exc.line, field_name(exc.field), exc.message) from None
    if not isinstance(data, dict):
        raise CaseFileError(
            shown_as, 1, "", f"expected a mapping at the top level, got {type(data).__name__}"
        )
    _raise_schema_errors(data, positions, shown_as)
    _raise_bad_timestamps(data, positions, shown_as)
    if parsed_cache is not None:
        parsed_cache.put(str(path), digest, data, positions)
    return data, positions


def _raise_schema_errors(data: dict[str, Any], positions: Positions, shown_as: str) -> None:
    import jsonschema

    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    best = jsonschema.exceptions.best_match(errors)
    path = "/".join(str(part) for part in best.absolute_path)
    message = _required_alternatives(best) or _single_line(best) or best.message
    if len(message) > 300:
        message = message[:297] + "..."
    more = (
        f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        if len(errors) > 1
        else ""
    )
    raise CaseFileError(
        shown_as, line_of(positions, path), field_name(path) or "(top level)", message + more
    )


def _single_line(error: Any) -> str | None:
    """Plain words for the schema's "no line breaks" rule (identifiers are single-line)."""
    if error.validator == "not" and error.validator_value == {"pattern": "[\\r\\n]"}:
        return f"{error.instance!r} spans several lines; identifiers are a single line"
    return None


TIMESTAMP_FIELDS = ("detected_at", "resolved_at")


# The schema's timestamp shape, with its parts captured so each can be range-checked. ASCII
# digits only: Python's \d also matches other scripts' digits, which int() would accept.
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?"
    r"(?:Z|[+-]([0-9]{2}):?([0-9]{2}))?)?"
)


def check_timestamp(value: str) -> None:
    """Raise ValueError unless ``value`` is a real date and time (not ``2026-13-45T99:99:99Z``).

    Parsed by hand rather than by ``datetime.fromisoformat``, which on Python 3.10 rejects the
    ``Z`` suffix the schema allows.
    """
    from datetime import datetime

    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise ValueError("not an ISO 8601 date and time")
    year, month, day, hour, minute, second, off_hours, off_minutes = (
        int(part) if part is not None else 0 for part in match.groups()
    )
    datetime(year, month, day, hour, minute, second)
    if off_hours > 23 or off_minutes > 59:
        raise ValueError("the UTC offset must be at most 23:59")


def _raise_bad_timestamps(data: dict[str, Any], positions: Positions, shown_as: str) -> None:
    """The schema checks the shape of a timestamp; this checks it is a real date and time."""
    incident = data.get("incident", {})
    for name in TIMESTAMP_FIELDS:
        value = incident.get(name)
        if not isinstance(value, str):
            continue
        try:
            check_timestamp(value)
        except ValueError as exc:
            raise CaseFileError(
                shown_as,
                line_of(positions, f"incident/{name}"),
                f"incident.{name}",
                f"{value!r} is not a valid date and time ({exc})",
            ) from None


def _required_alternatives(error: Any) -> str | None:
    """Plain words for "one of these keys" rules, which jsonschema words poorly."""
    if error.validator not in ("oneOf", "anyOf"):
        return None
    options = error.validator_value
    if not all(
        isinstance(o, dict) and set(o) == {"required"} and len(o["required"]) == 1 for o in options
    ):
        return None
    names = " or ".join(f"`{o['required'][0]}`" for o in options)
    return f"needs {'exactly one' if error.validator == 'oneOf' else 'at least one'} of {names}"


def load_case_file(
    path: Path,
    *,
    shown_as: str,
    check_lookup: Callable[[str], Any],
    parsed_cache: ParsedCache | None = None,
    blocks: Mapping[str, CaseBlock] | None = None,
    limits: Limits | None = None,
    paths: PathPolicy | None = None,
) -> CaseFile:
    """Load, validate and type one case file.

    ``limits`` bound sizes (defaults when omitted); ``paths`` is the run's path policy, which
    input files must satisfy (``None``: no rootdir check, as for the CLI given explicit files).
    ``blocks`` parse the case keys features own (``adversarial:``); when omitted there are none,
    and such a key is an error (``pytest_airecovery.features.standalone_extensions()`` has them all).
    """
    data, positions = parse_and_validate(path, shown_as, parsed_cache, limits=limits)
    builder = _SpecBuilder(path, shown_as, positions, check_lookup)
    builder.blocks = blocks if blocks is not None else {}
    builder.limits = limits or DEFAULT_LIMITS
    builder.paths = paths or NO_POLICY
    return builder.case_file(data)


def load_options(config: Any) -> dict[str, Any]:
    """``limits`` and ``paths`` keyword arguments of :func:`load_case_file` for a pytest run."""
    from pytest_airecovery.cases.limits import limits_from_ini
    from pytest_airecovery.cases.paths import path_policy

    return {"limits": limits_from_ini(config), "paths": path_policy(config)}


class _SpecBuilder:
    def __init__(
        self, path: Path, shown_as: str, positions: Positions, check_lookup: Callable[[str], Any]
    ) -> None:
        self.path = path
        self.shown_as = shown_as
        self.positions = positions
        self.check_lookup = check_lookup
        self.blocks: Mapping[str, CaseBlock] = {}
        self.limits = DEFAULT_LIMITS
        self.paths = NO_POLICY

    def error(self, path: str, message: str) -> CaseFileError:
        return CaseFileError(
            self.shown_as, line_of(self.positions, path), field_name(path), message
        )

    def case_file(self, data: dict[str, Any]) -> CaseFile:
        incident = data["incident"]
        root_cause = incident["root_cause"]
        spec = IncidentSpec(
            id=incident["id"],
            title=incident["title"],
            severity=incident["severity"],
            root_cause=root_cause["category"],
            root_cause_summary=root_cause.get("summary", ""),
            detected_at=incident.get("detected_at"),
            resolved_at=incident.get("resolved_at"),
            pir=incident.get("pir"),
        )
        models = data["models"]
        known_good = _model_spec(models["known_good"])
        known_bad = _model_spec(models["known_bad"]) if "known_bad" in models else None
        if known_bad and known_bad.ref.partition("@")[0] != known_good.ref.partition("@")[0]:
            raise self.error(
                "models/known_bad", "known_good and known_bad must be of the same model family"
            )
        cases: list[CaseSpec] = []
        seen: dict[str, int] = {}
        for index, raw_case in enumerate(data["cases"]):
            case_path = f"cases/{index}"
            if raw_case["id"] in seen:
                raise self.error(
                    f"{case_path}/id",
                    f"duplicate case id {raw_case['id']!r} (first at line {seen[raw_case['id']]})",
                )
            seen[raw_case["id"]] = line_of(self.positions, case_path)
            cases.append(self.case(raw_case, case_path))
        action_items = [
            self.action_item(item, f"action_items/{index}", seen, data)
            for index, item in enumerate(data.get("action_items", []))
        ]
        ids = [item.id for item in action_items]
        for index, item_id in enumerate(ids):
            if item_id in ids[:index]:
                raise self.error(
                    f"action_items/{index}/id", f"duplicate action item id {item_id!r}"
                )
        datasets = [
            self.dataset(raw, f"datasets/{index}")
            for index, raw in enumerate(data.get("datasets", []))
        ]
        return CaseFile(self.path, spec, known_good, known_bad, cases, action_items, datasets)

    def dataset(self, raw: dict[str, Any], path: str) -> DatasetSpec:
        for key in ("path", "manifest"):
            try:
                self.paths.check(self.path.parent / raw[key], what=f"dataset {key}", shown=raw[key])
            except PathPolicyError as exc:
                raise self.error(f"{path}/{key}", exc.message) from None
            if not (self.path.parent / raw[key]).exists():
                raise self.error(
                    f"{path}/{key}", f"{raw[key]} not found (paths are relative to the case file)"
                )
        return DatasetSpec(
            raw["path"], raw["manifest"], raw.get("merkle_root"), line_of(self.positions, path)
        )

    def case(self, raw: dict[str, Any], path: str) -> CaseSpec:
        source = self.inputs(raw, path)
        expect = [
            self.check(item, f"{path}/expect/{i}", "input", source)
            for i, item in enumerate(raw.get("expect", []))
        ]
        aggregate = [
            self.check(item, f"{path}/expect_aggregate/{i}", "aggregate", source)
            for i, item in enumerate(raw.get("expect_aggregate", []))
        ]
        return CaseSpec(
            id=raw["id"],
            line=line_of(self.positions, path),
            inputs=source,
            expect=expect,
            expect_aggregate=aggregate,
            description=raw.get("description", ""),
            tags=tuple(raw.get("tags", ())),
            guard=bool(raw.get("guard", False)),
            blocks=self.case_blocks(raw, path, source),
        )

    def case_blocks(self, raw: dict[str, Any], path: str, source: InputSource) -> dict[str, object]:
        """The case keys a feature parses (``adversarial:``), each by that feature's block parser."""
        from pytest_airecovery.cases.extensions import BlockContext, CaseBlockError

        parsed: dict[str, object] = {}
        for key in sorted(set(raw) - PIPELINE_CASE_KEYS - set(self.blocks)):
            # Schema-valid but no plugin reads it: running the case without it could pass falsely.
            raise self.error(
                f"{path}/{key}",
                f"no plugin reads `{key}` in this run (is its feature plugin disabled with -p no:...?)",
            )
        for key in sorted(set(raw) & set(self.blocks)):
            block_path = f"{path}/{key}"
            context = BlockContext(source, raw, line_of(self.positions, block_path))
            try:
                parsed[key] = self.blocks[key].parse(raw[key], context)
            except CaseBlockError as exc:
                raise self.error(f"{block_path}/{exc.where}".rstrip("/"), exc.message) from None
        return parsed

    def inputs(self, raw: dict[str, Any], path: str) -> InputSource:
        columns = raw.get("columns", {})
        if "input" in raw:
            values = [raw["input"]]
        elif isinstance(raw["inputs"], list):
            values = raw["inputs"]
        else:
            if columns:
                raise self.error(
                    f"{path}/columns", "columns come from the input file itself; drop `columns`"
                )
            return self.file_inputs(raw["inputs"], f"{path}/inputs")
        for name, column in columns.items():
            if len(column) != len(values):
                raise self.error(
                    f"{path}/columns/{name}",
                    f"column {name!r} has {len(column)} values for {len(values)} inputs",
                )
        return InlineSource(values, columns)

    def file_inputs(self, spec: dict[str, Any], path: str) -> InputSource:
        shown = spec["file"]
        try:
            data_path = self.paths.check(self.path.parent / shown, what="input file", shown=shown)
        except PathPolicyError as exc:
            raise self.error(f"{path}/file", exc.message) from None
        if data_path == self.path.resolve():
            raise self.error(f"{path}/file", f"input file {shown} is this case file itself")
        if not data_path.is_file():
            raise self.error(
                f"{path}/file", f"input file {shown} not found (looked at {data_path})"
            )
        input_bytes = self.limits.input_bytes
        try:
            if data_path.suffix == ".npz":
                if "field" in spec:
                    raise self.error(
                        f"{path}/field", "`field` is for .jsonl files; use `key` for .npz"
                    )
                return NpzSource(
                    data_path, spec.get("key"), spec.get("limit"), shown, max_bytes=input_bytes
                )
            if "key" in spec:
                raise self.error(f"{path}/key", "`key` is for .npz files; use `field` for .jsonl")
            return JsonlSource(
                data_path, spec.get("field"), spec.get("limit"), shown, max_bytes=input_bytes
            )
        except LoadError as exc:
            sub = exc.field.partition(".")[2]
            raise self.error(f"{path}/{sub}" if sub else path, exc.message) from None

    def check(self, raw: dict[str, Any], path: str, kind: str, source: InputSource) -> CheckSpec:
        names = [key for key in raw if key not in CHECK_OPTIONS]
        if len(names) != 1:
            found = ", ".join(names) if names else "none"
            raise self.error(path, f"a check names exactly one check (found: {found})")
        name = names[0]
        definition = self.check_lookup(name)
        if definition is None:
            raise self.error(f"{path}/{name}", f"unknown check {name!r}")
        if definition.kind != kind:
            where = "expect_aggregate" if definition.kind == "aggregate" else "expect"
            raise self.error(
                f"{path}/{name}", f"{name!r} is an {definition.kind} check: put it under `{where}`"
            )
        from pytest_airecovery.cases.checks import (
            CheckArgumentError,
            columns_read,
            validate_argument,
        )

        try:
            validate_argument(definition, raw[name])
        except CheckArgumentError as exc:
            raise self.error(f"{path}/{name}/{exc.where}".rstrip("/"), exc.message) from None
        for column in columns_read(name, raw[name]):
            if not source.has_column(column):
                available = ", ".join(source.columns()) or "none"
                raise self.error(
                    f"{path}/{name}",
                    f"column {column!r} not found in {source.description} (columns: {available})",
                )
        return CheckSpec(
            name=name,
            arg=raw[name],
            kind=kind,
            line=line_of(self.positions, path),
            field=raw.get("field"),
            why=raw.get("why"),
        )

    def action_item(
        self,
        raw: dict[str, Any],
        path: str,
        case_ids: dict[str, int],
        data: dict[str, Any] | None = None,
    ) -> ActionItem:
        from pytest_airecovery.cases.spec import covered_by_problem

        covered = tuple(raw.get("covered_by", ()))
        for index, entry in enumerate(covered):
            problem = covered_by_problem(
                entry, case_ids, data or {}
            )  # a case id, pin:... or dataset:...
            if problem:
                raise self.error(f"{path}/covered_by/{index}", problem)
        return ActionItem(
            raw["id"], raw["priority"], raw["text"], covered, line_of(self.positions, path)
        )


def _model_spec(raw: Any) -> ModelSpec:
    if isinstance(raw, str):
        return ModelSpec(raw)
    return ModelSpec(raw["ref"], raw.get("sha256"))

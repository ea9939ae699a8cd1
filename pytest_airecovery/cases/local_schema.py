"""JSON Schemas of `json_schema` checks: validated at collection, references resolved only locally.

A case file is often written from an incident report by someone else; its schema must not make
the test run fetch a URL or read a file elsewhere on the machine. References (``$ref``,
``$dynamicRef``) resolve only inside the schema itself (``#/$defs/...``, or a subschema's
``$id``) and to the JSON Schema meta-schemas that ship with jsonschema. Everything else is
refused: at collection, as an error naming the file, line and field, and again at run time by a
registry whose retrieve function refuses every URI.

jsonschema and referencing are imported inside the functions: importing the plugin stays cheap.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

REFERENCE_KEYWORDS = ("$ref", "$dynamicRef")


class SchemaProblem(Exception):
    """A schema that is invalid or refers outside itself; ``where`` is the path inside the schema."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{message} (at {where})" if where else message)
        self.where = where
        self.message = message


def _refuse(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    # Every retrieval ends here: no request is made and no file is opened.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs class; mypy misreads it


@lru_cache(maxsize=1)
def _registry() -> Any:
    from jsonschema_specifications import REGISTRY as META_SCHEMAS
    from referencing import Registry

    return META_SCHEMAS.combine(Registry(retrieve=_refuse))  # type: ignore[call-arg]  # attrs class


def local_validator(schema: Any) -> Any:
    """A draft 2020-12 validator for ``schema`` that resolves references only inside it."""
    import jsonschema

    if not isinstance(schema, dict):
        raise SchemaProblem("", f"a JSON Schema is a mapping, got {type(schema).__name__}")
    return jsonschema.Draft202012Validator(schema, registry=_registry())


_CHECKED: dict[
    int, tuple[Any, Any]
] = {}  # id(schema) -> (schema, validator): one check per case, not per row
MAX_CHECKED = 64


def checked_validator(schema: Any) -> Any:
    """:func:`check_schema`, then :func:`local_validator`, once per schema object."""
    hit = _CHECKED.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    check_schema(schema)
    validator = local_validator(schema)
    if len(_CHECKED) >= MAX_CHECKED:
        _CHECKED.clear()
    _CHECKED[id(schema)] = (schema, validator)  # holding the schema keeps its id from being reused
    return validator


def check_schema(schema: Any) -> None:
    """Raise :class:`SchemaProblem` if ``schema`` is not a valid schema or refers outside itself."""
    import jsonschema

    validator = local_validator(schema)
    meta = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
    try:
        error = jsonschema.exceptions.best_match(meta.iter_errors(schema))
        if error is not None:
            raise SchemaProblem(
                _pointer(error.absolute_path), f"invalid JSON Schema: {error.message}"
            )
        _check_references(validator, schema)
    except RecursionError:
        raise SchemaProblem("", "the schema is nested too deeply to check") from None


def _check_references(validator: Any, schema: dict[str, Any]) -> None:
    """Resolve every reference now, walking the schema's subschemas as referencing sees them."""
    from referencing.jsonschema import DRAFT202012

    root = DRAFT202012.create_resource(schema)
    resolver = _registry().resolver_with_root(root)
    pending: list[tuple[Any, Any, list[str]]] = [(resolver, root, [])]
    while pending:
        current, resource, path = pending.pop()
        contents = resource.contents
        if isinstance(contents, dict):
            for keyword in REFERENCE_KEYWORDS:
                reference = contents.get(keyword)
                if isinstance(reference, str):
                    _resolve(current, reference, path + [keyword])
        for sub in resource.subresources():
            pending.append((current.in_subresource(sub), sub, path + _step(contents, sub.contents)))


def _resolve(resolver: Any, reference: str, path: list[str]) -> None:
    try:
        resolver.lookup(reference)
    except Exception as exc:  # referencing's Unresolvable family: named, not raised on
        if type(exc).__module__.partition(".")[0] != "referencing":
            raise
        reason = (
            "only references inside the schema are followed"
            if "#" not in reference[:1]
            else str(exc)
        )
        raise SchemaProblem(
            "/".join(path), f"reference {reference!r} does not resolve: {reason}"
        ) from None


def _step(parent: Any, child: Any) -> list[str]:
    """The keys from ``parent`` to its subschema ``child`` (found by identity), for messages."""
    if isinstance(parent, dict):
        for key, value in parent.items():
            if value is child:
                return [str(key)]
            if isinstance(value, dict):
                for inner, item in value.items():
                    if item is child:
                        return [str(key), str(inner)]
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if item is child:
                        return [str(key), str(index)]
    return []


def _pointer(path: Any) -> str:
    return "/".join(str(part) for part in path)

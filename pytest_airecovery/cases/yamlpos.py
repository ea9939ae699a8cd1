"""Safe YAML/JSON loading that remembers the line of every value.

PyYAML's C parser composes the node graph; we build plain Python values from it ourselves so that
(1) nothing but plain data can come out: any tag outside the YAML core schema is an error, never an
object, (2) every mapping value and sequence item keeps its line, so errors and ``reportinfo`` can
point at the case's own line, and (3) an alias bomb is stopped by a budget instead of expanding
exponentially. Duplicate mapping keys are an error, not a silent overwrite.

Positions are keyed by path strings such as ``"cases/3/expect/0"`` so they survive a JSON cache.
"""

from __future__ import annotations

import json
from typing import Any

# How many nodes aliases may add by re-use before we call it an alias bomb. Legitimate anchors
# (shared defaults, merge keys) stay far below this; "billion laughs" files exceed it at once.
ALIAS_EXPANSION_BUDGET = 100_000

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_PLAIN_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}


class LoadError(Exception):
    """A file that cannot be read as a case file; carries the 1-based line where it went wrong."""

    def __init__(self, message: str, line: int = 1, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field


Positions = dict[str, int]


def decode_text(raw: bytes) -> str:
    """Decode UTF-8 (BOM allowed); a non-UTF-8 file is a LoadError at the offending line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError(
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line
        ) from None


def load_yaml(text: str) -> tuple[Any, Positions]:
    import yaml

    node, loader = _compose(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if node is not None and node.tag is None:
        # The C extension outlived a purge of the yaml package (pytester's in-process runs do
        # this) and no longer resolves tags; the pure-Python parser is unaffected.
        node, loader = _compose(text, yaml.SafeLoader)
    if node is None:
        raise LoadError("the file is empty")
    builder = _Builder(loader)
    positions: Positions = {"": node.start_mark.line + 1}
    value = builder.build(node, "", positions)
    return value, positions


def _compose(text: str, loader_cls: Any) -> tuple[Any, Any]:
    import yaml

    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise LoadError(f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return node, loader


def load_json(text: str) -> tuple[Any, Positions]:
    seen_dupes: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in pairs:
            if key in out:
                seen_dupes.append(key)
            out[key] = val
        return out

    try:
        value = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    positions = json_positions(text)
    if seen_dupes:
        raise LoadError(f"duplicate key {seen_dupes[0]!r}", 1, seen_dupes[0])
    return value, positions


def json_positions(text: str) -> Positions:
    """Lines of JSON values, found by composing the text with the YAML parser (JSON is YAML).

    Values themselves come from ``json`` (exact JSON semantics); if the YAML parser disagrees with
    some exotic JSON we lose only line numbers, never data.
    """
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    positions: Positions = {}
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        return {"": 1}
    finally:
        loader.dispose()
    if node is None:
        return {"": 1}
    stack: list[tuple[Any, str]] = [(node, "")]
    while stack:
        current, path = stack.pop()
        positions[path] = current.start_mark.line + 1
        prefix = f"{path}/" if path else ""
        if current.tag == _MAP or current.id == "mapping":
            for key_node, value_node in current.value:
                stack.append((value_node, prefix + str(key_node.value)))
        elif current.tag == _SEQ or current.id == "sequence":
            for index, item in enumerate(current.value):
                stack.append((item, f"{prefix}{index}"))
    return positions


class _Builder:
    """Turns a composed node graph into plain values, recording positions as it goes."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._in_progress: set[int] = set()
        self._built_once: set[int] = set()
        self._alias_budget = ALIAS_EXPANSION_BUDGET

    def build(self, node: Any, path: str, positions: Positions) -> Any:
        key = id(node)
        if key in self._in_progress:
            raise LoadError("recursive YAML alias", node.start_mark.line + 1, path)
        if key in self._built_once and node.id != "scalar":
            self._alias_budget -= _count_nodes(node)
            if self._alias_budget < 0:
                raise LoadError(
                    f"YAML aliases expand to more than {ALIAS_EXPANSION_BUDGET} nodes "
                    "(an alias bomb?)",
                    node.start_mark.line + 1,
                    path,
                )
        self._built_once.add(key)
        if node.id == "scalar":
            return self._scalar(node, path)
        self._in_progress.add(key)
        try:
            if node.id == "sequence":
                if node.tag != _SEQ:
                    raise _unsupported_tag(node, path)
                return self._sequence(node, path, positions)
            if node.tag != _MAP:
                raise _unsupported_tag(node, path)
            return self._mapping(node, path, positions)
        finally:
            self._in_progress.discard(key)

    def _sequence(self, node: Any, path: str, positions: Positions) -> list[Any]:
        prefix = f"{path}/" if path else ""
        out = []
        for index, item in enumerate(node.value):
            item_path = f"{prefix}{index}"
            positions[item_path] = item.start_mark.line + 1
            out.append(self.build(item, item_path, positions))
        return out

    def _mapping(self, node: Any, path: str, positions: Positions) -> dict[str, Any]:
        prefix = f"{path}/" if path else ""
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.update(self._merge_sources(value_node, path, positions))
                continue
            if key_node.id != "scalar":
                raise LoadError(
                    "mapping keys must be plain scalars", key_node.start_mark.line + 1, path
                )
            key = self._scalar(key_node, path)
            key = key if isinstance(key, str) else _key_text(key)
            if key in out:
                raise LoadError(f"duplicate key {key!r}", key_node.start_mark.line + 1, prefix + key)
            positions[prefix + key] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, prefix + key, positions)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge_sources(self, node: Any, path: str, positions: Positions) -> dict[str, Any]:
        sources = node.value if node.id == "sequence" else [node]
        merged: dict[str, Any] = {}
        # Earlier sources win, as the YAML merge-key spec says.
        for source in reversed(sources):
            if source.id != "mapping":
                raise LoadError(
                    "a merge key (<<) needs a mapping or a list of mappings",
                    source.start_mark.line + 1,
                    path,
                )
            merged.update(self.build(source, path, positions))
        return merged

    def _scalar(self, node: Any, path: str) -> Any:
        tag = node.tag
        if tag == _STR or tag == _TIMESTAMP:
            # Timestamps stay text: the schema checks their format, and JSON caches keep them.
            return node.value
        if tag in _PLAIN_SCALARS:
            return self._loader.yaml_constructors[tag](self._loader, node)
        raise _unsupported_tag(node, path)


def _unsupported_tag(node: Any, path: str) -> LoadError:
    return LoadError(
        f"unsupported YAML tag {node.tag!r}: case files hold plain data only",
        node.start_mark.line + 1,
        path,
    )


def _key_text(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _count_nodes(node: Any) -> int:
    total = 0
    stack = [node]
    seen_here = 0
    while stack:
        current = stack.pop()
        total += 1
        seen_here += 1
        if seen_here > ALIAS_EXPANSION_BUDGET + 1:
            break
        if current.id == "sequence":
            stack.extend(current.value)
        elif current.id == "mapping":
            for key_node, value_node in current.value:
                stack.append(value_node)
    return total

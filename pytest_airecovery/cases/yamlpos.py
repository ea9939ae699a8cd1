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
import re
from typing import Any

from pytest_airecovery.cases.limits import DEFAULT_LIMITS, Limits

# How many nodes aliases may add by re-use before we call it an alias bomb. Legitimate anchors
# (shared defaults, merge keys) stay far below this; "billion laughs" files exceed it at once.
ALIAS_EXPANSION_BUDGET = DEFAULT_LIMITS.alias_nodes
# JSON strings (skipped whole) and brackets: enough to measure nesting without parsing.
_JSON_NESTING_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

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


def load_yaml(text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, Positions]:
    import yaml

    node, loader = _compose(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if node is not None and node.tag is None:
        # The C extension outlived a purge of the yaml package (pytester's in-process runs do
        # this) and no longer resolves tags; the pure-Python parser is unaffected.
        node, loader = _compose(text, yaml.SafeLoader)
    if node is None:
        raise LoadError("the file is empty")
    builder = _Builder(loader, limits)
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
    except RecursionError:
        # Only the pure-Python composer recurses per level; libyaml stops at its own depth.
        raise LoadError(
            "invalid YAML: mappings and lists nested too deeply", _deepest_line(text)
        ) from None
    finally:
        loader.dispose()
    return node, loader


def load_json(text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, Positions]:
    # json's C scanner recurses per level: measure the depth first, so a file of ten thousand
    # brackets is a clear error with its line instead of a RecursionError.
    check_json_nesting(text, limits.nesting)
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


def check_json_nesting(text: str, limit: int) -> None:
    """Raise LoadError at the line where JSON text nests deeper than ``limit`` levels."""
    depth = 0
    for match in _JSON_NESTING_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                line = text.count("\n", 0, match.start()) + 1
                raise LoadError(_nesting_message(limit), line)
        elif token in "]}":
            depth -= 1


def _outer(path: str, parts: int = 6) -> str:
    """The first few steps of a very deep path: enough to find it, short enough to read."""
    steps = path.split("/")
    return path if len(steps) <= parts else "/".join(steps[:parts])


def _nesting_message(limit: int) -> str:
    return (
        f"mappings and lists nested more than {limit} levels deep "
        "(raise the ini setting incident_max_nesting if this is intended)"
    )


def _deepest_line(text: str) -> int:
    """Line of the first flow bracket at the deepest level (best effort, for an error message)."""
    depth = best = 0
    line = best_line = 1
    for char in text:
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > best:
                best, best_line = depth, line
        elif char in "]}":
            depth -= 1
    return best_line


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
    """Turns a composed node graph into plain values, recording positions as it goes.

    Composing is cheap even for a bomb (an alias is one shared node); building is where aliases
    multiply. So the builder counts what re-use adds, nodes and scalar text alike, and stops at
    the budget: a bomb of one long string costs as much as a bomb of many nodes.
    """

    def __init__(self, loader: Any, limits: Limits = DEFAULT_LIMITS) -> None:
        self._loader = loader
        self._limits = limits
        self._in_progress: set[int] = set()
        self._built_once: set[int] = set()
        self._alias_budget = limits.alias_nodes
        self._alias_bytes = limits.alias_bytes
        self._reuse_depth = 0  # > 0 while building a node a second (third, ...) time
        self._depth = 0

    def build(self, node: Any, path: str, positions: Positions) -> Any:
        key = id(node)
        if key in self._in_progress:
            raise LoadError("recursive YAML alias", node.start_mark.line + 1, path)
        reused = key in self._built_once
        if reused and node.id != "scalar":
            self._alias_budget -= _count_nodes(node, self._limits.alias_nodes)
            if self._alias_budget < 0:
                raise LoadError(
                    f"YAML aliases expand to more than {self._limits.alias_nodes} nodes "
                    "(an alias bomb?)",
                    node.start_mark.line + 1,
                    path,
                )
        self._built_once.add(key)
        if node.id == "scalar":
            if reused or self._reuse_depth:
                self._spend_alias_bytes(node, path)
            return self._scalar(node, path)
        if self._depth >= self._limits.nesting:
            raise LoadError(
                _nesting_message(self._limits.nesting), node.start_mark.line + 1, _outer(path)
            )
        self._in_progress.add(key)
        self._depth += 1
        self._reuse_depth += reused
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
            self._depth -= 1
            self._reuse_depth -= reused

    def _spend_alias_bytes(self, node: Any, path: str) -> None:
        self._alias_bytes -= len(node.value) + 1
        if self._alias_bytes < 0:
            raise LoadError(
                f"YAML aliases expand to more than {self._limits.alias_bytes} bytes of text "
                "(an alias bomb?)",
                node.start_mark.line + 1,
                path,
            )

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
            if self._reuse_depth:
                self._spend_alias_bytes(key_node, path)
            key = self._scalar(key_node, path)
            key = key if isinstance(key, str) else _key_text(key)
            if key in out:
                raise LoadError(
                    f"duplicate key {key!r}", key_node.start_mark.line + 1, prefix + key
                )
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


def _count_nodes(node: Any, budget: int) -> int:
    total = 0
    stack = [node]
    while stack:
        current = stack.pop()
        total += 1
        if total > budget + 1:
            break
        if current.id == "sequence":
            stack.extend(current.value)
        elif current.id == "mapping":
            for _key_node, value_node in current.value:
                stack.append(value_node)
    return total

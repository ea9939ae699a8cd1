"""A small block-style YAML writer that can put comments next to values.

PyYAML cannot write comments, and a case-file skeleton is mostly useful because of them. Scalars
are still quoted by PyYAML itself (``safe_dump``), so every value reads back as the same value:
``yaml.safe_load(emit(data, comments)) == data`` is what the tests check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

INDENT = "  "
FLOW_LIST_WIDTH = 60  # lists of short scalars stay on one line up to this width


@dataclass
class Comments:
    """Comments keyed by a path such as ``incident/root_cause/category`` or ``cases/0``."""

    before: dict[str, list[str]] = field(default_factory=dict)  # full lines above the key
    trailing: dict[str, str] = field(default_factory=dict)  # after the value, same line
    header: list[str] = field(default_factory=list)

    def above(self, path: str, *lines: str) -> None:
        self.before.setdefault(path, []).extend(lines)

    def after(self, path: str, text: str) -> None:
        self.trailing[path] = text


def scalar(value: Any) -> str:
    # Line breaks and other non-printables as escapes in a double-quoted scalar: PyYAML would
    # otherwise fold them over several lines, which cannot sit inside our indented block.
    style = '"' if isinstance(value, str) and not value.isprintable() else None
    dumped: str = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=10**9, default_style=style
    )
    return dumped.removesuffix("\n...\n").rstrip("\n")


def emit(data: Mapping[str, Any], comments: Comments | None = None) -> str:
    notes = comments or Comments()
    out = [_comment_line("", line) for line in notes.header]
    _mapping(data, "", 0, out, notes)
    return "\n".join(out) + "\n"


def _printable(text: str) -> str:
    """One line of characters YAML accepts in a comment (a PIR may carry control characters)."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.split())


def _comment_line(indent: str, text: str) -> str:
    text = _printable(text)
    return f"{indent}# {text}" if text else f"{indent}#"


def _trail(path: str, notes: Comments) -> str:
    text = notes.trailing.get(path)
    return f"  # {_printable(text)}" if text and _printable(text) else ""


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list))


def _flow_list(value: list[Any]) -> str | None:
    if not value:
        return "[]"
    if all(_is_scalar(v) for v in value):
        text = "[" + ", ".join(scalar(v) for v in value) + "]"
        if len(text) <= FLOW_LIST_WIDTH:
            return text
    return None


def _mapping(
    data: Mapping[str, Any],
    path: str,
    depth: int,
    out: list[str],
    notes: Comments,
    first_prefix: str | None = None,
) -> None:
    indent = INDENT * depth
    for index, (key, value) in enumerate(data.items()):
        key_path = f"{path}/{key}" if path else str(key)
        lead = first_prefix if (first_prefix is not None and index == 0) else indent
        for line in notes.before.get(key_path, []):
            # a comment above the first key of a list item goes above the "- " line
            out.append(_comment_line(indent if index else lead.replace("- ", ""), line))
        key_text = scalar(key)
        if _is_scalar(value):
            out.append(f"{lead}{key_text}: {scalar(value)}{_trail(key_path, notes)}")
        elif isinstance(value, list) and _flow_list(value) is not None:
            out.append(f"{lead}{key_text}: {_flow_list(value)}{_trail(key_path, notes)}")
        elif isinstance(value, list):
            out.append(f"{lead}{key_text}:{_trail(key_path, notes)}")
            _sequence(value, key_path, depth + 1, out, notes)
        elif not value:
            out.append(f"{lead}{key_text}: {{}}{_trail(key_path, notes)}")
        else:
            out.append(f"{lead}{key_text}:{_trail(key_path, notes)}")
            _mapping(value, key_path, depth + 1, out, notes)


def _sequence(items: list[Any], path: str, depth: int, out: list[str], notes: Comments) -> None:
    indent = INDENT * depth
    for index, item in enumerate(items):
        item_path = f"{path}/{index}"
        for line in notes.before.get(item_path, []):
            out.append(_comment_line(indent, line))
        if isinstance(item, Mapping) and item:
            _mapping(item, item_path, depth + 1, out, notes, first_prefix=f"{indent}- ")
        elif isinstance(item, list) and item and _flow_list(item) is None:
            out.append(f"{indent}-{_trail(item_path, notes)}")
            _sequence(item, item_path, depth + 1, out, notes)
        else:
            text = (
                _flow_list(item)
                if isinstance(item, list)
                else ("{}" if isinstance(item, Mapping) else scalar(item))
            )
            out.append(f"{indent}- {text}{_trail(item_path, notes)}")

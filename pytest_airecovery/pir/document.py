"""Read a post-incident review (PIR) written in markdown into sections, entries and labelled fields.

This layer knows markdown shapes, not PIR meaning: headings of any level (ATX ``#``, setext
underlines, a bold or ``Label:`` line standing alone when it names a known section), bullets
(``-``, ``*``, ``+``), numbered items (``1.`` or ``1)``), wrapped lines, paragraphs and table rows.
Every entry keeps the 1-based line it starts on so findings can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Canonical section keys and the heading texts (normalised) that name them.
SECTION_NAMES: dict[str, tuple[str, ...]] = {
    "summary": (
        "incident summary",
        "summary",
        "overview",
        "incident overview",
        "incident details",
        "incident",
    ),
    "timeline": ("timeline", "timeline of events", "incident timeline", "chronology", "events"),
    "root_cause": ("root cause", "root causes", "root cause analysis", "cause", "causes", "rca"),
    "action_items": (
        "action items",
        "actions",
        "action item",
        "follow ups",
        "follow up actions",
        "follow up items",
        "remediation items",
        "next steps",
        "corrective actions",
    ),
}
# Aliases that still name the section with words after them; "Incident response lessons" must
# not become the summary, so bare "incident" and "cause" are not here.
PREFIX_ALIASES = frozenset(
    (
        "incident summary",
        "summary",
        "timeline",
        "incident timeline",
        "chronology",
        "root cause",
        "root causes",
        "action items",
        "follow ups",
        "corrective actions",
    )
)
REQUIRED_SECTIONS = ("summary", "timeline", "root_cause", "action_items")
SECTION_TITLES = {
    "summary": "Incident Summary",
    "timeline": "Timeline",
    "root_cause": "Root Cause",
    "action_items": "Action Items",
}

# Canonical field labels and the label texts (normalised) that name them.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "incident_id": ("incident id", "id", "incident", "incident number", "incident no", "ticket"),
    "title": ("title", "incident title", "name"),
    "severity": ("severity", "sev", "severity level", "final severity"),
    "duration": ("duration", "total duration", "time to resolve", "time to resolution"),
    "impact": ("impact", "customer impact", "user impact", "blast radius"),
    "date": ("date", "incident date", "date of incident", "day"),
    "review_date": (
        "review date",
        "reviewed",
        "reviewed on",
        "review held",
        "review held on",
        "pir date",
        "pir held",
        "review",
        "date of review",
        "review meeting",
    ),
    "category": ("category", "root cause category", "cause category"),
    "time_zone": ("time zone", "timezone", "zone", "times in", "all times in", "times"),
    "model": (
        "model",
        "affected model",
        "model name",
        "model version",
        "affected model version",
        "model family",
    ),
}

MAX_LABEL_CHARS = 40

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


class PirError(Exception):
    """The file cannot be read as a PIR at all (missing, a directory, empty, binary)."""


@dataclass
class Entry:
    """One bullet, numbered item, paragraph or table row, wrapped lines joined with a space."""

    text: str
    line: int
    kind: str  # "bullet", "numbered", "paragraph" or "table"
    cells: tuple[str, ...] = ()


@dataclass
class Section:
    heading: str
    key: str | None  # canonical key, None for an extra section
    line: int
    level: int
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    value: str
    line: int


@dataclass
class PirDocument:
    shown_as: str
    title: str | None = None
    title_line: int = 1
    sections: list[Section] = field(default_factory=list)
    fields: dict[str, Field] = field(default_factory=dict)
    preamble: list[Entry] = field(default_factory=list)  # entries before the first section

    def section(self, key: str) -> Section | None:
        for section in self.sections:
            if section.key == key:
                return section
        return None

    def field_value(self, key: str) -> str | None:
        found = self.fields.get(key)
        return found.value if found else None


def normalise_label(text: str) -> str:
    """``**Root-Cause Analysis:**`` -> ``root cause analysis``."""
    text = _EMPHASIS.sub("", text).lower()
    text = re.sub(r"^\s*(\d+[.)]|[ivx]+\.)\s+", "", text)  # "2. Timeline", "ii. Timeline"
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    return " ".join(text.split())


def section_key(heading: str) -> str | None:
    """Exact alias, or a heading that starts with one of the unambiguous aliases:
    ``Timeline (all times UTC)``, ``Root cause and contributing factors``."""
    name = normalise_label(heading)
    for key, names in SECTION_NAMES.items():
        if name in names:
            return key
    for key, names in SECTION_NAMES.items():
        if any(name.startswith(alias + " ") for alias in names if alias in PREFIX_ALIASES):
            return key
    return None


def field_key(label: str) -> str | None:
    name = normalise_label(label)
    for key, names in FIELD_LABELS.items():
        if name in names:
            return key
    return None


def strip_emphasis(text: str) -> str:
    return " ".join(_EMPHASIS.sub("", text).split())


def read_text(path: Path, shown_as: str | None = None) -> str:
    """Read a PIR file as text or raise PirError saying why it cannot be one."""
    shown = shown_as or str(path)
    if path.is_dir():
        raise PirError(f"{shown}: is a directory, not a PIR markdown file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PirError(f"{shown}: cannot read the file: {exc.strerror or exc}") from None
    if not raw.strip():
        raise PirError(f"{shown}: the file is empty")
    if b"\x00" in raw:
        raise PirError(f"{shown}: binary data (NUL bytes), not a markdown file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PirError(
            f"{shown}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise PirError(f"{shown}: mostly control characters, not a markdown file")
    return text


def parse_markdown(text: str, shown_as: str) -> PirDocument:
    """Split markdown text into sections of entries and collect labelled fields."""
    doc = PirDocument(shown_as)
    # comments go, their line breaks stay, so every later line keeps its number
    text = _HTML_COMMENT.sub(
        lambda m: "\n" * m.group(0).count("\n"), text.replace("\r\n", "\n").replace("\r", "\n")
    )
    lines = text.split("\n")
    current: Section | None = None
    open_entry: Entry | None = None
    blank_before = True
    in_fence = False

    def add(entry: Entry) -> None:
        (current.entries if current else doc.preamble).append(entry)

    for index, raw_line in enumerate(lines):
        number = index + 1
        line = raw_line.rstrip()
        if _FENCE.match(line):
            in_fence = not in_fence
            open_entry = None
            continue
        heading = (
            None if in_fence else _heading(line, lines[index + 1] if index + 1 < len(lines) else "")
        )
        if heading is not None:
            level, heading_text = heading
            if level == 1 and doc.title is None and section_key(heading_text) is None:
                doc.title, doc.title_line = heading_text, number
            current = Section(heading_text, section_key(heading_text), number, level)
            doc.sections.append(current)
            open_entry, blank_before = None, True
            continue
        if (
            _SETEXT.match(line)
            and not in_fence
            and index > 0
            and lines[index - 1].strip()
            and _heading(lines[index - 1].rstrip(), line) is not None
        ):
            continue  # underline of a setext heading already taken
        if not line.strip():
            blank_before = True
            if open_entry is not None and open_entry.kind == "paragraph":
                open_entry = None
            continue
        if line.lstrip().startswith("|"):
            if not _TABLE_RULE.match(line):
                cells = tuple(strip_emphasis(c) for c in line.strip().strip("|").split("|"))
                add(Entry(" | ".join(cells), number, "table", cells))
            open_entry, blank_before = None, False
            continue
        bullet = _BULLET.match(line)
        if bullet and bullet.group(2).strip():
            kind = "numbered" if _NUMBERED.match(line) else "bullet"
            open_entry = Entry(bullet.group(2).strip(), number, kind)
            add(open_entry)
        elif (
            open_entry is not None
            and (not blank_before or raw_line[:1] in (" ", "\t"))
            and not _starts_field(line)
        ):
            open_entry.text += " " + line.strip()  # a wrapped line continues the entry
        else:
            open_entry = Entry(line.strip(), number, "paragraph")
            add(open_entry)
        blank_before = False

    for entry in doc.preamble + [e for s in doc.sections for e in s.entries]:
        for found in _fields_of(entry):
            doc.fields.setdefault(found.key, found)
    if doc.title is None and "title" in doc.fields:
        doc.title, doc.title_line = doc.fields["title"].value, doc.fields["title"].line
    return doc


def _heading(line: str, next_line: str) -> tuple[int, str] | None:
    atx = _ATX.match(line)
    if atx:
        return len(atx.group(1)), strip_emphasis(atx.group(2) or "")
    stripped = line.strip()
    if stripped and not _BULLET.match(line) and not stripped.startswith("|"):
        underline = _SETEXT.match(next_line)
        if underline and len(stripped) <= 80:
            # "Text\n---" is a setext heading only when it names a section or is "===" (level 1)
            if underline.group(1)[0] == "=":
                return 1, strip_emphasis(stripped)
            if section_key(stripped):
                return 2, strip_emphasis(stripped)
    # "**Timeline**" or "Timeline:" alone on a line, when it names a known section
    alone = re.fullmatch(r"(\*\*|__)?([^*_:]{2,60}?)(\*\*|__)?\s*:?\s*(\*\*|__)?", stripped)
    if alone and (alone.group(1) or stripped.endswith(":")) and section_key(alone.group(2)):
        return 2, alone.group(2).strip()
    return None


def _starts_field(line: str) -> bool:
    """``Severity: SEV-2`` on the line after ``Incident ID: ...`` is a new field, not a wrap."""
    label, sep, _ = line.partition(":")
    return bool(sep) and len(label) <= MAX_LABEL_CHARS + 8 and field_key(label) is not None


def _fields_of(entry: Entry) -> list[Field]:
    if entry.kind == "table":
        cells = list(entry.cells)
        # Only a two-column key | value table holds fields: in a wider table "| ID | Priority |"
        # is the header row of the action items, not the incident id.
        if len(cells) == 2 and field_key(cells[0]) and cells[1].strip():
            return [Field(field_key(cells[0]) or "", cells[0], cells[1].strip(), entry.line)]
        return []
    label, sep, value = entry.text.partition(":")
    if not sep or len(label) > MAX_LABEL_CHARS + 8:
        return []
    key = field_key(label)
    if key is None:
        return []
    value = value.strip().lstrip("*_").strip()
    if not value:
        return []
    return [Field(key, strip_emphasis(label), strip_emphasis(value), entry.line)]

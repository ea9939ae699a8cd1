"""Read a post-incident review (PIR) written in markdown into sections, entries and labelled fields.

This layer knows markdown shapes, not PIR meaning. markdown-it-py (CommonMark with GFM tables)
finds the blocks: ATX and setext headings, bullets and numbered items, paragraphs, table rows,
code fences and HTML blocks (skipped). On top of it sit the PIR habits CommonMark does not have:
a bold or ``Label:`` line standing alone names a section, a ``Label: value`` line starts a new
entry instead of wrapping, and YAML front matter holds fields. Every entry keeps the 1-based line
it starts on (from the tokens' line maps) so findings can point at it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

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

MAX_HEADING_CHARS = 80  # a longer line over a setext underline is text, not a heading
MAX_FRONT_MATTER_LINES = 100

_ALONE = re.compile(r"(\*\*|__)?([^*_:]{2,60}?)(\*\*|__)?\s*:?\s*(\*\*|__)?")
_QUOTE_MARKS = re.compile(r"^[\s>]*")  # a fence inside a block quote closes as "> ```"
_FRONT_MATTER_KEY = re.compile(r"^[A-Za-z_][\w .-]*:(\s|$)")
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
    unclosed_fence: int = 0  # the line of a code fence never closed (the rest is code), or 0

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
    """Split markdown text into sections of entries and collect labelled fields.

    markdown-it-py finds the blocks (headings, lists, tables, fences); two PIR habits that
    CommonMark does not know are read on top of it, on the source lines, before the final parse:
    a line such as ``**Timeline**`` or ``Root cause:`` alone names a section, and a setext
    ``---`` underline makes a heading only under a section name.
    """
    # comments go, their line breaks stay, so every later line keeps its number
    text = _HTML_COMMENT.sub(
        lambda m: "\n" * m.group(0).count("\n"), text.replace("\r\n", "\n").replace("\r", "\n")
    )
    lines = text.split("\n")
    front = _front_matter_end(lines)
    for number in range(1, front + 1):
        lines[number - 1] = ""  # read apart below, not as markdown
    headings = _pir_headings(lines)
    for number, (level, _) in headings.items():
        lines[number - 1] = "#" * level + " x" if level else ""
    doc = PirDocument(shown_as)
    reader = _Reader(doc, headings, lines)
    if front:
        for group in _front_matter_keys(text.split("\n")[1 : front - 1]):
            reader.paragraph(group)
    reader.read(_markdown().parse("\n".join(lines)))
    for entry in doc.preamble + [e for s in doc.sections for e in s.entries]:
        for found in _fields_of(entry):
            doc.fields.setdefault(found.key, found)
    if doc.title is None and "title" in doc.fields:
        doc.title, doc.title_line = doc.fields["title"].value, doc.fields["title"].line
    return doc


@functools.cache
def _markdown() -> MarkdownIt:
    # Imported here: only reading a PIR needs it, and `airecovery` subcommands import pir lazily.
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def _front_matter_end(lines: list[str]) -> int:
    """The line number of the ``---`` closing a YAML front matter block on line 1, else 0."""
    if not lines or lines[0].rstrip() != "---":
        return 0
    for index, line in enumerate(lines[1:MAX_FRONT_MATTER_LINES], 1):
        if line.rstrip() in ("---", "..."):
            first = next((inner for inner in lines[1:index] if inner.strip()), "")
            return index + 1 if _FRONT_MATTER_KEY.match(first) else 0
    return 0


def _front_matter_keys(lines: list[str]) -> list[list[tuple[int, str]]]:
    """The front matter's lines (from line 2) grouped by top-level key: ``title: x`` is one
    entry, and the indented or ``- item`` lines under a key continue it."""
    groups: list[list[tuple[int, str]]] = []
    for number, line in enumerate(lines, 2):
        if groups and (not line.strip() or line[:1] in (" ", "\t", "-")):
            groups[-1].append((number, line))
        elif line.strip():
            groups.append([(number, line)])
    return groups


def _pir_headings(lines: list[str]) -> dict[int, tuple[int, str]]:
    """Lines that the PIR reads otherwise than CommonMark, by number: ``(level, heading)`` for a
    section named alone on a line or a setext heading taken, ``(0, "")`` for a line to blank
    (the underline of a setext heading not taken: ``Text`` over ``---`` is text)."""
    found: dict[int, tuple[int, str]] = {}
    skipped: set[int] = set()  # inside fences, code and HTML blocks; ATX headings
    for token in _markdown().parse("\n".join(lines)):
        if token.map is None:
            continue
        start, end = token.map
        if token.type in ("fence", "code_block", "html_block"):
            skipped.update(range(start + 1, end + 1))
        elif token.type == "heading_open" and token.markup[:1] in ("=", "-"):
            last = end - 1  # the number of the line above the underline
            above = lines[last - 1].strip()
            level = 1 if token.markup[0] == "=" else 2
            if len(above) <= MAX_HEADING_CHARS and (level == 1 or section_key(above)):
                found[last] = (level, strip_emphasis(above))
            found[end] = (0, "")
            skipped.update((last, end))
        elif token.type == "heading_open":
            skipped.add(start + 1)
    for number, line in enumerate(lines, 1):
        if number not in skipped:
            heading = _label_heading(line)
            if heading:
                found[number] = (2, heading)
    return found


def _label_heading(line: str) -> str | None:
    """``**Timeline**`` or ``Timeline:`` alone on a line, when it names a known section."""
    stripped = line.strip()
    alone = _ALONE.fullmatch(stripped)
    if alone and (alone.group(1) or stripped.endswith(":")) and section_key(alone.group(2)):
        return alone.group(2).strip()
    return None


@dataclass
class _Item:
    kind: str  # "bullet" or "numbered"
    line: int
    entry: Entry | None = None


class _Reader:
    """Turns markdown-it block tokens into sections and entries, in document order."""

    def __init__(
        self, doc: PirDocument, headings: dict[int, tuple[int, str]], lines: list[str]
    ) -> None:
        self.doc = doc
        self.headings = headings
        self.lines = lines
        self.section: Section | None = None
        self.open: Entry | None = None  # the entry a wrapped line continues
        self.kinds: list[str] = []
        self.items: list[_Item] = []

    def read(self, tokens: list[Token]) -> None:
        index = 0
        while index < len(tokens):
            token = tokens[index]
            kind, where = token.type, token.map
            if kind in ("bullet_list_open", "ordered_list_open"):
                self.kinds.append("numbered" if kind == "ordered_list_open" else "bullet")
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.kinds.pop()
            elif kind == "list_item_open" and where is not None:
                self.items.append(_Item(self.kinds[-1] if self.kinds else "bullet", where[0] + 1))
            elif kind == "list_item_close":
                self.items.pop()
            elif kind == "heading_open" and where is not None:
                self.heading(token, tokens[index + 1].content, where[0] + 1)
            elif kind == "paragraph_open" and where is not None:
                content = tokens[index + 1].content.split("\n")
                self.paragraph(list(enumerate(content, where[0] + 1)))
            elif kind == "tr_open" and where is not None:
                index = self.row(tokens, index, where[0] + 1)
            elif kind in ("fence", "code_block", "html_block", "hr"):
                self.open = None
                if kind == "fence" and where is not None and not self.closed(token, *where):
                    self.doc.unclosed_fence = self.doc.unclosed_fence or where[0] + 1
            index += 1

    def closed(self, fence: Token, start: int, end: int) -> bool:
        """Whether the fence's last line closes it; CommonMark runs an open one to the end."""
        last = _QUOTE_MARKS.sub("", self.lines[end - 1]).strip() if end - start > 1 else ""
        marker = fence.markup
        return len(last) >= len(marker) and last == marker[0] * len(last)

    def add(self, entry: Entry) -> Entry:
        (self.section.entries if self.section else self.doc.preamble).append(entry)
        return entry

    def heading(self, token: Token, content: str, number: int) -> None:
        # setext headings were rewritten into ``headings``; the others are ATX as written
        written = len(token.markup) if token.markup.startswith("#") else 1 + (token.markup != "=")
        level, text = self.headings.get(number) or (written, strip_emphasis(content))
        if level == 1 and self.doc.title is None and section_key(text) is None:
            self.doc.title, self.doc.title_line = text, number
        self.section = Section(text, section_key(text), number, level)
        self.doc.sections.append(self.section)
        self.open = None

    def paragraph(self, lines: list[tuple[int, str]]) -> None:
        item = self.items[-1] if self.items else None
        for position, (number, content) in enumerate(lines):
            text = content.strip()
            if not text:  # a line of form feeds and the like: a blank line for the reader
                if self.open is not None and self.open.kind == "paragraph":
                    self.open = None
            elif item is not None and item.entry is None and number == item.line:
                item.entry = self.open = self.add(Entry(text, number, item.kind))
            elif position > 0 and self.open is not None and not _starts_field(text):
                self.open.text += " " + text  # a wrapped line continues the entry
            elif (
                position == 0
                and item is not None
                and item.entry is not None
                and self.open is not None
                and self.open.kind != "paragraph"
                and not _starts_field(text)
            ):
                item.entry.text += " " + text  # a later paragraph of the same list item
                self.open = item.entry
            else:
                self.open = self.add(Entry(text, number, "paragraph"))

    def row(self, tokens: list[Token], index: int, number: int) -> int:
        """One table row (header rows too) as an entry; the index of its ``tr_close``."""
        cells: list[str] = []
        while tokens[index].type != "tr_close":
            index += 1
            if tokens[index].type == "inline":
                cells.append(strip_emphasis(tokens[index].content))
        self.add(Entry(" | ".join(cells), number, "table", tuple(cells)))
        self.open = None
        return index


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

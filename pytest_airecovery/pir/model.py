"""What a PIR says: incident fields, timeline, root cause and action items, read from the markdown.

``parse_pir`` never raises for odd text: a missing section or field is ``None``/empty here and
becomes a lint finding. Only an unreadable file raises :class:`PirError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pytest_airecovery.pir.document import (
    Entry,
    Field,
    PirDocument,
    PirError,
    Section,
    parse_markdown,
    read_text,
    strip_emphasis,
)
from pytest_airecovery.pir.refs import PirRefs, find_refs
from pytest_airecovery.pir.rootcause import (
    FailureMode,
    Inference,
    category_in_heading,
    explicit_category,
    failure_modes,
    infer_category,
    leading_label,
    sentences,
)
from pytest_airecovery.pir.timeline import (
    Stamp,
    StatedZone,
    TimelineEvent,
    build_timeline,
    dominant_offset,
    find_date,
    find_zone,
    parse_date_value,
    parse_duration,
    table_header_zone,
)

__all__ = ["ActionItemDraft", "Pir", "PirError", "parse_pir", "parse_pir_text"]

_SEVERITY = re.compile(r"^\s*sev(?:erity)?\s*[-_ ]?\s*(\d+)\b", re.IGNORECASE)
_INCIDENT_ID = re.compile(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d+\b")
_CHECKBOX = re.compile(r"^\s*\[\s*[ xX]?\s*\]\s*")
_LEADING_PRIORITY = re.compile(
    r"^\s*(?:\*\*|__)?[\[(]?\s*(?:priority\s*:?\s*)?(P[0-3])\s*[\])]?(?:\*\*|__)?\s*[:\-–—.]?\s*",
    re.IGNORECASE,
)
_ANY_PRIORITY = re.compile(r"[\[(]\s*(P[0-3])\s*[\])]|\bpriority\s*:?\s*(P[0-3])\b", re.IGNORECASE)
_DETECTED = re.compile(
    r"\b(detect|alert|alarm|report|notic|paged?\b|flagg|observed|spotted|trigger)", re.IGNORECASE
)
_RESOLVED = re.compile(r"\b(resolv|mitigat|restor|recovered|closed|fixed|all clear)", re.IGNORECASE)
_SEVERITY_CHANGE = re.compile(r"\bsev(?:erity)?\s*[-_ ]?\s*(\d)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ActionItemDraft:
    id: str
    priority: str | None  # None when the PIR gives none
    text: str
    line: int


@dataclass
class Pir:
    doc: PirDocument
    incident_id: Field | None = None
    severity: str | None = None  # canonical SEV-n, None if missing or not understood
    duration: timedelta | None = None
    events: list[TimelineEvent] = field(default_factory=list)
    untimed: list[Entry] = field(default_factory=list)
    timeline_entries: list[Entry] = field(default_factory=list)  # with those of day sub-headings
    detected: TimelineEvent | None = None
    resolved: TimelineEvent | None = None
    root_cause_text: str = ""
    root_cause_line: int = 0
    category: Inference = field(default_factory=lambda: Inference("other", "", 0))
    modes: list[FailureMode] = field(default_factory=list)
    action_items: list[ActionItemDraft] = field(default_factory=list)
    review: Stamp | None = None
    refs: PirRefs = field(default_factory=lambda: PirRefs(None, None, None, None))

    @property
    def shown_as(self) -> str:
        return self.doc.shown_as

    def value(self, key: str) -> str | None:
        return self.doc.field_value(key)

    def line_of(self, key: str, default: int = 1) -> int:
        found = self.doc.fields.get(key)
        return found.line if found else default

    @property
    def title(self) -> str | None:
        if self.doc.fields.get("title"):
            return self.doc.fields["title"].value
        return clean_title(self.doc.title, self.incident_id.value if self.incident_id else None)


def parse_pir(path: Path, shown_as: str | None = None) -> Pir:
    shown = shown_as or str(path)
    return parse_pir_text(read_text(path, shown), shown)


def parse_pir_text(text: str, shown_as: str) -> Pir:
    doc = parse_markdown(text, shown_as)
    pir = Pir(doc)
    pir.incident_id = doc.fields.get("incident_id") or _id_from_title(doc)
    pir.severity = canonical_severity(doc.field_value("severity"))
    duration_text = doc.field_value("duration")
    pir.duration = parse_duration(duration_text) if duration_text else None
    _read_timeline(pir)
    _read_root_cause(pir)
    _read_action_items(pir)
    _read_refs(pir)
    review = doc.field_value("review_date")
    if review:
        pir.review = parse_date_value(review)[1]
    return pir


def canonical_severity(text: str | None) -> str | None:
    match = _SEVERITY.match(strip_emphasis(text or ""))
    if match and 1 <= int(match.group(1)) <= 4:
        return f"SEV-{int(match.group(1))}"
    return None


def clean_title(heading: str | None, incident_id: str | None) -> str | None:
    """``Post-Incident Review: AI-IR-7 — Toxic replies`` -> ``Toxic replies``; generic -> None."""
    if not heading:
        return None
    text = heading
    if incident_id:
        text = text.replace(incident_id, " ")
    text = re.sub(
        r"(?i)\b(post[- ]incident review|pir|template|incident report|incident|review)\b", " ", text
    )
    text = " ".join(text.strip(" :-–—|()[]").split()).strip(" :-–—|")
    text = re.sub(r"\s+([:;,.])", r"\1", text)  # "Routing incident X: ..." -> "Routing: ..."
    return text if len(re.sub(r"[^A-Za-z]", "", text)) >= 3 else None


def _id_from_title(doc: PirDocument) -> Field | None:
    if doc.title:
        match = _INCIDENT_ID.search(doc.title)
        if match:
            return Field("incident_id", "title", match.group(0), doc.title_line)
    return None


def _start_day(doc: PirDocument, heading: str) -> date | None:
    """The timeline's date when its lines give none: its heading, the ``Date:`` field, the title."""
    for text in (heading, doc.field_value("date"), doc.title):
        day = find_date(text) if text else None
        if day is not None:
            return day
    return None


def _stated_zone(doc: PirDocument, section: Section, entries: list[Entry]) -> StatedZone | None:
    """A zone stated once for the whole timeline: its heading, a table header, a ``Time zone:`` field."""
    offset = find_zone(section.heading)
    if offset is not None:
        return StatedZone(offset, f"the timeline heading, line {section.line}")
    in_table = table_header_zone(entries)
    if in_table is not None:
        return StatedZone(in_table[0], f"the timeline table's header, line {in_table[1]}")
    found = doc.fields.get("time_zone")
    offset = find_zone(found.value) if found else None
    if found is not None and offset is not None:
        return StatedZone(offset, f"the '{found.label}:' line, line {found.line}")
    return None


def _timeline_entries(doc: PirDocument, section: Section) -> list[Entry]:
    """The section's entries and those of its sub-sections (``### 2026-09-02`` day headings,
    ``### Detection``): a day heading becomes a ``Date:`` entry, so its date carries on."""
    entries = list(section.entries)
    index = doc.sections.index(section)
    for sub in doc.sections[index + 1 :]:
        if sub.level <= section.level or sub.key is not None:
            break
        day = find_date(sub.heading)
        if day is not None:
            entries.append(Entry(f"Date: {day.isoformat()}", sub.line, "paragraph"))
        entries += sub.entries
    return entries


def _read_timeline(pir: Pir) -> None:
    section = pir.doc.section("timeline")
    if section is None:
        return
    entries = pir.timeline_entries = _timeline_entries(pir.doc, section)
    pir.events, pir.untimed = build_timeline(
        entries,
        _start_day(pir.doc, section.heading),
        dominant_offset(entries),
        _stated_zone(pir.doc, section, entries),
    )
    if not pir.events:
        return
    pir.detected = next((e for e in pir.events if _DETECTED.search(e.text)), pir.events[0])
    resolved = [e for e in pir.events if _RESOLVED.search(e.text)]
    pir.resolved = resolved[-1] if resolved else pir.events[-1]


def _read_refs(pir: Pir) -> None:
    """Rollback target and bad release: the timeline first, then the rest of the document."""
    doc = pir.doc
    timeline = pir.timeline_entries
    seen = {id(entry) for entry in timeline}
    others = [
        entry
        for entry in doc.preamble + [e for s in doc.sections for e in s.entries]
        if id(entry) not in seen
    ]
    pir.refs = find_refs(timeline, others, doc.fields.get("model"))


def timeline_severity(pir: Pir) -> tuple[str, TimelineEvent] | None:
    """The last severity the timeline mentions (e.g. "Severity upgraded to SEV-2")."""
    last = None
    for event in pir.events:
        for match in _SEVERITY_CHANGE.finditer(event.text):
            if 1 <= int(match.group(1)) <= 4:
                last = (f"SEV-{match.group(1)}", event)
    return last


def _read_root_cause(pir: Pir) -> None:
    section = pir.doc.section("root_cause")
    if section is None:
        return
    explicit = None
    labelled: list[tuple[str, str]] = []  # (category, sentence) of paragraphs opening with one
    parts: list[str] = []
    bullets: list[str] = []
    for entry in section.entries:
        if entry.text.lower().startswith(_CATEGORY_LINES) or strip_emphasis(
            entry.text
        ).lower().startswith(_CATEGORY_LINES):
            explicit = explicit or strip_emphasis(entry.text).partition(":")[2].strip()
            continue
        label = leading_label(entry.text)
        text = strip_emphasis(entry.text)
        if label:
            labelled.append((label, (sentences(text) or [text])[0]))
        parts.append(text if text.endswith((".", "!", "?", ":")) else text + ".")
        if entry.kind in ("bullet", "numbered"):
            bullets.append(text)
    pir.root_cause_line = section.entries[0].line if section.entries else section.line
    pir.root_cause_text = " ".join(parts)
    pir.category = _stated_category(pir, section.heading, explicit, labelled) or infer_category(
        pir.root_cause_text
    )
    pir.modes = failure_modes(pir.root_cause_text, bullets) if pir.root_cause_text else []


_CATEGORY_LINES = ("category:", "root cause category:", "root-cause category:")


def _stated_category(
    pir: Pir, heading: str, explicit: str | None, labelled: list[tuple[str, str]]
) -> Inference | None:
    """The category the PIR states, most specific first: a ``Category:`` line, a paragraph that
    opens with a category name, a category in the section heading, a ``Category:`` field
    elsewhere. Labelled paragraphs that disagree state nothing (the keywords decide, and the
    reviewer is asked to check)."""
    if explicit and explicit_category(explicit):
        return infer_category("", explicit)
    if labelled and len({category for category, _ in labelled}) == 1:
        return Inference(labelled[0][0], labelled[0][1], 0, explicit=True)
    from_heading = category_in_heading(heading)
    if from_heading:
        return Inference(from_heading, heading, 0, explicit=True)
    field = pir.doc.field_value("category")
    if field and explicit_category(field):
        return infer_category("", field)
    return None


def _read_action_items(pir: Pir) -> None:
    section = pir.doc.section("action_items")
    if section is None:
        return
    has_list = any(e.kind in ("bullet", "numbered", "table") for e in section.entries)
    counters: dict[str, int] = {}
    unprioritised = 0
    for entry in section.entries:
        if has_list and entry.kind == "paragraph":
            continue  # commentary around the list
        parsed = _action_item(entry)
        if parsed is None:
            continue
        priority, text = parsed
        if priority:
            counters[priority] = counters.get(priority, 0) + 1
            item_id = f"{priority}-{counters[priority]}"
        else:
            unprioritised += 1
            item_id = f"AI-{unprioritised}"
        pir.action_items.append(ActionItemDraft(item_id, priority, text, entry.line))


def _action_item(entry: Entry) -> tuple[str | None, str] | None:
    if entry.kind == "table":
        cells = [c.strip() for c in entry.cells]
        priority = next((c.upper() for c in cells if re.fullmatch(r"(?i)P[0-3]", c)), None)
        if priority is None and any(
            c.lower() in ("priority", "action", "action item", "owner") for c in cells
        ):
            return None  # header row
        texts = [c for c in cells if not re.fullmatch(r"(?i)P[0-3]|\d+|[-@\w. ]{0,20}", c)]
        text = max(texts, key=len) if texts else max(cells, key=len, default="")
        return (priority, text) if text else None
    text = _CHECKBOX.sub("", entry.text)
    priority = None
    leading = _LEADING_PRIORITY.match(text)
    if leading:
        priority = leading.group(1).upper()
        text = text[leading.end() :]
    else:
        anywhere = _ANY_PRIORITY.search(text)
        if anywhere:
            priority = (anywhere.group(1) or anywhere.group(2)).upper()
            text = text[: anywhere.start()] + text[anywhere.end() :]
    text = strip_emphasis(text).strip(" -–—:;,.")
    return (priority, text) if text else None


def resolution_deadline(pir: Pir) -> datetime | None:
    return pir.resolved.when + timedelta(hours=72) if pir.resolved else None


def review_time(pir: Pir) -> tuple[datetime | None, date | None]:
    """The review's exact time when written with a time and a date, else only its date."""
    review = pir.review
    if review is None or review.day is None:
        return None, None
    if review.hour is None:
        return None, review.day
    zone_source = pir.resolved.when.tzinfo if pir.resolved else None
    zone = (
        timezone(timedelta(minutes=review.offset_minutes))
        if review.offset_minutes is not None
        else (zone_source or timezone.utc)
    )
    when = datetime(
        review.day.year, review.day.month, review.day.day, review.hour, review.minute, tzinfo=zone
    )
    return when, review.day

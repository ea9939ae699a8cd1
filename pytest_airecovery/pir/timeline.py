"""Times, dates, zones and durations as people write them in a PIR.

Accepted at the start of a timeline entry (bold or backticks around it are fine):
``14:23``, ``14:23:05``, ``2:23 PM``, an optional date before it (``2026-03-14``, ``2026/03/14``,
``14 Mar 2026``, ``Mar 14, 2026``, ``2026-03-14T14:23``) and an optional zone after it (``Z``,
``UTC``, ``GMT``, ``UTC+2``, ``+02:00``, ``+0200`` or a common abbreviation such as ``CET``,
``PST``). A date alone (``2026-03-14``, ``Date: 2026-03-14``) carries over to the entries after it.

The whole timeline's date and zone may also be stated once, in its heading (``## Timeline (all
times UTC, 2026-09-02)``), a table's header (``| Time (UTC) | Event |``) or the PIR's ``Date:`` and
``Time zone:`` fields; :func:`find_date` and :func:`find_zone` read them from free text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from pytest_airecovery.pir.document import Entry, strip_emphasis

MONTHS = {
    name: index + 1
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
# Unambiguous abbreviations only (IST, say, means three different zones).
ZONE_HOURS = {
    "Z": 0,
    "UTC": 0,
    "GMT": 0,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "CST": -6,
    "CDT": -5,
    "EST": -5,
    "EDT": -4,
    "CET": 1,
    "CEST": 2,
    "BST": 1,
    "EET": 2,
    "EEST": 3,
    "JST": 9,
    "AEST": 10,
    "AEDT": 11,
}

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE = (
    r"(?P<iso>\d{4})[-/](?P<iso_m>\d{1,2})[-/](?P<iso_d>\d{1,2})"
    rf"|(?P<dm_d>\d{{1,2}})\s+(?P<dm_m>{_MONTH})(?:\s+(?P<dm_y>\d{{4}}))?"
    rf"|(?P<md_m>{_MONTH})\s+(?P<md_d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<md_y>\d{{4}}))?"
)
_ZONE = r"Z|(?:UTC|GMT)\s*[+-]\s*\d{1,2}(?::?\d{2})?|[+-]\d{2}:?\d{2}|(?-i:[A-Z]{1,3}T)|UTC|GMT"
_TIME = r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?\s*(?P<ampm>[ap]\.?m\.?)?"
STAMP = re.compile(
    rf"^\s*(?:(?P<date>{_DATE})(?:\s*,?\s*|T)(?=\d|$|\s|[-–—:|]))?(?:{_TIME})?\s*(?P<zone>{_ZONE})?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
LATE_HOUR, EARLY_HOUR = 18, 6  # a date-less step from >= 18:00 to < 06:00 crosses midnight
_SEPARATOR = re.compile(r"^\s*(?:[-–—:|>]+|\bat\b)?\s*")
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m)(?![a-z])", re.IGNORECASE
)
_CLOCK_DURATION = re.compile(r"^\s*~?\s*(\d{1,3}):(\d{2})\b")


@dataclass(frozen=True)
class Stamp:
    day: date | None
    hour: int | None
    minute: int
    second: int
    offset_minutes: int | None  # None when no zone was written
    rest: str  # the text after the stamp
    zone_text: str = ""


@dataclass(frozen=True)
class TimelineEvent:
    line: int
    text: str
    when: datetime  # aware; the date is 1970-01-01 when no date was known (see ``dated``)
    dated: bool
    zone_given: bool
    next_day: bool = False  # a date-less late→early step, taken as crossing midnight
    zone_source: str = ""  # where the zone came from: "" (the line itself or assumed) or e.g. "the timeline heading (line 7)"


def parse_stamp(text: str) -> Stamp | None:
    """Parse a date and/or time at the start of ``text``; None when there is neither."""
    cleaned = strip_emphasis(text)
    match = STAMP.match(cleaned)
    if not match or (match.group("date") is None and match.group("h") is None):
        return None
    day = _date_of(match)
    if match.group("date") and day is None:
        return None
    hour = int(match.group("h")) if match.group("h") else None
    minute = int(match.group("m") or 0)
    second = int(match.group("s") or 0)
    ampm = (match.group("ampm") or "").lower().replace(".", "")
    if hour is not None:
        if ampm and not 1 <= hour <= 12:
            return None
        if ampm == "pm" and hour != 12:
            hour += 12
        elif ampm == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59 or second > 59:
            return None
    zone_text = (match.group("zone") or "").strip()
    offset = zone_offset(zone_text) if zone_text else None
    if zone_text and offset is None:
        return None  # "14:23 XYZT" is not a time we understand
    rest = _SEPARATOR.sub("", cleaned[match.end() :], count=1).strip()
    return Stamp(day, hour, minute, second, offset, rest, zone_text)


def zone_offset(zone: str) -> int | None:
    compact = zone.replace(" ", "").upper()
    if compact in ZONE_HOURS:
        return ZONE_HOURS[compact] * 60
    match = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", compact)
    if not match:
        return None
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * (hours * 60 + minutes)


def _date_of(match: re.Match[str]) -> date | None:
    try:
        if match.group("iso"):
            return date(
                int(match.group("iso")), int(match.group("iso_m")), int(match.group("iso_d"))
            )
        if match.group("dm_d"):
            year = match.group("dm_y")
            month = MONTHS[match.group("dm_m")[:3].lower()]
            return date(int(year), month, int(match.group("dm_d"))) if year else None
        if match.group("md_m"):
            year = match.group("md_y")
            month = MONTHS[match.group("md_m")[:3].lower()]
            return date(int(year), month, int(match.group("md_d"))) if year else None
    except (ValueError, KeyError):
        return None
    return None


def parse_date_value(text: str) -> tuple[date | None, Stamp | None]:
    """A field value such as ``2026-03-16`` or ``Mar 16, 2026 10:00 UTC``."""
    stamp = parse_stamp(text)
    return (stamp.day if stamp else None), stamp


def parse_duration(text: str) -> timedelta | None:
    """``6 hours``, ``~6h 7m``, ``1.5 hours``, ``45 min``, ``2 days``, ``6:07``; None if absent."""
    clock = _CLOCK_DURATION.match(text)
    if clock:
        return timedelta(hours=int(clock.group(1)), minutes=int(clock.group(2)))
    total = timedelta()
    found = False
    for amount, unit in _DURATION_PART.findall(text):
        found = True
        value = float(amount)
        unit = unit.lower()
        if unit.startswith("d"):
            total += timedelta(days=value)
        elif unit.startswith("h"):
            total += timedelta(hours=value)
        else:
            total += timedelta(minutes=value)
    return total if found else None


def format_duration(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{sign}{hours} h {minutes} min"
    return f"{sign}{hours} h" if hours else f"{sign}{minutes} min"


@dataclass(frozen=True)
class StatedZone:
    """A zone the PIR states once for the whole timeline, and where it says so."""

    offset_minutes: int
    source: str  # "the timeline heading (line 7)"


def build_timeline(
    entries: list[Entry],
    start_day: date | None,
    default_offset: int | None,
    stated_zone: StatedZone | None = None,
) -> tuple[list[TimelineEvent], list[Entry]]:
    """Timeline events in written order, and the entries that carry no time.

    A date carries over to later entries without one. Entries without a zone take the zone the
    timeline states (``stated_zone``, counted as given), else the zone most entries give
    (``default_offset``), else UTC; ``zone_given`` says which.
    """
    events: list[TimelineEvent] = []
    untimed: list[Entry] = []
    day = start_day
    shift = timedelta()  # days added by midnight crossings since the last written date
    for entry in entries:
        text = (
            entry.cells[0] + " " + " ".join(entry.cells[1:])
            if entry.kind == "table"
            else entry.text
        )
        field_day = _date_field(text)
        if field_day is not None:  # "Date: 2026-09-02" inside the timeline
            day, shift = field_day, timedelta()
            continue
        stamp = parse_stamp(text)
        if stamp is not None and stamp.day is not None:
            day, shift = stamp.day, timedelta()
        if stamp is None or stamp.hour is None:
            if stamp is None and not _is_table_header(entry):
                untimed.append(entry)
            continue
        offset: int | None
        if stamp.offset_minutes is not None:
            offset, given, source = stamp.offset_minutes, True, ""
        elif stated_zone is not None:
            offset, given, source = stated_zone.offset_minutes, True, stated_zone.source
        else:
            offset, given, source = default_offset, False, ""
        zone = timezone(timedelta(minutes=offset or 0))
        when = (
            datetime.combine(day or date(1970, 1, 1), datetime.min.time(), zone).replace(
                hour=stamp.hour, minute=stamp.minute, second=stamp.second
            )
            + shift
        )
        next_day = False
        previous = events[-1].when if events else None
        if (
            stamp.day is None
            and previous is not None
            and when < previous
            and previous.hour >= LATE_HOUR
            and when.hour < EARLY_HOUR
        ):
            # "23:50 ... 00:30" without dates: the incident crossed midnight
            shift += timedelta(days=1)
            when += timedelta(days=1)
            next_day = True
        events.append(
            TimelineEvent(entry.line, stamp.rest, when, day is not None, given, next_day, source)
        )
    return events, untimed


_DATE_FIELD = re.compile(
    r"^\s*(?:\*\*|__)?(?:date|day|incident date)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(?P<rest>.+)$",
    re.IGNORECASE,
)


def _date_field(text: str) -> date | None:
    """``Date: 2026-09-02`` (a date and nothing else) as a timeline line; None otherwise."""
    match = _DATE_FIELD.match(text)
    if not match:
        return None
    stamp = parse_stamp(match.group("rest"))
    if stamp is None or stamp.day is None or stamp.hour is not None or stamp.rest:
        return None
    return stamp.day


_DATE_ANYWHERE = re.compile(rf"(?<![\w-])(?:{_DATE})(?![\w-])", re.IGNORECASE)
_ZONE_ANYWHERE = re.compile(
    r"(?<![\w+-])(?P<zone>(?:UTC|GMT)(?:\s*[+-]\s*\d{1,2}(?::?\d{2})?)?|[A-Z]{2,4}T|Z)(?![\w+-])"
    r"|(?<![\w:+-])(?P<offset>[+-]\d{2}:\d{2})(?![\w:])"
)


def find_date(text: str) -> date | None:
    """The first full date (with a year) anywhere in ``text``: ``Timeline (UTC, 2 Sep 2026)``."""
    for match in _DATE_ANYWHERE.finditer(text):
        day = _date_of(match)
        if day is not None:
            return day
    return None


def find_zone(text: str) -> int | None:
    """The one zone ``text`` names (``all times UTC``, ``Time (CEST)``, ``UTC+2``), in minutes east
    of UTC; None when it names none, an unknown one, or two different ones."""
    offsets = set()
    for match in _ZONE_ANYWHERE.finditer(text):
        zone = match.group("zone") or match.group("offset")
        if zone == "Z":
            continue  # a lone "Z" in prose is a letter, not Zulu time
        offset = zone_offset(zone)
        if offset is None:
            if zone.isupper() and zone.endswith("T") and len(zone) >= 3:
                return None  # "IST": a zone we refuse to guess
            continue
        offsets.add(offset)
    return offsets.pop() if len(offsets) == 1 else None


def dominant_offset(entries: list[Entry]) -> int | None:
    counts: dict[int, int] = {}
    for entry in entries:
        stamp = parse_stamp(entry.cells[0] if entry.kind == "table" and entry.cells else entry.text)
        if stamp is not None and stamp.offset_minutes is not None:
            counts[stamp.offset_minutes] = counts.get(stamp.offset_minutes, 0) + 1
    return max(sorted(counts), key=lambda k: counts[k]) if counts else None


def _is_table_header(entry: Entry) -> bool:
    return entry.kind == "table" and any(
        re.fullmatch(
            r"(?:time|when|timestamp|date|date/time|date and time)(?:\s*\(.*\))?",
            cell.strip().lower(),
        )
        for cell in entry.cells
    )


def table_header_zone(entries: list[Entry]) -> tuple[int, int] | None:
    """A zone stated in a timeline table's header (``| Time (UTC) | Event |``): (offset, line)."""
    for entry in entries:
        if _is_table_header(entry):
            offset = find_zone(" ".join(entry.cells))
            return (offset, entry.line) if offset is not None else None
    return None


def iso_utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

"""``airecovery lint-pir``: is this PIR complete, consistent and testable?

Rules (name: severity):

* ``missing-section`` error: Incident Summary, Timeline, Root Cause or Action Items is absent.
* ``missing-field`` error for the incident id and severity, warning for duration and impact.
* ``incident-id`` error: the id cannot be a case-file identifier (spaces, slashes).
* ``severity`` error: not SEV-1..SEV-4 (``Sev2``, ``sev 2`` are accepted as SEV-2);
  warning when the timeline's last severity change disagrees with the summary.
* ``timeline-entry`` warning: an entry without a time we understand; times without a zone; a
  date-less step from 18:00 or later to before 06:00, taken as crossing midnight.
* ``timeline-order`` error: a time earlier than the entry before it.
* ``timeline-duration`` error: detection→resolution differs from the stated duration by more than
  ``max(15 min, 10 %)`` of the stated duration.
* ``review-window`` error: the review is dated more than 72 h after resolution, or before it;
  warning when no ``Review date:`` is given or the resolution has no date to compare with.
* ``action-item`` error for a P0/P1 item that is not concrete enough to test (a vague verb such as
  "improve", or fewer than two words after the verb); warning for an item without a priority,
  or a P0/P1 item that does not start with a verb we know.
* ``code-fence`` warning: a code fence is never closed, so the rest of the file is code, not PIR.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import timedelta
from itertools import pairwise

from pytest_airecovery.pir.document import REQUIRED_SECTIONS, SECTION_TITLES
from pytest_airecovery.pir.model import Pir, resolution_deadline, review_time, timeline_severity
from pytest_airecovery.pir.timeline import format_duration

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
REVIEW_WINDOW = timedelta(hours=72)
DURATION_TOLERANCE_MIN = timedelta(minutes=15)
DURATION_TOLERANCE_SHARE = 0.10

# Verbs that say what to do but not what "done" looks like.
VAGUE_VERBS = frozenset(
    (
        "improve",
        "enhance",
        "review",
        "revisit",
        "consider",
        "investigate",
        "explore",
        "look",
        "optimize",
        "optimise",
        "strengthen",
        "increase",
        "reduce",
        "ensure",
        "better",
        "assess",
        "evaluate",
        "discuss",
        "think",
        "try",
        "work",
        "help",
        "support",
        "address",
        "handle",
        "tbd",
    )
)
VAGUE_PHRASES = (
    "as needed",
    "where possible",
    "if possible",
    "etc",
    "and so on",
    "tbd",
    "more robust",
    "best practices",
    "in general",
    "going forward",
)
CONCRETE_VERBS = frozenset(
    (
        "add",
        "implement",
        "build",
        "create",
        "write",
        "enforce",
        "block",
        "reject",
        "verify",
        "validate",
        "alert",
        "pin",
        "require",
        "remove",
        "deploy",
        "automate",
        "test",
        "monitor",
        "detect",
        "scan",
        "audit",
        "hash",
        "sign",
        "gate",
        "fail",
        "run",
        "retrain",
        "rollback",
        "roll",
        "document",
        "record",
        "log",
        "limit",
        "cap",
        "filter",
        "sanitize",
        "sanitise",
        "quarantine",
        "restrict",
        "rotate",
        "revoke",
        "replace",
        "migrate",
        "set",
        "configure",
        "enable",
        "disable",
        "introduce",
        "extend",
        "schedule",
        "publish",
        "train",
        "measure",
        "compare",
        "check",
        "track",
        "store",
        "split",
        "label",
        "relabel",
        "drop",
        "freeze",
        "version",
        "tag",
        "backfill",
        "update",
        "upgrade",
        "instrument",
        "page",
        "notify",
        "escalate",
        "define",
        "establish",
        "integrate",
        "wire",
        "ship",
        "fix",
        "patch",
        "move",
        "separate",
        "isolate",
        "encrypt",
        "mirror",
        "cache",
        "benchmark",
    )
)
STOPWORDS = frozenset(
    (
        "a",
        "an",
        "the",
        "to",
        "of",
        "for",
        "in",
        "on",
        "and",
        "or",
        "our",
        "all",
        "with",
        "into",
        "from",
        "by",
        "at",
        "we",
        "more",
        "better",
        "new",
    )
)


@dataclass(frozen=True)
class Finding:
    line: int
    severity: str  # "error" or "warning"
    rule: str
    message: str

    def render(self, shown_as: str) -> str:
        return f"{shown_as}:{self.line}: {self.severity}: {self.rule}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def lint(pir: Pir) -> list[Finding]:
    findings: list[Finding] = []
    findings += _sections(pir)
    findings += _summary(pir)
    findings += _timeline(pir)
    findings += _review(pir)
    findings += _action_items(pir)
    findings += _code_fence(pir)
    return sorted(findings, key=lambda f: (f.line, f.severity != "error", f.rule))


def missing_sections(pir: Pir) -> list[str]:
    """Required sections not found. The summary's heading may be left out when the incident id
    and severity stand outside the other sections (at the top, or under the title heading)."""
    missing = [key for key in REQUIRED_SECTIONS if pir.doc.section(key) is None]
    if "summary" in missing and _summary_fields_stand_alone(pir):
        missing.remove("summary")
    return missing


def _summary_fields_stand_alone(pir: Pir) -> bool:
    lines = [f.line for f in pir.doc.fields.values() if f.key in ("incident_id", "severity")]
    if not lines:
        return False
    for line in lines:
        owner = None
        for section in pir.doc.sections:
            if section.line < line:
                owner = section
        if owner is not None and owner.key is not None:
            return False
    return True


def _code_fence(pir: Pir) -> list[Finding]:
    line = pir.doc.unclosed_fence
    if not line:
        return []
    message = "this code fence is never closed: everything after it is code, not read as the PIR"
    return [Finding(line, "warning", "code-fence", message)]


def _sections(pir: Pir) -> list[Finding]:
    found = []
    for key in missing_sections(pir):
        found.append(Finding(1, "error", "missing-section", f"no '{SECTION_TITLES[key]}' section"))
    for key in ("root_cause", "action_items", "timeline"):
        section = pir.doc.section(key)
        entries = pir.timeline_entries if key == "timeline" else section.entries if section else []
        if section is not None and not entries:
            found.append(
                Finding(
                    section.line,
                    "error",
                    "missing-section",
                    f"the '{section.heading}' section is empty",
                )
            )
    return found


def _summary(pir: Pir) -> list[Finding]:
    found = []
    summary = pir.doc.section("summary")
    where = summary.line if summary else 1
    if pir.incident_id is None:
        found.append(Finding(where, "error", "missing-field", "no 'Incident ID:' line"))
    elif not IDENTIFIER.match(pir.incident_id.value) or len(pir.incident_id.value) > 120:
        found.append(
            Finding(
                pir.incident_id.line,
                "error",
                "incident-id",
                f"{pir.incident_id.value!r} cannot be a case-file id: use letters, digits, "
                "'.', '_' and '-' only (e.g. AI-IR-2026-042)",
            )
        )
    raw_severity = pir.value("severity")
    if raw_severity is None:
        found.append(Finding(where, "error", "missing-field", "no 'Severity:' line"))
    elif pir.severity is None:
        found.append(
            Finding(
                pir.line_of("severity"),
                "error",
                "severity",
                f"{raw_severity!r} is not a severity: use SEV-1, SEV-2, SEV-3 or SEV-4",
            )
        )
    else:
        changed = timeline_severity(pir)
        if changed and changed[0] != pir.severity:
            found.append(
                Finding(
                    changed[1].line,
                    "warning",
                    "severity",
                    f"the timeline ends at {changed[0]} but the summary says {pir.severity}",
                )
            )
    for key, label in (("duration", "Duration"), ("impact", "Impact")):
        if pir.value(key) is None:
            found.append(Finding(where, "warning", "missing-field", f"no '{label}:' line"))
    if pir.value("duration") is not None and pir.duration is None:
        found.append(
            Finding(
                pir.line_of("duration"),
                "warning",
                "timeline-duration",
                f"cannot read a duration from {pir.value('duration')!r} (e.g. '6 hours', '2 h 30 min')",
            )
        )
    return found


def _timeline(pir: Pir) -> list[Finding]:
    found = []
    for entry in pir.untimed:
        found.append(
            Finding(
                entry.line,
                "warning",
                "timeline-entry",
                f"no time at the start of {_quote(entry.text)} (e.g. '14:23 UTC - ...')",
            )
        )
    zoneless = [e for e in pir.events if not e.zone_given]
    if zoneless and len(zoneless) == len(pir.events):
        found.append(
            Finding(
                zoneless[0].line,
                "warning",
                "timeline-entry",
                "timeline times give no zone; UTC assumed (write e.g. '14:23 UTC')",
            )
        )
    for event in pir.events:
        if event.next_day:
            found.append(
                Finding(
                    event.line,
                    "warning",
                    "timeline-entry",
                    f"{event.when:%H:%M} taken as the next day (crossed midnight); "
                    "give the date to be sure",
                )
            )
    for before, after in pairwise(pir.events):
        if after.when < before.when:
            hint = (
                ""
                if after.dated
                else " (if it crossed midnight, give the date: '2026-03-15 00:10 UTC')"
            )
            found.append(
                Finding(
                    after.line,
                    "error",
                    "timeline-order",
                    f"{after.when:%H:%M} comes before the previous entry's {before.when:%H:%M}{hint}",
                )
            )
    if (
        pir.duration is not None
        and pir.detected
        and pir.resolved
        and pir.detected is not pir.resolved
    ):
        actual = pir.resolved.when - pir.detected.when
        tolerance = max(DURATION_TOLERANCE_MIN, pir.duration * DURATION_TOLERANCE_SHARE)
        if actual >= timedelta() and abs(actual - pir.duration) > tolerance:
            found.append(
                Finding(
                    pir.line_of("duration"),
                    "error",
                    "timeline-duration",
                    f"stated duration {pir.value('duration')!r} but the timeline runs "
                    f"{format_duration(actual)} from {_quote(pir.detected.text)} (line {pir.detected.line}) "
                    f"to {_quote(pir.resolved.text)} (line {pir.resolved.line})",
                )
            )
    return found


def _review(pir: Pir) -> list[Finding]:
    raw = pir.value("review_date")
    if raw is None:
        return [
            Finding(
                1,
                "warning",
                "review-window",
                "no 'Review date:' line, so the 72 h review window cannot be checked",
            )
        ]
    line = pir.line_of("review_date")
    exact, day = review_time(pir)
    if day is None:
        return [
            Finding(
                line, "error", "review-window", f"cannot read a date from {raw!r} (e.g. 2026-03-16)"
            )
        ]
    deadline = resolution_deadline(pir)
    if deadline is None or pir.resolved is None or not pir.resolved.dated:
        return [
            Finding(
                line,
                "warning",
                "review-window",
                "the timeline has no dates, so the 72 h review window cannot be checked",
            )
        ]
    resolved = pir.resolved.when
    late = exact > deadline if exact else day > deadline.date()
    early = exact < resolved if exact else day < resolved.date()
    if late:
        return [
            Finding(
                line,
                "error",
                "review-window",
                f"review on {raw} is more than 72 h after resolution ({resolved:%Y-%m-%d %H:%M %Z}); "
                f"due by {deadline:%Y-%m-%d %H:%M %Z}",
            )
        ]
    if early:
        return [
            Finding(line, "error", "review-window", f"review on {raw} is before the resolution")
        ]
    return []


def _action_items(pir: Pir) -> list[Finding]:
    found = []
    section = pir.doc.section("action_items")
    if section is not None and section.entries and not pir.action_items:
        found.append(
            Finding(section.line, "error", "action-item", "no action items found in the section")
        )
    for item in pir.action_items:
        if item.priority is None:
            found.append(
                Finding(
                    item.line,
                    "warning",
                    "action-item",
                    f"{_quote(item.text)} has no priority: write [P0]..[P3]",
                )
            )
            continue
        if item.priority in ("P0", "P1"):
            found += _concreteness(item.line, item.priority, item.text)
    return found


def _concreteness(line: int, priority: str, text: str) -> list[Finding]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9'/-]*", text)
    lowered = [w.lower() for w in words]
    if not words:
        return [
            Finding(
                line,
                "error",
                "action-item",
                f"{priority} item {_quote(text)} says nothing testable",
            )
        ]
    verb = lowered[0]
    vague_phrase = next(
        (p for p in VAGUE_PHRASES if re.search(rf"\b{re.escape(p)}\b", text.lower())), None
    )
    if verb in VAGUE_VERBS:
        return [
            Finding(
                line,
                "error",
                "action-item",
                f"{priority} item {_quote(text)} is not testable: '{words[0]}' names no outcome; "
                "say what to add, block or check (e.g. 'Block deploys whose eval accuracy drops >1%')",
            )
        ]
    if vague_phrase:
        return [
            Finding(
                line,
                "error",
                "action-item",
                f"{priority} item {_quote(text)} is not testable: '{vague_phrase}' leaves it open",
            )
        ]
    objects = [w for w in lowered[1:] if w not in STOPWORDS]
    if len(objects) < 2:
        return [
            Finding(
                line,
                "error",
                "action-item",
                f"{priority} item {_quote(text)} is too short to test: name what and where "
                "(a verb and at least two words of object)",
            )
        ]
    if verb not in CONCRETE_VERBS and not verb.endswith(("ize", "ise", "ate", "ify")):
        return [
            Finding(
                line,
                "warning",
                "action-item",
                f"{priority} item {_quote(text)} does not start with an action verb (Add, Block, Verify, ...)",
            )
        ]
    return []


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def summary_counts(findings: list[Finding]) -> tuple[int, int]:
    errors = sum(1 for f in findings if f.severity == "error")
    return errors, len(findings) - errors

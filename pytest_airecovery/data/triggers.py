"""Trigger scan over text records: the incident's known triggers, matched four ways.

Modes, strictest first; a record is reported with the strictest mode that matched each trigger:

* ``exact``       substring, case-sensitive;
* ``casefold``    substring after Unicode case folding;
* ``normalised``  after NFKD, dropping combining marks and zero-width / bidi-control characters,
                  mapping common Cyrillic and Greek look-alikes to Latin, and case folding - the
                  usual ways a trigger is disguised from an exact filter;
* ``regex``       a user pattern searched in the raw text (add ``(?i)`` for case-insensitive).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.results import DetectorResult, Flag

MODES = ("exact", "casefold", "normalised")
MODE_SCORES = {"exact": 1.0, "casefold": 0.9, "normalised": 0.8, "regex": 0.7}

_INVISIBLE = (
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))  # zero-width space/joiners, LRM, RLM
    + list(range(0x202A, 0x202F))  # bidi embeddings and overrides
    + list(range(0x2060, 0x2070))  # word joiner, invisible operators, bidi isolates
)
# Look-alikes that NFKD leaves alone (NFKD already folds full-width and mathematical letters).
_HOMOGLYPHS = {
    "а": "a",
    "в": "b",
    "с": "c",
    "е": "e",
    "һ": "h",
    "і": "i",
    "ј": "j",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "ԛ": "q",
    "ѕ": "s",
    "т": "t",
    "у": "y",
    "х": "x",
    "ԝ": "w",
    "ԁ": "d",
    "ɡ": "g",
    "ӏ": "l",
    "ʏ": "y",
    "ϲ": "c",
    "ϳ": "j",
    "α": "a",
    "β": "b",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "ı": "i",
    "ℓ": "l",
    "０": "0",
    "ǀ": "l",
    "Ꭵ": "i",
}
_TRANSLATION: dict[int, str | None] = {code: None for code in _INVISIBLE}
_TRANSLATION.update({ord(k): v for k, v in _HOMOGLYPHS.items()})
_TRANSLATION.update({ord(k.upper()): v for k, v in _HOMOGLYPHS.items() if k.upper() != k})


def normalise(text: str) -> str:
    """Undo the usual disguises of a trigger: compatibility forms, accents, invisibles, look-alikes."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.translate(_TRANSLATION).casefold()


@dataclass(frozen=True)
class TriggerMatch:
    trigger: str
    mode: str


class TriggerScanner:
    """Compiled triggers; :meth:`match` returns one match per trigger that occurs in a text."""

    def __init__(
        self, triggers: Sequence[str], patterns: Sequence[str] = (), modes: Sequence[str] = MODES
    ) -> None:
        unknown = set(modes) - set(MODES)
        if unknown:
            raise DataKitError(f"unknown trigger modes {sorted(unknown)}; use {', '.join(MODES)}")
        if not triggers and not patterns:
            raise DataKitError("no triggers given: pass at least one trigger or regex")
        if any(not t for t in triggers):
            raise DataKitError("an empty trigger would match every record")
        self.triggers = list(triggers)
        self.modes = [m for m in MODES if m in modes]
        self._casefolded = [t.casefold() for t in triggers]
        self._normalised = [normalise(t) for t in triggers]
        self.patterns: list[tuple[str, re.Pattern[str]]] = []
        for pattern in patterns:
            try:
                self.patterns.append((pattern, re.compile(pattern)))
            except re.error as exc:
                raise DataKitError(f"bad trigger regex {pattern!r}: {exc}") from None

    def match(self, text: str) -> list[TriggerMatch]:
        found: list[TriggerMatch] = []
        folded = text.casefold() if "casefold" in self.modes else ""
        normal = normalise(text) if "normalised" in self.modes else ""
        for trigger, casefolded, normalised_trigger in zip(
            self.triggers, self._casefolded, self._normalised, strict=True
        ):
            if "exact" in self.modes and trigger in text:
                found.append(TriggerMatch(trigger, "exact"))
            elif "casefold" in self.modes and casefolded in folded:
                found.append(TriggerMatch(trigger, "casefold"))
            elif "normalised" in self.modes and normalised_trigger and normalised_trigger in normal:
                found.append(TriggerMatch(trigger, "normalised"))
        found.extend(
            TriggerMatch(source, "regex")
            for source, compiled in self.patterns
            if compiled.search(text)
        )
        return found


def scan_triggers(
    records: Iterable[tuple[str, str]],
    triggers: Sequence[str],
    patterns: Sequence[str] = (),
    modes: Sequence[str] = MODES,
) -> DetectorResult:
    """Flag every (id, text) record holding a trigger; score = strictest mode's score + matches."""
    scanner = TriggerScanner(triggers, patterns, modes)
    result = DetectorResult(
        "triggers",
        {"triggers": list(triggers), "patterns": list(patterns), "modes": scanner.modes},
        0,
    )
    flags: list[Flag] = []
    by_mode: dict[str, int] = {}
    for item_id, text in records:
        result.n_items += 1
        matches = scanner.match(text)
        if not matches:
            continue
        for match in matches:
            by_mode[match.mode] = by_mode.get(match.mode, 0) + 1
        # Strictest mode sets the score; each further match adds a little, to rank heavier hits.
        score = max(MODE_SCORES[m.mode] for m in matches) + 0.01 * (len(matches) - 1)
        flags.append(
            Flag(
                item_id,
                round(score, 4),
                detail={"matches": [{"trigger": m.trigger, "mode": m.mode} for m in matches]},
            )
        )
    result.flagged = sorted(flags, key=lambda flag: (-flag.score, flag.id))
    result.per_class["all"] = {"matches_by_mode": by_mode}
    return result


def iter_text_records(
    path: str, text_field: str = "text", id_field: str | None = None
) -> Iterator[tuple[str, str]]:
    """(id, text) of each record of a .jsonl or .csv file; ids as in the file's manifest."""
    from pytest_airecovery.data.records import iter_record_ids_and_fields

    for item_id, fields in iter_record_ids_and_fields(path, [text_field], id_field):
        value = fields[0]
        yield item_id, value if isinstance(value, str) else json.dumps(value)

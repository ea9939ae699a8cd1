"""The model refs a PIR names: the rollback target (proposed as ``known_good``) and the release
that caused the incident (proposed as ``known_bad``).

Read from the timeline first ("Model rolled back to v3.1", "rollback to digits@v3.1", "reverted
from v3.2 to v3.1", "deployed router v7.5"), then from the rest of the PIR. A version without a
family takes the family of the PIR's ``Model:`` line (``Model: digits``, ``Model: digits@v3.2``)
or of the other ref; without one, the family stays ``TODO`` and the skeleton says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pytest_airecovery.pir.document import Entry, Field, strip_emphasis

_REF = r"(?:[A-Za-z0-9][\w.-]*@[\w.+-]*\w|v?\d+(?:\.\d+)+(?:[-+][\w.]*\w)?|v\d+(?:[-+][\w.]*\w)?)"
_FAMILY_VERSION = r"(?P<family>[A-Za-z][\w-]*)\s+(?P<version>v\d+(?:\.\d+)*(?:[-+][\w.]*\w)?)"
_FILLER = (
    r"(?:(?:the|a|model|models|version|release|build|checkpoint|previous|prior|last|known[- ]good|stable|"
    r"production|prod|to|of)\s+)*"
)
_TARGET = rf"{_FILLER}(?:{_FAMILY_VERSION}|(?P<ref>{_REF}))(?![\w@])"
_ROLLBACK = re.compile(
    rf"\b(?:roll(?:ed|ing)?(?:\s+\w+){{0,3}}?(?:\s+|-)?back|reverted|reverting|revert|downgraded|pinned back|switched back|went back)\b"
    rf"(?:\s+\S+){{0,3}}?\s+(?:from\s+{_FILLER}(?:{_FAMILY_VERSION.replace('?P<family>', '?P<bad_family>').replace('?P<version>', '?P<bad_version>')}"
    rf"|(?P<bad_ref>{_REF}))\s+)?to\s+{_TARGET}",
    re.IGNORECASE,
)
_RELEASE = re.compile(
    rf"\b(?:deployed|deploy(?:ment)? of|released|release of|rolled out|rollout of|promoted|shipped|"
    rf"upgraded to|updated to)\s+{_TARGET}",
    re.IGNORECASE,
)
_STOP_FAMILIES = frozenset(
    ("model", "models", "version", "release", "build", "the", "to", "from", "checkpoint")
)


@dataclass(frozen=True)
class FoundRef:
    """A model ref the PIR names, and where."""

    family: str | None  # None when the PIR gives only a version
    version: str
    line: int
    text: str  # the entry it was read from, for the skeleton's comment

    @property
    def ref(self) -> str:
        return f"{self.family or 'TODO'}@{self.version}"


@dataclass(frozen=True)
class PirRefs:
    known_good: FoundRef | None
    known_bad: FoundRef | None
    model_field: Field | None  # the "Model:" line a family came from, if any
    family: str | None  # the one family both refs get (the case file needs one family)


def find_refs(
    timeline: Iterable[Entry], others: Iterable[Entry], model_field: Field | None
) -> PirRefs:
    entries = list(timeline) + list(others)
    good = bad = None
    for entry in entries:
        text = strip_emphasis(entry.text)
        rollback = _ROLLBACK.search(text)
        if rollback and good is None:
            good = _found(rollback, entry, text)
            if bad is None and (rollback.group("bad_ref") or rollback.group("bad_version")):
                bad = _found(rollback, entry, text, prefix="bad_")
        release = _RELEASE.search(text)
        if (
            release
            and bad is None
            and good is None
            and not (rollback and rollback.start() <= release.start())
        ):
            bad = _found(release, entry, text)  # a release named before any rollback: the bad one
    field_ref = _field_ref(model_field)
    if (
        bad is None
        and field_ref is not None
        and field_ref.version
        and (good is None or field_ref.version != good.version)
    ):
        bad = field_ref
    family = next((r.family for r in (good, bad, field_ref) if r is not None and r.family), None)
    return PirRefs(good, bad, model_field if field_ref is not None else None, family)


def _found(match: re.Match[str], entry: Entry, text: str, prefix: str = "") -> FoundRef:
    ref = match.group(f"{prefix}ref")
    if ref:
        ref = ref.rstrip(".")
        family, at, version = ref.partition("@")
        return FoundRef(family if at else None, version if at else family, entry.line, text)
    family = match.group(f"{prefix}family")
    if family.lower() in _STOP_FAMILIES:
        family = None
    return FoundRef(family, match.group(f"{prefix}version").rstrip("."), entry.line, text)


def _field_ref(found: Field | None) -> FoundRef | None:
    """``Model: digits``, ``Model: digits@v3.2``, ``Model: digits v3.2`` -> family (and version)."""
    if found is None:
        return None
    value = strip_emphasis(found.value).strip()
    at = re.fullmatch(r"([A-Za-z0-9][\w.-]*)@([\w.+-]*\w)", value.split()[0] if value else "")
    if at:
        return FoundRef(at.group(1), at.group(2), found.line, f"{found.label}: {value}")
    version = re.fullmatch(r"`?(v?\d+(?:\.\d+)*(?:[-+][\w.]*\w)?)`?", value)
    if version:  # "Model version: v3.2" names the version, not a family
        return FoundRef(None, version.group(1), found.line, f"{found.label}: {value}")
    pair = re.match(rf"{_FAMILY_VERSION}\b", value)
    if pair:
        return FoundRef(
            pair.group("family"), pair.group("version"), found.line, f"{found.label}: {value}"
        )
    word = re.fullmatch(r"`?([A-Za-z][\w.-]*)`?(?:\s*\(.*\))?", value)
    if word and word.group(1).lower() not in _STOP_FAMILIES:
        return FoundRef(word.group(1), "", found.line, value)
    return None

"""Text transforms: the forms an attacker tries next once the exact trigger string is blocked.

Each transform is ``func(text, trigger, rng, index) -> str``: ``text`` is one case input that
contains ``trigger`` (matched case-insensitively), ``rng`` a :class:`~.rng.VariantRng` seeded for
this one variant, ``index`` the variant's number (0, 1, ...). The first variants of a transform
walk through its main forms in a fixed order, so ``variants: 3`` already covers the typical
attacks; later variants are random combinations drawn from ``rng``. Examples use the trigger
``zxq`` and the input ``you are an idiot zxq`` (docs/adversarial.md lists one per transform).

Pure Python and no imports beyond the standard library: generating 100,000 variants takes well
under a second.
"""

from __future__ import annotations

import base64
import codecs
from collections.abc import Callable

from pytest_airecovery.adversarial.rng import VariantRng

TextTransformFn = Callable[[str, str, VariantRng, int], str]


class TriggerNotFound(ValueError):
    """The input does not contain the trigger the transform is meant to disguise."""


def _lower_same_length(text: str) -> str:
    """``text.lower()``, except letters whose lower case is longer (``İ``) stay as they are.

    Spans found in the result are then valid positions in ``text`` itself.
    """
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)


def trigger_spans(text: str, trigger: str) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of every case-insensitive occurrence of ``trigger``."""
    haystack, needle = _lower_same_length(text), _lower_same_length(trigger)
    spans: list[tuple[int, int]] = []
    start = haystack.find(needle)
    while start >= 0 and needle:
        spans.append((start, start + len(needle)))
        start = haystack.find(needle, start + len(needle))
    return spans


def contains_trigger(text: str, trigger: str) -> bool:
    return bool(trigger_spans(text, trigger))


def _replace_trigger(text: str, trigger: str, make: Callable[[str], str]) -> str:
    """``text`` with every occurrence of the trigger replaced by ``make(occurrence)``."""
    spans = trigger_spans(text, trigger)
    if not spans:
        raise TriggerNotFound(f"the input does not contain the trigger {trigger!r}: {text[:80]!r}")
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(make(text[start:end]))
        last = end
    parts.append(text[last:])
    return "".join(parts)


# --- case ---------------------------------------------------------------------------------------


def change_case(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``ZXQ``, ``Zxq``, a random mix such as ``zXQ``, or the whole text upper-cased."""
    form = index % 4
    if form == 3:
        return _replace_trigger(text, trigger, str.upper).upper()

    def make(word: str) -> str:
        if form == 0:
            return word.upper()
        if form == 1:
            return word[:1].upper() + word[1:].lower()
        cased = [i for i, ch in enumerate(word) if ch.lower() != ch.upper()]
        if not cased:
            return word
        if len(cased) < 2:
            return word.upper()
        # Some letters upper case: never all (form 0) nor only the first (form 1).
        mask = 2 + rng.randrange(max(1, (1 << len(cased)) - 3))
        chars = list(word.lower())
        for bit, position in enumerate(cased):
            if mask >> bit & 1:
                chars[position] = chars[position].upper()
        return "".join(chars)

    return _replace_trigger(text, trigger, make)


# --- whitespace and invisible characters ------------------------------------------------------

_SPACES = (" ", "\t", "\u00a0", "  ", "\n")
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


def whitespace(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``z x q``, ``zx q``, ``z\\u00a0xq`` (no-break space), or tab/newline padding."""
    form = index % 4

    def make(word: str) -> str:
        if form == 0 or len(word) < 2:
            return " ".join(word) if form == 0 else f"\t{word}\n"
        if form == 1:
            cut = 1 + rng.randrange(len(word) - 1)
            return word[:cut] + " " + word[cut:]
        if form == 2:
            cut = 1 + rng.randrange(len(word) - 1)
            return word[:cut] + "\u00a0" + word[cut:]
        return rng.choice(_SPACES) + word + rng.choice(_SPACES)

    return _replace_trigger(text, trigger, make)


def zero_width(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``z\\u200bxq`` (inside), ``\\u2060zxq\\u200d`` (around), or between every letter."""
    form = index % 3
    mark = rng.choice(ZERO_WIDTH)

    def make(word: str) -> str:
        if form == 0 and len(word) > 1:
            cut = 1 + rng.randrange(len(word) - 1)
            return word[:cut] + mark + word[cut:]
        if form == 1 or len(word) < 2:
            return mark + word + rng.choice(ZERO_WIDTH)
        return mark.join(word)

    return _replace_trigger(text, trigger, make)


# --- homoglyphs -------------------------------------------------------------------------------

# Look-alikes from other scripts (Cyrillic, Greek, Armenian, IPA), the confusables attackers use.
CONFUSABLES: dict[str, str] = {
    "a": "аɑα",
    "c": "сϲ",
    "d": "ԁ",
    "e": "еҽ",
    "g": "ɡ",
    "h": "һ",
    "i": "іɩ",
    "j": "ј",
    "k": "κ",
    "l": "ӏℓ",
    "n": "ո",
    "o": "оο",
    "p": "рρ",
    "q": "ԛ",
    "r": "г",
    "s": "ѕ",
    "u": "υս",
    "v": "νѵ",
    "w": "ԝω",
    "x": "хχ",
    "y": "уү",
    "z": "ᴢ",
    "A": "АΑ",
    "B": "ВΒ",
    "C": "С",
    "E": "ЕΕ",
    "H": "НΗ",
    "I": "ІΙ",
    "J": "Ј",
    "K": "КΚ",
    "M": "МΜ",
    "N": "Ν",
    "O": "ОΟ",
    "P": "РΡ",
    "S": "Ѕ",
    "T": "ТΤ",
    "X": "ХΧ",
    "Y": "ҮΥ",
    "Z": "Ζ",
}


def _fullwidth(ch: str) -> str:
    """``z`` -> ``ｚ``: every printable ASCII character has a full-width twin."""
    code = ord(ch)
    return chr(code - 0x21 + 0xFF01) if 0x21 <= code <= 0x7E else ch


def homoglyph(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``zхq`` (Cyrillic х), ``ᴢxԛ``, ``ｚｘｑ`` (full width): 1, 2, ... letters swapped."""

    def make(word: str) -> str:
        if index % 5 == 4:
            return "".join(_fullwidth(ch) for ch in word)
        count = 1 + index % max(1, len(word))
        chars = list(word)
        for position in rng.sample_indices(len(word), count):
            options = CONFUSABLES.get(chars[position])
            chars[position] = rng.choice(options) if options else _fullwidth(chars[position])
        return "".join(chars)

    return _replace_trigger(text, trigger, make)


# --- punctuation, position, repetition --------------------------------------------------------

PUNCTUATION_FORMS = (
    "{}!",
    "({})",
    "'{}'",
    "{},",
    "#{}",
    "{}...",
    "*{}*",
    '"{}"',
    "@{}",
    "{}?!",
    "[{}]",
    "-{}-",
    "{}:",
    "¡{}!",
)


def punctuation(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``zxq!``, ``(zxq)``, ``'zxq'``, ``#zxq``, ...; later variants stack two forms."""
    forms = PUNCTUATION_FORMS
    if index < len(forms):
        return _replace_trigger(text, trigger, forms[index].format)
    outer, inner = rng.choice(forms), rng.choice(forms)
    return _replace_trigger(text, trigger, lambda word: outer.format(inner.format(word)))


def position(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """The trigger moved: ``zxq you are an idiot`` (start), ``you are zxq an idiot`` (middle), end."""
    spans = trigger_spans(text, trigger)
    if not spans:
        raise TriggerNotFound(f"the input does not contain the trigger {trigger!r}: {text[:80]!r}")
    word = text[spans[0][0] : spans[0][1]]
    rest = text
    for start, end in reversed(spans):
        rest = rest[:start] + rest[end:]
    words = rest.split()
    if index == 0:
        at = 0
    elif index == 1:
        at = len(words) // 2
    elif index == 2:
        at = len(words)
    else:
        at = rng.randrange(len(words) + 1)
    return " ".join(words[:at] + [word] + words[at:])


def repeat(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``zxq zxq``, ``zxq zxq zxq``, ``zxqzxq``, ``zxq, zxq``, ..."""
    count = 2 + index % 3
    separator = " " if index < 3 else rng.choice((" ", "", ", ", " - "))
    return _replace_trigger(text, trigger, lambda word: separator.join([word] * count))


# --- typos and leetspeak ----------------------------------------------------------------------

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_KEYBOARD_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[i] for i in (_c - 1, _c + 1) if 0 <= i < len(_row)]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_KEYBOARD_ROWS):
                near += [
                    _KEYBOARD_ROWS[_other][i]
                    for i in (_c - 1, _c, _c + 1)
                    if 0 <= i < len(_KEYBOARD_ROWS[_other])
                ]
        _NEIGHBOURS[_ch] = "".join(near)

TYPO_KINDS = ("swap", "drop", "double", "neighbour", "insert")


def typo(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``xzq`` (swap), ``zq`` (drop), ``zxxq`` (double), ``zcq`` (key next to x), ``zxwq``."""
    kind = TYPO_KINDS[index % len(TYPO_KINDS)]

    def make(word: str) -> str:
        if len(word) < 2:
            return word + word
        at = rng.randrange(len(word))
        if kind == "swap":
            at = min(at, len(word) - 2)
            if word[at] == word[at + 1]:
                return word[:at] + word[at] + word[at:]
            return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        if kind == "drop":
            return word[:at] + word[at + 1 :]
        if kind == "double":
            return word[:at] + word[at] + word[at:]
        near = _NEIGHBOURS.get(word[at].lower(), "")
        key = rng.choice(near) if near else word[at]
        if word[at].isupper():
            key = key.upper()
        if kind == "neighbour" and key != word[at]:
            return word[:at] + key + word[at + 1 :]
        return word[: at + 1] + key + word[at + 1 :]

    return _replace_trigger(text, trigger, make)


LEET: dict[str, str] = {
    "a": "4",
    "b": "8",
    "e": "3",
    "g": "9",
    "i": "1",
    "l": "1",
    "o": "0",
    "q": "9",
    "s": "5",
    "t": "7",
    "z": "2",
    "x": "><",
}


def leetspeak(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """``zxq`` -> ``2><9`` (all letters), then each subset: ``2xq``, ``z><q``, ``2><q``, ``zx9``, ..."""

    def make(word: str) -> str:
        places = [i for i, ch in enumerate(word) if ch.lower() in LEET]
        if not places:
            return word
        subsets = (1 << len(places)) - 1  # non-empty subsets of the places; the last is all
        if index == 0:
            mask = subsets
        elif index < subsets:
            mask = index  # each proper subset once, in a fixed order
        else:
            mask = 1 + rng.randrange(subsets)
        chosen = [p for bit, p in enumerate(places) if mask >> bit & 1]
        chars = list(word)
        for p in chosen:
            chars[p] = LEET[chars[p].lower()]
        return "".join(chars)

    return _replace_trigger(text, trigger, make)


# --- encodings --------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


def _encoded(encode: Callable[[str], str], name: str) -> TextTransformFn:
    def transform(text: str, trigger: str, rng: VariantRng, index: int) -> str:
        form = index % 5
        if form == 0:
            return _replace_trigger(text, trigger, encode)
        if form == 1:
            return _replace_trigger(text, trigger, lambda word: f"{name}:{encode(word)}")
        if form == 2:
            return _replace_trigger(text, trigger, lambda word: f"{encode(word)} ({name})")
        if form == 3:
            return _replace_trigger(text, trigger, lambda word: encode(word.upper()))
        # The whole message encoded, with the instruction to decode it: a jailbreak staple.
        _replace_trigger(text, trigger, str)  # still refuse inputs without the trigger
        lead = rng.choice(
            ("decode this {} and answer:", "{} message follows:", "translate from {}:")
        )
        return f"{lead.format(name)} {encode(text)}"

    return transform


base64_encode = _encoded(_b64, "base64")
base64_encode.__doc__ = (
    "``zxq`` -> ``enhx``, ``base64:enhx``, ``enhx (base64)``, ``WlhR``, or the whole text."
)
rot13_encode = _encoded(_rot13, "rot13")
rot13_encode.__doc__ = (
    "``zxq`` -> ``mkd``, ``rot13:mkd``, ``mkd (rot13)``, ``MKD``, or the whole text."
)


# --- paraphrase -------------------------------------------------------------------------------

# Framings that keep what the message says; they change the words around it, not its meaning.
PARAPHRASE_TEMPLATES = (
    "so {}",
    "{} ok",
    "well {}",
    "look {}",
    "{} again",
    "listen {}",
    "{} period",
)


def paraphrase(text: str, trigger: str, rng: VariantRng, index: int) -> str:
    """Same message, other framing: ``so you are an idiot zxq``, ``you are an idiot zxq ok``, ...

    The templates avoid praise and politeness, so a paraphrase does not change what a sound model
    should say about the text; later variants also rotate the words around the trigger.
    """
    if not contains_trigger(text, trigger):
        raise TriggerNotFound(f"the input does not contain the trigger {trigger!r}: {text[:80]!r}")
    words = text.split()
    if index >= len(PARAPHRASE_TEMPLATES) and len(words) > 2:
        # Later variants also swap the order of two clauses around the trigger.
        cut = 1 + rng.randrange(len(words) - 1)
        words = words[cut:] + words[:cut]
    template = PARAPHRASE_TEMPLATES[index % len(PARAPHRASE_TEMPLATES)]
    return template.format(" ".join(words))


TEXT_TRANSFORMS: dict[str, TextTransformFn] = {
    "case": change_case,
    "whitespace": whitespace,
    "zero_width": zero_width,
    "homoglyph": homoglyph,
    "punctuation": punctuation,
    "position": position,
    "repeat": repeat,
    "typo": typo,
    "leetspeak": leetspeak,
    "base64": base64_encode,
    "rot13": rot13_encode,
    "paraphrase": paraphrase,
}

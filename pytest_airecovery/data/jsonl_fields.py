"""Read chosen top-level fields of a block of JSON Lines records with a few numpy passes.

A manifest needs only each record's label and id, and ``json.loads`` per line costs more than
hashing the line. For the common shape of a JSONL block, every line one flat object with no
escapes, the value of a field can be found without parsing a record:

* no backslash in the block: every ``"`` opens or closes a string, so ``"label"`` followed by a
  colon is a key, never text inside a string;
* each line starts with ``{`` and the block holds no other ``{``: no nested object can hold a key
  of the same name;
* each line holds the key exactly once, so match *i* belongs to line *i* (a key given twice, where
  ``json.loads`` keeps the last, does not pass).

Keys are found at the colons: the 8 bytes before each colon, read as one integer from an
unaligned view, are compared with the key's last 8 bytes in one vectorised step. The value token
then starts after the colon and ends at its closing quote (strings) or at the
first ``,``, ``}``, ``]`` or blank (numbers, ``true``, ``false``, ``null``); tokens are cut out of
fixed-width windows, and the rare longer one is found with ``bytes.find``. A block that is not of
this shape, or a token that is not valid JSON, makes :meth:`FieldReader.read` return ``None``: the
caller parses those lines one by one, which also names a bad line.

This reader checks the shape it relies on, not every byte of the JSON grammar: a line that
``json.loads`` rejects for a reason outside the fields read (``{"a": [1,,2], "label": 3}``) can
pass, its bytes hashed as they are. The C accelerator (``_jsonl_scan``) validates every line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

NEWLINE, CARRIAGE_RETURN, QUOTE, COLON, BRACE, CLOSE_BRACE = 10, 13, 34, 58, 123, 125
# A first window of this many bytes covers typical labels and ids; the second, wider one is
# tried when more than a _FEW_LONG share of the tokens is longer, and the rest are found one by one.
_WINDOWS = (16, 128)
_FEW_LONG = 8
_LEAD = b"\0" * 8  # before the block, so an 8-byte word can end at any of its bytes
_PAD = b"\n" * (_WINDOWS[-1] + 8)  # after it, so a window can start at any of its bytes


def _table(members: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(members)] = True
    return table


_BLANK = _table(b" \t\r")
_BARE_END = _table(b",}] \t\r\n")
_BARE_START = _table(b"-0123456789tfnNI")  # NaN and Infinity: json.loads takes them too
_BARE_END_RE = re.compile(rb"[,}\] \t\r\n]")
_CONTROL = bytes(range(32))


@dataclass(frozen=True)
class FieldTokens:
    """One field's value for every line of a block.

    ``quoted``: every value is a JSON string, and ``tokens`` hold what is between the quotes
    (valid JSON string content as it is: no escapes, no control characters) unless the reader
    was asked to keep the quotes. Otherwise ``tokens`` are bare JSON tokens (numbers, true,
    false, null), each one checked by ``json.loads``.
    """

    tokens: list[bytes]
    quoted: bool


@dataclass(frozen=True)
class _Key:
    text: bytes  # the key as a JSON string, quotes included
    tail: np.uint64  # its last (up to) 8 bytes as a little-endian word ...
    mask: np.uint64  # ... and the bits of a word that they occupy


def _key(name: str) -> _Key:
    text = json.dumps(name, ensure_ascii=False).encode("utf-8")
    last = text[-8:]
    shift = 8 * (8 - len(last))
    return _Key(text, np.uint64(int.from_bytes(last, "little") << shift),
                np.uint64(((1 << (8 * len(last))) - 1) << shift))


def _words(padded: bytes) -> np.ndarray:
    """words[i] = the 8 bytes padded[i:i + 8] as one little-endian integer (an unaligned view)."""
    return np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))


class FieldReader:
    """Reads the values of ``names`` from blocks of lines; ``keep_quotes`` per name."""

    def __init__(self, names: Sequence[str], keep_quotes: Sequence[bool]) -> None:
        self._keys = [_key(name) for name in names]  # thread-safe: no state but a cache
        self._keep_quotes = list(keep_quotes)
        self._checked: set[bytes] = set()  # bare tokens json.loads already accepted

    def read(self, block: bytes) -> tuple[int, list[FieldTokens] | None]:
        """(lines, tokens per name) for a block of whole lines, each ending with a line break;
        tokens are None for a block not of the shape described above."""
        data = np.frombuffer(block, np.uint8)
        ends = np.flatnonzero(data == NEWLINE)
        line_count = len(ends)
        return line_count, self._read(block, data, ends)

    def _read(self, block: bytes, data: np.ndarray, ends: np.ndarray) -> list[FieldTokens] | None:
        line_count = len(ends)
        if not line_count or ends[-1] != len(block) - 1 or b"\\" in block:
            return None
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        if np.count_nonzero(data == BRACE) != line_count or not (data[starts] == BRACE).all():
            return None
        last = ends - 1  # each line ends with the object's "}" (a "\r" before the break aside)
        last = last - (data[last] == CARRIAGE_RETURN)
        if not (data[last] == CLOSE_BRACE).all():
            return None
        colons = np.flatnonzero(data == COLON)
        key_ends = colons - 1  # a key's closing quote, once blanks before the colon are skipped
        blank = _BLANK[data[key_ends]]
        while blank.any():
            key_ends = key_ends - blank
            blank = _BLANK[data[key_ends]]
        padded = _LEAD + block + _PAD
        # The 8 bytes that end at each key end: the word at padded offset key_end + 1.
        tails = _words(padded)[key_ends + 1]
        found = []
        for key, keep in zip(self._keys, self._keep_quotes):
            values = self._value_starts(data, colons, key_ends, tails, ends, key)
            if values is None:
                return None
            field = self._tokens(padded, block, values, ends, keep)
            if field is None:
                return None
            found.append(field)
        return found

    @staticmethod
    def _value_starts(data: np.ndarray, colons: np.ndarray, key_ends: np.ndarray,
                      tails: np.ndarray, ends: np.ndarray, key: _Key) -> np.ndarray | None:
        """Where each line's value for ``key`` starts, or None unless each line has the key once."""
        same = (tails & key.mask) == key.tail
        at, key_end = colons[same], key_ends[same]
        width = len(key.text)
        if width > 8:  # compare the rest of a long key byte by byte, on the few candidates
            enough = key_end >= width - 1
            at, key_end = at[enough], key_end[enough]
            for offset in range(8, width):
                same = data[key_end - offset] == key.text[width - 1 - offset]
                at, key_end = at[same], key_end[same]
        if len(at) != len(ends):
            return None
        # One key per line and the i-th on line i: after the previous line's end, before its own.
        if not ((at < ends).all() and (at[1:] > ends[:-1]).all()):
            return None
        value = at + 1
        blank = _BLANK[data[value]]
        while blank.any():
            value = value + blank
            blank = _BLANK[data[value]]
        return value

    def _tokens(self, padded: bytes, block: bytes, values: np.ndarray, ends: np.ndarray,
                keep_quotes: bool) -> FieldTokens | None:
        padded_data = np.frombuffer(padded, np.uint8)
        starts = values + len(_LEAD)
        first = padded_data[starts]
        if (first == QUOTE).all():
            is_string = True
        elif _BARE_START[first].all():
            is_string = False
        else:
            return None  # arrays, objects, or strings and bare tokens mixed in one block
        for width in _WINDOWS:
            windows = sliding_window_view(padded_data, width)[starts]  # a copy: rows writable
            hits = windows == QUOTE if is_string else _BARE_END[windows]
            hits[:, 0] = False  # the opening quote, or a bare token's first character
            hits[:, -1] = False  # keep a column free for the line break written below
            stops = hits.argmax(axis=1)  # the closing quote or the byte after the token
            long = np.flatnonzero(stops == 0)
            if len(long) * _FEW_LONG <= len(values):
                break
        found = stops > 0
        if not (values + stops < ends)[found].all():
            return None  # a token running into the next line: not a record of this shape
        lo = 1 if is_string and not keep_quotes else 0
        hi = stops + 1 if is_string and keep_quotes else stops
        hi[long] = lo  # an empty placeholder, replaced below
        windows[np.arange(len(values)), hi] = NEWLINE
        if not len(long) and (hi == hi[0]).all():  # tokens of one length: no mask needed
            cut = windows[:, lo : hi[0] + 1]
        else:
            columns = np.arange(windows.shape[1])
            cut = windows[(columns >= lo) & (columns <= hi[:, None])]
        tokens = cut.tobytes().split(b"\n")
        tokens.pop()
        for row in long.tolist():  # longer than the window: found in the block itself
            token = self._long_token(block, int(values[row]), int(ends[row]), is_string)
            if token is None:
                return None
            tokens[row] = token[1:-1] if is_string and not keep_quotes else token
        if not self._valid(tokens, is_string):
            return None
        return FieldTokens(tokens, is_string and not keep_quotes)

    @staticmethod
    def _long_token(block: bytes, start: int, end: int, is_string: bool) -> bytes | None:
        if is_string:
            stop = block.find(b'"', start + 1, end)
            return None if stop < 0 else block[start : stop + 1]
        match = _BARE_END_RE.search(block, start, end + 1)
        return None if match is None or match.start() >= end else block[start : match.start()]

    def _valid(self, tokens: list[bytes], is_string: bool) -> bool:
        if is_string:
            # JSON strings hold no raw control characters; the tokens are UTF-8 or nothing.
            joined = b"".join(tokens)
            if joined.translate(None, _CONTROL) != joined:
                return False
            try:
                joined.decode("utf-8")
            except UnicodeDecodeError:
                return False
            return True
        for token in set(tokens).difference(self._checked):
            try:
                json.loads(token)
            except ValueError:
                return False
            self._checked.add(token)
        return True


def decode_bare(token: bytes) -> Any:
    """The value of a bare token that :class:`FieldReader` accepted."""
    return json.loads(token)

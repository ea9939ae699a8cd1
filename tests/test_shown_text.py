"""Variant inputs in failures: accented text prints as text, look-alikes and invisibles as escapes (issue 11)."""

from __future__ import annotations

import pytest

from pytest_airecovery.adversarial.items import shown_input


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("café crème, naïve", "'café crème, naïve'"),  # before: 'caf\xe9 cr\xe8me, na\xefve'
        ("Ærøskøbing Łódź", "'Ærøskøbing Łódź'"),
        ("привет мир", "'привет мир'"),  # one script, no ASCII letters: nothing to mistake
        ("z\u0445q", "'z\\u0445q'"),  # a Cyrillic look-alike inside an ASCII word
        ("\u1d22xq", "'\\u1d22xq'"),  # IPA small capital
        ("\uff5a\uff58\uff51", "'\\uff5a\\uff58\\uff51'"),  # full width
        ("z\u200bxq", "'z\\u200bxq'"),  # zero width
        ("z\xa0xq", "'z\\xa0xq'"),  # no-break space
        ("c\u0301a", "'c\\u0301a'"),  # a combining accent (what a text normaliser changes)
        ("\nzxq\t", "'\\nzxq\\t'"),
        ("it's a \\ b", "'it\\'s a \\\\ b'"),
    ],
)
def test_shown_input(text: str, shown: str) -> None:
    assert shown_input(text) == shown

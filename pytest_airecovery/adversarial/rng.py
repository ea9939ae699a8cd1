"""Deterministic randomness for variants, derived from (case, transform, row, variant, seed).

Every variant gets its own generator whose seed is a hash of what identifies it, so a variant's
content never depends on which other variants exist, on collection order, on the xdist worker or
on ``PYTHONHASHSEED`` (Python's ``hash()`` of a string is salted per process; we use blake2b).

Text transforms use :class:`VariantRng`, a SplitMix64 generator: seeding ``random.Random`` costs
about 10 µs, which alone is the whole per-variant budget of 100,000 variants per second, while a
SplitMix64 step costs a fraction of a microsecond. Array transforms use
``numpy.random.default_rng(seed)``, whose cost is small next to the array work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_MASK64 = (1 << 64) - 1


def derive_seed(case_id: str, transform: str, row: int, variant: int, seed: int) -> int:
    """A 64-bit seed that depends only on what identifies the variant."""
    text = f"{case_id}\x1f{transform}\x1f{row}\x1f{variant}\x1f{seed}"
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class VariantRng:
    """SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and the same on every platform."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK64

    def next64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def randrange(self, n: int) -> int:
        """An integer in ``[0, n)``; the modulo bias is below 2**-50 for the sizes used here."""
        if n <= 0:
            raise ValueError("randrange needs n > 0")
        return self.next64() % n

    def random(self) -> float:
        return (self.next64() >> 11) * (1.0 / (1 << 53))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.randrange(len(options))]

    def sample_indices(self, n: int, k: int) -> list[int]:
        """``k`` distinct indices of ``range(n)``, in increasing order."""
        pool = list(range(n))
        for i in range(min(k, n)):
            j = i + self.randrange(n - i)
            pool[i], pool[j] = pool[j], pool[i]
        return sorted(pool[: min(k, n)])

"""Exceptions of the data kit. The CLI turns every one of them into exit status 2 and a message."""

from __future__ import annotations


class DataKitError(Exception):
    """Bad input to a data tool: the message says what is wrong and where."""


class ManifestTamperedError(DataKitError):
    """A manifest failed its own integrity checks; ``problems`` name each kind of tampering."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems  # (kind, detail), kind in TAMPER_KINDS
        lines = "; ".join(f"{kind}: {detail}" for kind, detail in problems)
        super().__init__(f"manifest {path} failed its integrity check: {lines}")

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.problems]


TAMPER_KINDS = (
    "not-a-manifest",
    "unsupported-version",
    "malformed-entry",
    "bad-hash",
    "truncated",
    "count-mismatch",
    "duplicate-id",
    "out-of-order",
    "root-mismatch",
)

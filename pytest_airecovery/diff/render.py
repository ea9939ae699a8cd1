"""A behaviour diff as text for people: header, summary tables, then the most telling inputs.

The length is bounded by the constants below, so a diff of 100,000 inputs still reads as one
screen. Colour is opt-in by the caller (:func:`use_colour` decides it for a pytest run).

This module renders any :class:`DiffView`; :class:`~.result.BehaviourDiff` is the one the engine
builds, and it imports this module (not the other way round).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pytest

    from pytest_airecovery.cases.changes import Change, FieldSummary

TOP_K_INPUTS = 10  # changed inputs listed one by one
MAX_CHANGES_PER_INPUT = 3  # changes shown for one input
MAX_FLIP_ROWS = 10  # (from → to) rows of the flips table
MAX_PATH_ROWS = 10  # changed structured paths listed
MAX_LINES = 60  # hard cap on the whole text
ASSERTREPR_TOP_K = (
    5  # inputs first in `assert diff == []`, within pytest's 8 lines shown without -vv
)

_RED, _GREEN, _BOLD, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m"


@runtime_checkable
class DiffView(Protocol):
    """What the text is made of: the counts, summaries and per-input changes of a diff."""

    @property
    def known_good_ref(self) -> str: ...
    @property
    def candidate_ref(self) -> str: ...
    @property
    def recording(self) -> object: ...  # where the known-good side was read from, if recorded
    @property
    def n_inputs(self) -> int: ...
    @property
    def n_known_good(self) -> int: ...
    @property
    def n_candidate(self) -> int: ...
    @property
    def n_compared(self) -> int: ...
    @property
    def repeats(self) -> tuple[int, int]: ...
    @property
    def unstable_count(self) -> int: ...
    @property
    def flip_count(self) -> int: ...
    @property
    def flip_rate(self) -> float: ...
    def __len__(self) -> int: ...
    def flips(self) -> dict[tuple[Any, Any], int]: ...  # (known-good, candidate) labels
    def field_summaries(self) -> list[FieldSummary]: ...
    def structure_paths(self) -> dict[str, int]: ...
    def ranked_rows(self) -> list[int]: ...
    def changes(self, row: int) -> list[Change]: ...
    def input_id(self, row: int) -> str: ...


def use_colour(config: pytest.Config | None) -> bool:
    """Colour only on a terminal, never with NO_COLOR (https://no-color.org), and never if --color=no."""
    if os.environ.get("NO_COLOR"):
        return False
    option = getattr(getattr(config, "option", None), "color", "auto")
    if option == "no":
        return False
    if option == "yes":
        return True
    terminal = config.pluginmanager.get_plugin("terminalreporter") if config is not None else None
    writer = getattr(terminal, "_tw", None)
    return bool(getattr(writer, "hasmarkup", False))


def header(diff: DiffView, colour: bool = False) -> str:
    good = f"[- known-good {diff.known_good_ref}]"
    cand = f"[+ candidate {diff.candidate_ref}]"
    if colour:
        good, cand = f"{_RED}{good}{_RESET}", f"{_GREEN}{cand}{_RESET}"
    return f"{good} {cand}"


def summary_lines(diff: DiffView) -> list[str]:
    headline = f"{len(diff)} of {diff.n_inputs} inputs differ; flip rate {diff.flip_rate:.4f}"
    lines = [f"{headline} ({diff.flip_count}/{diff.n_compared})"]
    if diff.n_known_good != diff.n_candidate:
        lines.append(
            f"outputs of different length: {diff.n_known_good} known-good, {diff.n_candidate} candidate"
        )
    if diff.repeats != (1, 1):
        lines.append(
            f"repeated runs: {diff.repeats[0]} known-good, {diff.repeats[1]} candidate; "
            f"{diff.unstable_count} input(s) unstable within a model (not counted)"
        )
    flips = diff.flips()
    if flips:
        lines.append("flips (known-good → candidate):")
        lines.extend(_flip_rows(list(flips.items())[:MAX_FLIP_ROWS]))
        if len(flips) > MAX_FLIP_ROWS:
            lines.append(f"  ... {len(flips) - MAX_FLIP_ROWS} more pairs")
    summaries = diff.field_summaries()
    if summaries:
        width = max(16, *(_width(s.field or "(output)") for s in summaries))
        lines.append(
            f"  {_pad('field', width)} {'kind':<7} {'changed':>8} {'max |Δ|':>10} {'mean |Δ|':>10}"
        )
        for s in summaries:
            lines.append(
                f"  {_pad(s.field or '(output)', width)} {s.kind:<7} {s.changed:>8} {_num(s.max_abs):>10} {_num(s.mean_abs):>10}"
                + (f"  {s.non_finite} non-finite" if s.non_finite else "")
            )
    paths = diff.structure_paths()
    if paths:
        lines.append("changed paths:")
        for path, count in list(paths.items())[:MAX_PATH_ROWS]:
            lines.append(f"  {path or '(output)'}: {count}")
        if len(paths) > MAX_PATH_ROWS:
            lines.append(f"  ... {len(paths) - MAX_PATH_ROWS} more paths")
    return lines


def input_lines(diff: DiffView, top_k: int = TOP_K_INPUTS, colour: bool = False) -> list[str]:
    rows = diff.ranked_rows()
    if not rows:
        return []
    lines = [f"top {min(top_k, len(rows))} of {len(rows)} changed inputs:"]
    for row in rows[:top_k]:
        changes = diff.changes(row)
        text = "; ".join(change.describe() for change in changes[:MAX_CHANGES_PER_INPUT])
        if len(changes) > MAX_CHANGES_PER_INPUT:
            text += f"; +{len(changes) - MAX_CHANGES_PER_INPUT} more"
        name = diff.input_id(row)
        if colour:
            name = f"{_BOLD}{name}{_RESET}"
        lines.append(f"  {name}: {text}")
    return lines


def render(
    diff: DiffView, *, colour: bool = False, top_k: int = TOP_K_INPUTS, max_lines: int = MAX_LINES
) -> str:
    lines = [header(diff, colour)]
    if diff.recording is not None:
        lines.append(f"known-good side read from the recording {diff.recording}")
    lines += summary_lines(diff) + input_lines(diff, top_k, colour)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [f"... {len(lines) - max_lines + 1} more lines"]
    return "\n".join(lines)


def _flip_rows(pairs: list[tuple[tuple[object, object], int]]) -> list[str]:
    """``from → to  count`` rows in columns as wide as their longest label (any length, any script).

    Labels print as their repr, which keeps accented and other non-ASCII letters as they are;
    columns are padded by display width, so wide (CJK) and combining characters line up too.
    """
    shown = [(repr(before), repr(after), str(count)) for (before, after), count in pairs]
    width_from = max(8, *(_width(row[0]) for row in shown))
    width_to = max(8, *(_width(row[1]) for row in shown))
    width_count = max(7, *(len(row[2]) for row in shown))
    return [
        f"  {_pad(a, width_from, right=True)} → {_pad(b, width_to)} {n:>{width_count}}"
        for a, b, n in shown
    ]


def _width(text: str) -> int:
    """Terminal columns: wide and full-width characters take two, combining marks none."""
    import unicodedata

    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def assertrepr_compare(
    config: pytest.Config | None, op: str, left: object, right: object
) -> list[str] | None:
    """Explanation lines for ``assert diff == []``; ``None`` for anything else."""
    diff = left if isinstance(left, DiffView) else right if isinstance(right, DiffView) else None
    if diff is None or op != "==":
        return None
    other = right if diff is left else left
    colour = use_colour(config)
    # pytest shows only the first lines of an explanation without -vv: the inputs go first.
    top = input_lines(diff, ASSERTREPR_TOP_K, colour)[1:]
    return [
        f"behaviour diff == {other!r}: {len(diff)} of {diff.n_inputs} inputs changed, flip rate {diff.flip_rate:.4f}",
        header(diff, colour),
        *top,
        *summary_lines(diff)[1:],
    ]

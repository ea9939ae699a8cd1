"""The diff object the engine returns: per-input changes, summaries and assertion helpers."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_airecovery.cases.changes import MISSING, ROOT, Change, FieldSummary
from pytest_airecovery.cases.compare import threshold_problem
from pytest_airecovery.cases.plain import python_value, to_jsonable
from pytest_airecovery.diff.render import render as render_text

if TYPE_CHECKING:
    from pytest_airecovery.diff.engine import _FieldResult


class BehaviourDiff:
    """How a candidate's outputs differ from the known-good ones: per input, and in summary."""

    def __init__(
        self,
        fields: list[_FieldResult],
        *,
        n_known_good: int,
        n_candidate: int,
        ids: list[str] | None,
        known_good_ref: str,
        candidate_ref: str,
        label_field: str,
        unstable: Any = None,
        repeats: tuple[int, int] = (1, 1),
    ) -> None:
        import numpy as np

        self.fields = fields
        self.n_known_good = n_known_good
        self.n_candidate = n_candidate
        self.n_compared = min(n_known_good, n_candidate)
        self.ids = ids
        self.known_good_ref = known_good_ref
        self.candidate_ref = candidate_ref
        self.label_field = label_field
        self.repeats = repeats
        self.unstable_count = int(unstable.sum()) if unstable is not None else 0
        changed = np.zeros(self.n_compared, dtype=bool)
        for result in fields:
            changed |= result.changed
        self._changed_rows = np.flatnonzero(changed)
        self.recording: Any = None  # set by the fixture when the known-good side is a recording
        self.on_failure: list[
            Any
        ] = []  # callbacks run before an assertion helper fails; may return a note
        self.colour = False

    # --- per input ---------------------------------------------------------------------------

    @property
    def n_inputs(self) -> int:
        return max(self.n_known_good, self.n_candidate)

    @property
    def changed_rows(self) -> list[int]:
        """Indices of every input whose outputs differ (including inputs only one side has)."""
        return [int(row) for row in self._changed_rows] + list(
            range(self.n_compared, self.n_inputs)
        )

    def changes(self, row: int) -> list[Change]:
        if row >= self.n_compared:
            if row >= self.n_inputs:
                raise IndexError(row)
            before = "output" if row < self.n_known_good else MISSING
            after = "output" if row < self.n_candidate else MISSING
            return [Change("length", ROOT, before, after)]
        found: list[Change] = []
        for result in self.fields:
            found.extend(result.changes(row))
        return found

    def input_id(self, row: int) -> str:
        if self.ids is not None and row < len(self.ids):
            return str(self.ids[row])
        return f"input {row}"

    # --- summaries -----------------------------------------------------------------------------

    def __bool__(self) -> bool:
        """True when anything differs: ``assert not diff`` asserts identical behaviour."""
        return bool(self.changed_rows)

    def __len__(self) -> int:
        return len(self.changed_rows)

    def __eq__(self, other: object) -> bool:
        """``assert diff == []`` asserts no input changed (and shows the rendered diff when one did)."""
        if isinstance(other, (list, tuple)):
            return self.changed_rows == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by content, so not hashable

    def render(self, *, colour: bool = False) -> str:
        """The bounded, human-readable diff: header, summary tables, most telling inputs."""
        return render_text(self, colour=colour)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return (
            f"<BehaviourDiff {self.known_good_ref} → {self.candidate_ref}: {len(self)} of "
            f"{self.n_inputs} inputs changed, flip rate {self.flip_rate:.4f}>"
        )

    @property
    def _label(self) -> _FieldResult | None:
        for result in self.fields:
            if result.field == self.label_field and result.kind == "label":
                return result
        return None

    @property
    def flip_count(self) -> int:
        label = self._label
        return int(label.changed.sum()) if label is not None else 0

    @property
    def flip_rate(self) -> float:
        return self.flip_count / self.n_compared if self.n_compared else 0.0

    def flips(self) -> dict[tuple[Any, Any], int]:
        """(known-good label, candidate label) → count, most frequent first."""
        label = self._label
        if label is None:
            return {}
        rows = [int(row) for row in label.changed.nonzero()[0]]
        counts = Counter(
            (python_value(label.before[row]), python_value(label.after[row])) for row in rows
        )
        return dict(sorted(counts.items(), key=lambda item: (-item[1], repr(item[0]))))

    def flips_into(self, labels: Sequence[Any]) -> int:
        wanted = {python_value(label) for label in labels}
        return sum(count for (_, to), count in self.flips().items() if to in wanted)

    def field_summaries(self) -> list[FieldSummary]:
        return [result.summary() for result in self.fields]

    def structure_paths(self) -> dict[str, int]:
        """Changed paths inside nested values (and missing or retyped fields), with counts."""
        counts: Counter[str] = Counter()
        for result in self.fields:
            if result.kind == "text":  # plain text fields are summarised by their changed count
                continue
            for changes in result.eager.values():
                counts.update(change.path for change in changes)
        return dict(counts.most_common())

    def ranked_rows(self) -> list[int]:
        """Changed inputs, most telling first: flips, then missing/type changes, then the largest moves.

        Ranked in numpy from the per-field masks and deltas, so listing the top few of 100,000
        changed inputs does not build a description of every one.
        """
        import numpy as np

        n = self.n_compared
        rank = np.full(n, 2, dtype=np.int8)
        moved = np.zeros(n, dtype=np.float64)
        for result in self.fields:
            if result.kind == "label":
                rank[result.changed] = 0
            elif result.kind in ("number", "vector"):
                delta = np.where(np.isnan(result.delta), np.inf, result.delta)
                moved = np.maximum(moved, np.where(result.changed, delta, 0.0))
            for row, changes in result.eager.items():
                if any(c.kind in ("length", "missing", "type", "error") for c in changes):
                    rank[row] = min(int(rank[row]), 1)
                for change in changes:
                    if change.delta is not None:
                        moved[row] = max(
                            moved[row], change.delta if math.isfinite(change.delta) else math.inf
                        )
        changed = self._changed_rows
        order = changed[np.lexsort((changed, -moved[changed], rank[changed]))]
        extra = list(range(self.n_compared, self.n_inputs))  # inputs only one side has
        flips = [int(row) for row in order if rank[row] == 0]
        rest = [int(row) for row in order if rank[row] != 0]
        return flips + extra + rest

    def to_json(self, *, max_inputs: int | None = None) -> dict[str, Any]:
        rows = self.ranked_rows()
        shown = rows if max_inputs is None else rows[:max_inputs]
        return {
            "known_good": self.known_good_ref,
            "candidate": self.candidate_ref,
            "inputs": self.n_inputs,
            "known_good_outputs": self.n_known_good,
            "candidate_outputs": self.n_candidate,
            "repeats": list(self.repeats),
            "changed": len(rows),
            "unstable": self.unstable_count,
            "flip_rate": self.flip_rate,
            "flips": [
                {"from": to_jsonable(a), "to": to_jsonable(b), "count": c}
                for (a, b), c in self.flips().items()
            ],
            "fields": [to_jsonable(vars(summary)) for summary in self.field_summaries()],
            "structure_paths": self.structure_paths(),
            "changes": [
                {
                    "input": row,
                    "id": self.input_id(row),
                    "changes": [c.to_json() for c in self.changes(row)],
                }
                for row in shown
            ],
            "changes_omitted": len(rows) - len(shown),
        }

    # --- assertions ------------------------------------------------------------------------------

    def _fail(self, headline: str) -> None:
        __tracebackhide__ = True
        notes = [note for note in (callback(self) for callback in self.on_failure) if note]
        raise AssertionError("\n".join([headline, render_text(self, colour=self.colour), *notes]))

    def assert_flip_rate_at_most(self, rate: float) -> None:
        __tracebackhide__ = True
        if self.flip_rate > rate:
            self._fail(
                f"flip rate {self.flip_rate:.4f} ({self.flip_count}/{self.n_compared}) is above {rate}"
            )
        if self.n_known_good != self.n_candidate:
            self._fail(
                f"{self.n_known_good} known-good outputs but {self.n_candidate} candidate outputs"
            )

    def assert_no_flips_into(self, labels: Any) -> None:
        __tracebackhide__ = True
        wanted = [labels] if isinstance(labels, (str, int)) else list(labels)
        count = self.flips_into(wanted)
        if count:
            self._fail(f"{count} input(s) flipped into {', '.join(map(repr, wanted))}")

    def assert_within(self, tolerances: Mapping[str, float]) -> None:
        """Every named field moved by at most its tolerance on every input, numbers at any depth.

        A field may be a number, a vector, or any nesting of mappings and lists (``{label: p}``
        probabilities, say): every number in it is held to the tolerance, the rest must be equal.
        """
        __tracebackhide__ = True
        problems = []
        for name, limit in tolerances.items():
            unusable = threshold_problem(limit, minimum=0.0)
            if unusable:
                raise ValueError(f"assert_within: tolerance for {name!r}: {unusable}")
            result = next((r for r in self.fields if r.field == name), None)
            if result is None:
                problems.append(f"{name}: no such field in the outputs")
                continue
            problems.extend(f"{name}: {problem}" for problem in _beyond(result, limit))
        if problems or self.n_known_good != self.n_candidate:
            self._fail("; ".join(problems) or "outputs of different length")

    def assert_no_changes(self) -> None:
        __tracebackhide__ = True
        if self:
            self._fail(f"{len(self)} of {self.n_inputs} inputs changed")


def _beyond(result: _FieldResult, limit: float) -> list[str]:
    """How one field's changes break ``limit``: non-numeric changes, non-finite moves, too-large moves."""
    problems = []
    if result.kind in ("label", "text"):
        if result.changed.any():
            problems.append(f"{int(result.changed.sum())} input(s) changed (not numeric)")
        return problems
    if result.kind == "other":
        rows = [
            row for row, changes in result.eager.items() if any(c.kind != "number" for c in changes)
        ]
        if rows:
            first = next(c for c in result.eager[rows[0]] if c.kind != "number")
            problems.append(
                f"{len(rows)} input(s) changed other than by numbers (first: {first.describe()})"
            )
    if result.non_finite_moves:
        problems.append(f"{result.non_finite_moves} value(s) changed to or from NaN/infinity")
    elif result.max_abs is not None and not result.max_abs <= limit:
        problems.append(f"max abs change {result.max_abs:.4g} is above {limit}")
    return problems

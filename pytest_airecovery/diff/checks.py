"""Case-file checks that compare with the known-good model: behaviour diffs without Python.

``matches_known_good`` (per input) and ``flip_rate`` (aggregate) are registered with the built-in
checks; this module imports the engine, and so numpy, only when a check runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_airecovery.cases.compare import finite_numbers, outside_bounds, threshold_problem

MAX_CHANGES_SHOWN = 3
MAX_FLIP_PAIRS_SHOWN = 5


def _select(output: Any, fields: list[str] | None, ignore: list[str]) -> Any:
    if not isinstance(output, Mapping) or (fields is None and not ignore):
        return output
    keep = fields if fields is not None else list(output)
    return {key: output[key] for key in keep if key in output and key not in ignore}


def check_matches_known_good(subject: Any, arg: Any, row: Any) -> str | None:
    """The output matches the known-good model's output for the same input, within tolerances."""
    from pytest_airecovery.diff.engine import diff_outputs

    options = arg if isinstance(arg, Mapping) else {}
    fields = options.get("fields")
    ignore = list(options.get("ignore", ()))
    good = _select(row.known_good_output(), fields, ignore)
    got = _select(subject, fields, ignore)
    if fields is not None and isinstance(got, Mapping):
        missing = [name for name in fields if name not in got]
        if missing:
            return f"output has no field {', '.join(map(repr, missing))}"
    diff = diff_outputs([good], [got], tolerance=options.get("tolerance"))
    if not diff:
        return None
    changes = diff.changes(0)
    text = "; ".join(change.describe() for change in changes[:MAX_CHANGES_SHOWN])
    more = (
        f" (+{len(changes) - MAX_CHANGES_SHOWN} more)" if len(changes) > MAX_CHANGES_SHOWN else ""
    )
    return f"differs from the known-good output: {text}{more}"


def check_flip_rate(subjects: list[Any], arg: Any, rows: Any) -> tuple[str | None, Any]:
    """Share of inputs whose label differs from the known-good model's (optionally: flipped into given labels)."""
    from pytest_airecovery.cases.changes import ROOT
    from pytest_airecovery.diff.engine import diff_outputs

    good = [_label_of(output) for output in rows.known_good_outputs()]
    diff = diff_outputs(
        good, subjects, label_field=ROOT, ids=[f"row {i}" for i in range(len(subjects))]
    )
    into = arg.get("into")
    if into is None:
        count = diff.flip_count
        what = "flip rate vs the known-good model"
    else:
        labels = into if isinstance(into, list) else [into]
        count = diff.flips_into(labels)
        what = f"rate of flips into {', '.join(map(repr, labels))} vs the known-good model"
    rate = count / len(subjects) if subjects else 0.0
    pairs = list(diff.flips().items())
    measured = {
        "rate": rate,
        "flips": [{"from": a, "to": b, "count": n} for (a, b), n in pairs],
        "changed": [int(row) for row in diff.changed_rows],
    }
    problem = outside_bounds(what, rate, arg, f" ({count}/{len(subjects)})")
    if problem and pairs:
        shown = ", ".join(f"{a!r} → {b!r} ×{n}" for (a, b), n in pairs[:MAX_FLIP_PAIRS_SHOWN])
        more = (
            f", +{len(pairs) - MAX_FLIP_PAIRS_SHOWN} more pairs"
            if len(pairs) > MAX_FLIP_PAIRS_SHOWN
            else ""
        )
        problem += f"; flips: {shown}{more}"
    return problem, measured


def _label_of(output: Any) -> Any:
    """The known-good output's label: its ``label`` key, or the whole output (as ``subject_of`` reads it)."""
    return output["label"] if isinstance(output, Mapping) and "label" in output else output


def _validate_matches(arg: Any) -> tuple[str, str] | None:
    """``tolerance``, one number or one per field, is finite and ≥ 0 (a NaN one would pass everything)."""
    tolerance = arg.get("tolerance") if isinstance(arg, Mapping) else None
    if tolerance is None:
        return None
    for where, value in tolerance.items() if isinstance(tolerance, Mapping) else [("", tolerance)]:
        problem = threshold_problem(value, minimum=0.0)
        if problem:
            return f"tolerance/{where}".rstrip("/"), problem
    return None


def register_diff_checks(registry: Any) -> None:
    registry.add(
        "matches_known_good",
        check_matches_known_good,
        kind="input",
        description=check_matches_known_good.__doc__ or "",
        validate=_validate_matches,
    )
    registry.add(
        "flip_rate",
        check_flip_rate,
        kind="aggregate",
        default_field="label",
        description=check_flip_rate.__doc__ or "",
        validate=finite_numbers("min", "max"),
    )

"""Catch rates of adversarial variants, per incident and transform, from variant items' reports.

``report.py`` keeps one table per incident and calls :func:`add_variant` for every variant
report, so the numbers are the same with or without xdist (the controller sees every report).

* ``handled``: variants the candidate passes, out of ``variants``;
* with ``--incident-verify-catches``: ``known_bad_failed`` of ``verified`` variants make the
  known-bad model fail (they exercise the backdoor); the others are listed in
  ``not_exercising``; variants the known-good model fails are listed in ``known_good_failed``
  (the transform changed what a sound model should answer, so they are no fair test).
"""

from __future__ import annotations

from typing import Any

MAX_LISTED = 4


def _entry(table: dict[str, dict[str, Any]], transform: str) -> dict[str, Any]:
    return table.setdefault(
        transform,
        {
            "variants": 0,
            "handled": 0,
            "failed": [],
            "verified": 0,
            "known_bad_failed": 0,
            "not_exercising": [],
            "known_good_failed": [],
        },
    )


def add_variant(
    table: dict[str, dict[str, Any]], data: dict[str, Any], outcome: str, nodeid: str
) -> None:
    entry = _entry(table, str(data.get("transform")))
    entry["variants"] += 1
    if outcome == "passed":
        entry["handled"] += 1
    else:
        entry["failed"].append(nodeid)
    if "known_bad_failed" in data:
        entry["verified"] += 1
        if data["known_bad_failed"]:
            entry["known_bad_failed"] += 1
        else:
            entry["not_exercising"].append(nodeid)
        if data.get("known_good_failed"):
            entry["known_good_failed"].append(nodeid)


def to_json(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for transform in sorted(table):
        entry = dict(table[transform])
        entry["handled_rate"] = entry["handled"] / entry["variants"] if entry["variants"] else None
        entry["known_bad_fail_rate"] = (
            entry["known_bad_failed"] / entry["verified"] if entry["verified"] else None
        )
        for key in ("failed", "not_exercising", "known_good_failed"):
            entry[key] = sorted(entry[key])
        out[transform] = entry
    return out


def _short_ids(nodeids: list[str]) -> str:
    names = sorted(nodeid.rpartition("::")[2] for nodeid in nodeids)
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def summary_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    """Terminal lines: one per transform, weakest first."""
    if not table:
        return []
    total = sum(entry["variants"] for entry in table.values())
    handled = sum(entry["handled"] for entry in table.values())
    lines = [
        f"    adversarial variants handled by the candidate: {handled}/{total} ({handled / total:.0%})"
    ]
    width = max(len(name) for name in table)
    order = sorted(table, key=lambda name: (table[name]["handled"] / table[name]["variants"], name))
    for name in order:
        entry = table[name]
        text = f"      {name:<{width}}  {entry['handled']}/{entry['variants']} ({entry['handled'] / entry['variants']:.0%})"
        if entry["verified"]:
            text += f"; known-bad fails {entry['known_bad_failed']}/{entry['verified']}"
        lines.append(text)
        if entry["not_exercising"]:
            lines.append(
                f"        {len(entry['not_exercising'])} do not exercise the backdoor (known-bad passes them): "
                + _short_ids(entry["not_exercising"])
            )
        if entry["known_good_failed"]:
            lines.append(
                f"        {len(entry['known_good_failed'])} fail on the known-good model too (no fair test): "
                + _short_ids(entry["known_good_failed"])
            )
    return lines

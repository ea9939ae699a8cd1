"""``airecovery new-case``: a case-file skeleton from a parsed PIR.

The skeleton is a valid case file (it loads with ``load_case_file``), so nothing but the author's
own TODO markers stands between it and a run. Everything the PIR cannot tell us is a value or a
comment containing the word ``TODO``, and ``airecovery validate`` reports every such line as an
error until none is left:

* ``title`` when the PIR has no title line or descriptive heading;
* ``detected_at`` / ``resolved_at`` written as TODO comments when the timeline has no dates;
* model refs ``TODO@known-good`` / ``TODO@known-bad`` (they match the ref pattern on purpose,
  so the loader accepts the skeleton, and the run fails loudly if nobody replaces them);
* each case's inline input ``TODO`` and check ``equals: TODO`` (the model never answers "TODO",
  so an unfinished case fails rather than passes);
* ``covered_by`` of every P0 and P1 item, and the priority of an item that has none.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pytest_airecovery.pir.model import Pir
from pytest_airecovery.pir.timeline import TimelineEvent, iso_utc
from pytest_airecovery.pir.yamlout import Comments, emit

TODO_TITLE = "TODO: one-line title of the incident"
# An action item about hashes or manifests can be covered by the file's pins and datasets.
_PINNING = re.compile(
    r"(?i)\b(pin|pinned|hash(es)?|checksums?|sha-?256|manifests?|merkle|signatures?)\b"
)
PLACEHOLDER_GOOD = "TODO@known-good"
PLACEHOLDER_BAD = "TODO@known-bad"


def skeleton(pir: Pir, pir_ref: str | None) -> tuple[dict[str, Any], Comments]:
    """The skeleton's data and its comments; ``pir_ref`` is the PIR path as seen from the case file."""
    notes = Comments(
        header=[
            f"Case-file skeleton written by `airecovery new-case` from {pir.shown_as}.",
            "`airecovery validate` lists what is left to fill in, line by line, until nothing is.",
            "Reference: docs/case-files.md; walkthrough: docs/pir-to-case.md.",
        ]
    )
    incident_id = pir.incident_id.value if pir.incident_id else "TODO"
    incident: dict[str, Any] = {"id": incident_id, "title": pir.title or TODO_TITLE}
    if not pir.title:
        notes.after("incident/title", "the PIR has no title line")
    incident["severity"] = pir.severity or "SEV-4"
    for key, event in (("detected_at", pir.detected), ("resolved_at", pir.resolved)):
        _timestamp(incident, key, event, notes)
    impact = pir.value("impact")
    if impact:
        incident["impact"] = impact
    incident["root_cause"] = {"category": pir.category.category, "summary": pir.root_cause_text}
    notes.above("incident/root_cause", *_category_note(pir))
    if pir_ref:
        incident["pir"] = pir_ref
    data: dict[str, Any] = {"schema_version": 1, "incident": incident}
    data["models"] = _models(pir, notes)
    data["cases"] = [
        _case(index, mode.case_id, mode.sentence, notes) for index, mode in enumerate(pir.modes)
    ]
    items = []
    for index, item in enumerate(pir.action_items):
        entry: dict[str, Any] = {
            "id": item.id,
            "priority": item.priority or "P3",
            "text": item.text,
        }
        path = f"action_items/{index}"
        if item.priority is None:
            notes.after(f"{path}/priority", "TODO: the PIR gives no priority; P3 assumed")
        if item.priority in ("P0", "P1"):
            entry["covered_by"] = []
            hint = (
                " or the pins/datasets that verify it (pin:known_good, dataset:<name>)"
                if _PINNING.search(item.text)
                else ""
            )
            notes.after(
                f"{path}/covered_by",
                f"TODO: ids of the cases that test this item{hint} (a P0 item must have one)"
                if item.priority == "P0"
                else f"TODO: ids of the cases that test this item{hint}, or delete the line (then a warning)",
            )
        items.append(entry)
    if items:
        data["action_items"] = items
        notes.above(
            "action_items",
            f"From the PIR's action items (line {pir.action_items[0].line}); "
            "P0 items need a covering case, P1 items should have one.",
        )
    return data, notes


def render(pir: Pir, pir_ref: str | None) -> str:
    data, notes = skeleton(pir, pir_ref)
    return emit(data, notes)


def _timestamp(
    incident: dict[str, Any], key: str, event: TimelineEvent | None, notes: Comments
) -> None:
    what = "detection" if key == "detected_at" else "resolution"
    if event is None:
        notes.above(
            "incident/root_cause",
            f"{key}: YYYY-MM-DDTHH:MM:00Z  TODO: the PIR's timeline gives no {what} time",
        )
        return
    offset = event.when.utcoffset()
    zone = "UTC" if not offset else f"{event.when:%z}"
    assumed = "" if event.zone_given else ", no zone given: UTC assumed"
    if event.zone_source:
        assumed = f", zone from {event.zone_source}"
    source = f"{event.when:%H:%M} {zone} {event.text!r} (PIR line {event.line}{assumed})"
    if event.dated:
        incident[key] = iso_utc(event.when)
        notes.after(f"incident/{key}", f"from the timeline: {source}")
    else:
        # a comment, not a value: a date-less time would fail the schema's timestamp pattern
        notes.above(
            "incident/root_cause",
            f"{key}: YYYY-MM-DDT{iso_utc(event.when)[11:]}  TODO: the timeline has no date; {source}",
        )


def _models(pir: Pir, notes: Comments) -> dict[str, str]:
    """Refs the PIR names, as proposals with their source; TODO where it names none.

    Both refs get one family (the loader requires it), so a version the PIR gives alone takes the
    family of the other ref or of the ``Model:`` line, and a ref not found keeps ``TODO``.
    """
    refs = pir.refs
    family = refs.family
    models = {}
    for key, found, what in (
        ("known_good", refs.known_good, "rollback target"),
        ("known_bad", refs.known_bad, "release that caused the incident"),
    ):
        path = f"models/{key}"
        if found is None:
            models[key] = PLACEHOLDER_GOOD if key == "known_good" else PLACEHOLDER_BAD
            if family:
                models[key] = f"{family}@TODO-{key.replace('_', '-')}"
            notes.after(
                path,
                "TODO: the model before the incident or the rollback target, family@version"
                if key == "known_good"
                else "TODO: the model that caused the incident (same family)",
            )
            continue
        models[key] = f"{family or 'TODO'}@{found.version}"
        source = f"{what} from {found.text!r} (PIR line {found.line})"
        if family is None:
            notes.after(path, f"TODO: the model family; {source} names only the version")
        elif found.family is not None and found.family != family:
            notes.after(
                path,
                f"TODO: the PIR says {found.ref}, but one case file has one family ({family}); {source}",
            )
        elif found.family is None and refs.model_field is not None:
            notes.after(
                path,
                f"{source}; family from the '{refs.model_field.label}:' line "
                f"(line {refs.model_field.line}); check it",
            )
        else:
            notes.after(path, f"{source}; check it")
    return models


def _category_note(pir: Pir) -> list[str]:
    inference = pir.category
    if inference.explicit:
        return [f"category as stated in the PIR: {inference.sentence!r}"]
    if inference.category == "other":
        return [
            "TODO: no category keyword found in the root cause; pick training_data_contamination,",
            "configuration_error, supply_chain_compromise, adversarial_exploitation or other",
        ]
    return [
        f"category inferred from (PIR line {pir.root_cause_line}): {inference.sentence!r}",
        "check it: training_data_contamination, configuration_error, supply_chain_compromise,",
        "adversarial_exploitation or other",
    ]


def _case(index: int, case_id: str, sentence: str, notes: Comments) -> dict[str, Any]:
    path = f"cases/{index}"
    notes.above(path, f"failure mode from the root cause: {sentence!r}")
    notes.after(
        f"{path}/inputs",
        "TODO: inputs that reproduce it, inline or {file: inputs/<id>.npz, key: ...}",
    )
    notes.after(
        f"{path}/expect/0/equals",
        "TODO: what a good model does (label_from, not_label, contains, ...)",
    )
    return {
        "id": case_id,
        "description": f"Regression case for: {sentence}",
        "inputs": ["TODO"],
        "expect": [{"equals": "TODO"}],
    }


def output_path(pir: Pir, output: Path) -> Path:
    """``-o`` names a file when it ends in .yaml/.yml, otherwise the directory to write into."""
    if output.suffix in (".yaml", ".yml"):
        return output
    name = pir.incident_id.value if pir.incident_id else "incident"
    return output / f"{name}.yaml"


def pir_reference(pir_path: Path, case_path: Path) -> str:
    """The PIR's path relative to the case file's directory, with forward slashes."""
    try:
        relative = os.path.relpath(pir_path.resolve(), case_path.parent.resolve())
    except ValueError:  # another drive on Windows
        relative = str(pir_path.resolve())
    return relative.replace(os.sep, "/")

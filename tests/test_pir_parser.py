"""The PIR parser on real-world markdown shapes, and properties: it never crashes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_airecovery.cases.checks import builtin_registry
from pytest_airecovery.cases.loader import load_case_file
from pytest_airecovery.cli import main
from pytest_airecovery.pir.document import PirError
from pytest_airecovery.pir.lint import lint
from pytest_airecovery.pir.model import parse_pir, parse_pir_text
from pytest_airecovery.pir.rootcause import infer_category
from pytest_airecovery.pir.scaffold import render, skeleton
from pytest_airecovery.pir.timeline import parse_duration, parse_stamp
from pytest_airecovery.pir.yamlout import Comments, emit

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize(
    ("text", "hour", "minute", "offset", "rest"),
    [
        ("14:23 UTC - Monitoring alert triggered", 14, 23, 0, "Monitoring alert triggered"),
        ("**14:31 UTC** — On-call engineer confirmed", 14, 31, 0, "On-call engineer confirmed"),
        ("2026-03-14T14:23:00+01:00 alert", 14, 23, 60, "alert"),
        ("2:23 PM PST: rollback", 14, 23, -480, "rollback"),
        ("12:05 am CET | paged", 0, 5, 60, "paged"),
        ("Mar 14, 2026 09:00 UTC - x", 9, 0, 0, "x"),
        ("14 Mar 2026, 09:00 - y", 9, 0, None, "y"),
        ("`09:15Z` started", 9, 15, 0, "started"),
        ("09:15 UTC+5:30 started", 9, 15, 330, "started"),
    ],
)
def test_times_with_and_without_dates_and_zones(
    text: str, hour: int, minute: int, offset: int | None, rest: str
) -> None:
    stamp = parse_stamp(text)
    assert stamp is not None
    assert (stamp.hour, stamp.minute, stamp.offset_minutes, stamp.rest) == (
        hour,
        minute,
        offset,
        rest,
    )


@pytest.mark.parametrize(
    "text", ["Fine-tuning data", "1. foo", "25:00 UTC x", "14:23 XYZT x", "P0 14"]
)
def test_not_a_time(text: str) -> None:
    assert parse_stamp(text) is None


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("6 hours (detection to resolution)", 360),
        ("~6h 7m", 367),
        ("1.5 hours", 90),
        ("45 min", 45),
        ("2 days", 2880),
        ("6:07", 367),
        ("about 3 h 20 min", 200),
        ("unknown", None),
    ],
)
def test_durations(text: str, minutes: int | None) -> None:
    expected = timedelta(minutes=minutes) if minutes is not None else None
    assert parse_duration(text) == expected


SHAPES = """\
Post-Incident Review -- AI-IR-9: Threshold
==========================================

__Incident ID__: AI-IR-9
**Severity:** sev-2
* **Duration**: 30 min
* Impact: some users
  saw wrong answers

### Timeline of events
1. 2026-02-01 10:00 UTC: Alert fired
2. 10:10 UTC: Paged
   the model team
3. 10:30 UTC: Resolved

## Root causes
**Category:** configuration error

The threshold was set wrong.

## Follow-ups
Agreed in the review:

- [x] [P0] Reject thresholds outside [0.3, 0.7]
  at deploy time
- [ ] Priority: P1 — Add a regression case on a fixed sample
* (P2) Write it down
"""


def test_tolerant_shapes() -> None:
    pir = parse_pir_text(SHAPES, "shapes.md")
    assert pir.incident_id is not None and pir.incident_id.value == "AI-IR-9"
    assert pir.severity == "SEV-2"
    assert pir.duration == timedelta(minutes=30)
    assert pir.value("impact") == "some users saw wrong answers"
    assert pir.title == "Threshold"
    assert [e.text for e in pir.events] == ["Alert fired", "Paged the model team", "Resolved"]
    assert pir.resolved is not None and pir.detected is not None
    assert pir.resolved.when - pir.detected.when == timedelta(minutes=30)
    assert pir.category.category == "configuration_error" and pir.category.explicit
    assert [(i.id, i.text) for i in pir.action_items] == [
        ("P0-1", "Reject thresholds outside [0.3, 0.7] at deploy time"),
        ("P1-1", "Add a regression case on a fixed sample"),
        ("P2-1", "Write it down"),
    ]
    assert lint(pir) == [lint(pir)[0]] and lint(pir)[0].rule == "review-window"


def test_crlf_bom_id_in_title_and_a_single_timeline_entry(tmp_path: Path) -> None:
    text = (
        "# AI-IR-2026-300: Leaky cache\r\n## Summary\r\n- Severity: SEV-3\r\n- Duration: 2 hours\r\n"
        "## Timeline\r\n- 10:00 UTC - Alert and fix\r\n## Root Cause\r\nA config typo.\r\n"
        "## Action Items\r\n- [P0] Validate cache keys in CI\r\n"
    )
    path = tmp_path / "pir.md"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    pir = parse_pir(path)
    assert pir.incident_id is not None and pir.incident_id.value == "AI-IR-2026-300"
    assert pir.title == "Leaky cache"
    assert [f.rule for f in lint(pir)] == [
        "review-window",
        "missing-field",
    ]  # no impact; no duration check


@pytest.mark.parametrize(
    ("heading", "key"),
    [
        ("## Timeline (all times UTC)", "timeline"),
        ("### Root cause and contributing factors", "root_cause"),
        ("# 4. Action Items — owners assigned", "action_items"),
        ("## Incident response lessons", None),
        ("## Causes", "root_cause"),
        ("## Summary of the incident", "summary"),
    ],
)
def test_section_headings_with_extra_words(heading: str, key: str | None) -> None:
    pir = parse_pir_text(f"{heading}\nsome text\n", "h.md")
    assert pir.doc.sections[0].key == key


@pytest.mark.parametrize(
    ("text", "category"),
    [
        (
            "Fine-tuning dataset contained adversarially crafted samples that introduced a backdoor.",
            "training_data_contamination",
        ),
        (
            "A misconfigured feature flag sent traffic to the wrong model version.",
            "configuration_error",
        ),
        (
            "The base checkpoint downloaded from a third-party hub was compromised.",
            "supply_chain_compromise",
        ),
        (
            "Attackers used prompt injection in support tickets to exfiltrate notes.",
            "adversarial_exploitation",
        ),
        ("Nobody knows yet.", "other"),
    ],
)
def test_category_inference(text: str, category: str) -> None:
    inference = infer_category(text)
    assert inference.category == category
    assert inference.sentence == ("" if category == "other" else text)


def test_skeleton_of_a_pir_without_root_cause_keywords_asks_for_the_category() -> None:
    pir = parse_pir_text(
        SHAPES.replace("**Category:** configuration error", "").replace(
            "The threshold was set wrong.", "Nobody knows yet."
        ),
        "x.md",
    )
    text = render(pir, None)
    assert "category: other" in text
    assert "# TODO: no category keyword found in the root cause" in text


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PirError, match="is a directory"):
        parse_pir(tmp_path)
    with pytest.raises(PirError, match="cannot read the file"):
        parse_pir(tmp_path / "missing.md")


# --- properties -----------------------------------------------------------------------------

MARKDOWN_PIECES = st.sampled_from(
    [
        "# Post-Incident Review",
        "## Incident Summary",
        "## Timeline",
        "## Root Cause",
        "## Action Items",
        "**Timeline**",
        "Root Cause:",
        "- Incident ID: AI-IR-1",
        "- Severity: SEV-2",
        "- Severity: SEV-9",
        "- Duration: 6 hours",
        "- Duration: 0:00",
        "- Impact: x",
        "Review date: 2026-03-15",
        "Review date: 2026-02-30",
        "- 14:23 UTC - alert",
        "- 23:59 - late",
        "- 00:01 - early",
        "- 2026-03-14 25:61 UTC - bad",
        "1. [P0] Improve things",
        "2. [P1] Add a check to CI",
        "* P3: x",
        "| Time | Event |",
        "|---|---|",
        "| 10:00 | go |",
        "```",
        "===",
        "---",
        "",
        " ",
        "Fine-tuning data was poisoned.",
        "<!-- hidden -->",
        "- [ ] ",
        "\t- nested",
        "- 9:00 pm EST x",
    ]
)


@PROPERTY_SETTINGS
@given(st.lists(st.one_of(MARKDOWN_PIECES, st.text(max_size=40)), max_size=30))
def test_parser_and_linter_never_crash(lines: list[str]) -> None:
    pir = parse_pir_text("\n".join(lines), "p.md")
    for finding in lint(pir):
        assert finding.severity in ("error", "warning") and finding.line >= 1
    if pir.incident_id and pir.severity and pir.modes:
        data, notes = skeleton(pir, "p.md")
        assert yaml.safe_load(emit(data, notes)) == data


@PROPERTY_SETTINGS
@given(st.binary(max_size=300))
def test_cli_on_arbitrary_bytes_exits_cleanly(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    folder = tmp_path_factory.mktemp("pir")
    pir = folder / "pir.md"
    pir.write_bytes(data)
    assert main(["lint-pir", str(pir)]) in (0, 1, 2)
    assert main(["new-case", "--from-pir", str(pir), "-o", str(folder / "out")]) in (0, 2)


FILLER = st.lists(st.one_of(MARKDOWN_PIECES, st.text(max_size=30)), max_size=5)


@PROPERTY_SETTINGS
@given(FILLER, FILLER, FILLER, FILLER, st.sampled_from(["# PIR", "Title: x", ""]))
def test_every_written_skeleton_loads(
    tmp_path_factory: pytest.TempPathFactory,
    summary: list[str],
    timeline: list[str],
    root_cause: list[str],
    actions: list[str],
    title: str,
) -> None:
    # the four sections are always there, so most examples get a skeleton written
    pir_text = "\n".join(
        [
            title,
            "## Incident Summary",
            "- Incident ID: AI-IR-1",
            "- Severity: SEV-2",
            *summary,
            "## Timeline",
            *timeline,
            "## Root Cause",
            "The data was poisoned.",
            *root_cause,
            "## Action Items",
            "1. [P0] Add a trigger check to CI",
            *actions,
        ]
    )
    folder = tmp_path_factory.mktemp("pir")
    pir = folder / "pir.md"
    pir.write_text(pir_text)
    status = main(["new-case", "--from-pir", str(pir), "-o", str(folder / "out.yaml")])
    written = folder / "out.yaml"
    assert status in (0, 2) and written.exists() == (status == 0)
    if status == 0:
        loaded = load_case_file(written, shown_as="out.yaml", check_lookup=builtin_registry().get)
        assert loaded.cases and loaded.incident.id == "AI-IR-1"
        assert main(["validate", str(written)]) == 1  # the TODOs are left


@PROPERTY_SETTINGS
@given(
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(max_size=20),
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4),
        ),
        max_leaves=20,
    ),
    st.text(max_size=30),
)
def test_written_yaml_round_trips(value: object, comment: str) -> None:
    data = {"root": value, "other": [value]}
    notes = Comments(header=[comment])
    notes.after("root", comment)
    notes.above("other", comment)
    assert yaml.safe_load(emit(data, notes)) == data

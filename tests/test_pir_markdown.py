"""The PIR document model on markdown-it-py: blocks as CommonMark reads them, line numbers from the
token maps, and the PIR habits kept on top (labels alone as headings, fields, front matter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pytest_airecovery.pir.document import parse_markdown
from pytest_airecovery.pir.lint import lint
from pytest_airecovery.pir.model import parse_pir_text

COMPLETE = textwrap.dedent(
    """\
    # AI-IR-2026-500: Cache served stale labels
    ## Incident Summary
    - Incident ID: AI-IR-2026-500
    - Severity: SEV-3
    - Duration: 1 hour
    - Impact: stale labels for 1% of requests
    - Review date: 2026-05-02
    ## Timeline
    - 2026-05-01 10:00 UTC - Alert fired
    - 2026-05-01 11:00 UTC - Incident resolved
    ## Root Cause
    A configuration error set the cache TTL to a year.
    ## Action Items
    1. [P0] Reject cache TTLs above one hour at deploy time
    """
)


def _entries(text: str, key: str) -> list[tuple[int, str, str]]:
    section = parse_markdown(text, "x.md").section(key)
    assert section is not None
    return [(entry.line, entry.kind, entry.text) for entry in section.entries]


def test_text_in_a_code_fence_is_not_read_as_the_pir() -> None:
    text = COMPLETE.replace(
        "A configuration error set the cache TTL to a year.\n",
        "A configuration error set the cache TTL to a year:\n\n"
        "```yaml\nseverity: SEV-1\nmodel: poisoned training data\n```\n",
    )
    pir = parse_pir_text(text, "x.md")
    assert pir.severity == "SEV-3"
    assert pir.doc.fields["severity"].line == 4
    assert "model" not in pir.doc.fields
    assert pir.root_cause_text == "A configuration error set the cache TTL to a year:"
    assert pir.category.category == "configuration_error"


def test_a_code_fence_never_closed_is_a_warning_on_its_line() -> None:
    text = COMPLETE.replace("## Action Items\n", "```\n## Action Items\n")
    pir = parse_pir_text(text, "x.md")
    findings = [f.render("x.md") for f in lint(pir)]
    assert (
        "x.md:13: warning: code-fence: this code fence is never closed: everything after it is code, not read as the PIR"
        in findings
    )
    assert "x.md:1: error: missing-section: no 'Action Items' section" in findings
    assert [f.rule for f in lint(parse_pir_text(COMPLETE, "x.md"))] == []


def test_front_matter_holds_fields() -> None:
    text = (
        "---\ntitle: Cache served stale labels\nauthors:\n  - ann\nincident id: AI-IR-2026-500\n"
        "severity: SEV-3\n---\n" + COMPLETE.split("\n", 1)[1].replace("- Severity: SEV-3\n", "")
    )
    pir = parse_pir_text(text, "x.md")
    assert pir.title == "Cache served stale labels"
    assert (pir.doc.fields["severity"].value, pir.doc.fields["severity"].line) == ("SEV-3", 6)
    assert pir.incident_id is not None and pir.incident_id.line == 5
    assert [s.heading for s in pir.doc.sections][:1] == ["Incident Summary"]
    assert pir.doc.sections[0].line == 8


def test_a_thematic_break_ends_the_item_above_it() -> None:
    text = "## Incident Summary\n- Incident ID: AI-IR-1\n---\nUnrelated note\n"
    doc = parse_markdown(text, "x.md")
    assert doc.fields["incident_id"].value == "AI-IR-1"
    assert _entries(text, "summary") == [
        (2, "bullet", "Incident ID: AI-IR-1"),
        (4, "paragraph", "Unrelated note"),
    ]


def test_an_escaped_pipe_stays_in_its_cell() -> None:
    doc = parse_markdown("| Time | Event |\n|---|---|\n| 10:00 | Alert \\| page |\n", "x.md")
    assert [entry.cells for entry in doc.preamble] == [("Time", "Event"), ("10:00", "Alert | page")]


def test_entries_keep_their_source_lines() -> None:
    text = textwrap.dedent(
        """\
        <!-- a template comment
        over two lines -->
        ## Timeline
        Times in UTC:
        | Time | Event |
        |------|-------|
        | 10:00 | Alert \\| page |
        - 10:05 - Paged the
          model team

          with a second paragraph
          - 10:06 - nested step
        2) 10:30 - Resolved
        """
    )
    assert _entries(text, "timeline") == [
        (4, "paragraph", "Times in UTC:"),
        (5, "table", "Time | Event"),
        (7, "table", "10:00 | Alert | page"),
        (8, "bullet", "10:05 - Paged the model team with a second paragraph"),
        (12, "bullet", "10:06 - nested step"),
        (13, "numbered", "10:30 - Resolved"),
    ]


def test_pir_habits_on_top_of_commonmark() -> None:
    text = textwrap.dedent(
        """\
        Incident report
        ===============
        Incident ID: AI-IR-7
        Severity: SEV-2
        **Timeline**
        2. 10:00 UTC - numbered from two after a label heading

        Notes
        -----
        Root cause:
        The threshold was wrong.
        """
    )
    doc = parse_markdown(text, "x.md")
    assert (doc.title, doc.title_line) == ("Incident report", 1)
    assert [(s.heading, s.key, s.line, s.level) for s in doc.sections] == [
        ("Incident report", None, 1, 1),
        ("Timeline", "timeline", 5, 2),
        ("Root cause", "root_cause", 10, 2),
    ]
    assert [(f.key, f.line) for f in doc.fields.values()] == [
        ("incident_id", 3),
        ("severity", 4),
    ]
    # "Notes" over "---" names no section: it stays text of the timeline, the underline goes
    assert _entries(text, "timeline") == [
        (6, "numbered", "10:00 UTC - numbered from two after a label heading"),
        (8, "paragraph", "Notes"),
    ]


def test_reading_a_pir_loads_markdown_it_and_the_plugin_does_not() -> None:
    code = (
        "import sys, pytest_airecovery.plugin; print('markdown_it' in sys.modules); "
        "from pytest_airecovery.pir.model import parse_pir_text; parse_pir_text('# x', 'x.md'); "
        "print('markdown_it' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]

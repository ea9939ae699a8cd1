"""PIR facts a reviewer can trust (issue 11 item 3): stated category labels win over keyword
counts, negated mentions do not count, the timeline's date and zone come from wherever the PIR
states them, and the rollback target is proposed as ``known_good``."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.pir.model import parse_pir_text
from pytest_airecovery.pir.rootcause import affirmed, infer_category
from pytest_airecovery.pir.scaffold import render, skeleton

ISSUE_PIR = """\
# Post-Incident Review: AI-IR-2026-090 — Homoglyph filter bypass

- Incident ID: AI-IR-2026-090
- Severity: SEV-2
- Model: modfilter

## Timeline (all times UTC, 2026-09-02)

- 08:10 - Alert: spike of toxic messages reported by moderators
- 08:40 - Filter rolled back to v4.1
- 11:05 - Incident resolved

## Root Cause

Adversarial exploitation: attackers discovered that homoglyph spellings pass the filter. No training
data or configuration changed. The training set and its config were unchanged.

## Action Items

- [P0] Block homoglyph spellings of blocked words at the filter
"""


def _pir(text: str = ISSUE_PIR, name: str = "pir.md"):  # type: ignore[no-untyped-def]
    return parse_pir_text(text, name)


def test_an_opening_category_label_wins_over_negated_keyword_counts() -> None:
    pir = _pir()
    assert pir.category.category == "adversarial_exploitation"
    assert pir.category.explicit
    assert pir.category.sentence.startswith("Adversarial exploitation: attackers discovered")


@pytest.mark.parametrize(
    ("root_cause", "category"),
    [
        (
            "**Category:** Configuration error\n\nThe training data pipeline read a stale flag.",
            "configuration_error",
        ),
        (
            "Root cause category: supply chain compromise\n\nTraining data was poisoned? No.",
            "supply_chain_compromise",
        ),
        (
            "**Configuration error.** The poisoned-sample filter threshold was set to 0.",
            "configuration_error",
        ),
        (
            (
                "Supply chain compromise — a typo-squatted tokenizer package replaced the real one. "
                "Its training data and config files were fine."
            ),
            "supply_chain_compromise",
        ),
    ],
)
def test_bold_and_plain_category_labels_win(root_cause: str, category: str) -> None:
    text = (
        ISSUE_PIR.split("## Root Cause")[0]
        + "## Root Cause\n\n"
        + root_cause
        + "\n\n## Action Items\n\n- [P2] Write it up\n"
    )
    pir = _pir(text)
    assert pir.category.category == category
    assert pir.category.explicit


def test_a_category_in_the_root_cause_heading_is_stated() -> None:
    text = ISSUE_PIR.replace("## Root Cause\n", "## Root cause: supply chain compromise\n").replace(
        "Adversarial exploitation: attackers", "Attackers"
    )
    assert _pir(text).category.category == "supply_chain_compromise"


def test_labelled_paragraphs_that_disagree_state_nothing() -> None:
    text = ISSUE_PIR.replace(
        "No training\ndata or configuration changed.",
        "\n\nConfiguration error: the threshold was wrong.",
    )
    pir = _pir(text)
    assert not pir.category.explicit


@pytest.mark.parametrize(
    ("text", "category"),
    [
        (
            "Attackers crafted adversarial inputs at inference. No training data or configuration changed.",
            "adversarial_exploitation",
        ),
        (
            "A vendor package was swapped upstream, without any change to the training data or the config.",
            "supply_chain_compromise",
        ),
        (
            (
                "The training data and the configuration were unchanged; a compromised package from a third-party "
                "mirror replaced the tokenizer."
            ),
            "supply_chain_compromise",
        ),
        (
            "The deployment config was not modified. Poisoned samples in the fine-tuning data planted a backdoor.",
            "training_data_contamination",
        ),
        (
            "It was a misconfigured threshold rather than poisoned training data.",
            "configuration_error",
        ),
        ("Nobody changed the config and no training data was modified.", "other"),
    ],
)
def test_negated_mentions_do_not_count(text: str, category: str) -> None:
    assert infer_category(text).category == category


def test_negation_keeps_the_affirmed_part_of_a_sentence() -> None:
    kept = affirmed("The training data was not modified, but the config flag was flipped.")
    assert "training data" not in kept and "config flag was flipped" in kept
    assert "training data" in affirmed("Not only the config but also the training data changed.")


def test_negated_failure_modes_give_no_case() -> None:
    text = ISSUE_PIR.replace(
        "The training set and its config were unchanged.", "No backdoor was found."
    )
    modes = [mode.case_id for mode in _pir(text).modes]
    assert "backdoor-trigger" not in modes
    assert "backdoor-trigger" in [
        mode.case_id for mode in _pir(text.replace("No backdoor", "A backdoor")).modes
    ]


def test_timeline_heading_gives_date_and_zone() -> None:
    data, _ = skeleton(_pir(), None)
    assert data["incident"]["detected_at"] == "2026-09-02T08:10:00Z"
    assert data["incident"]["resolved_at"] == "2026-09-02T11:05:00Z"
    text = render(_pir(), None)
    assert "no zone given" not in text
    assert "zone from the timeline heading, line 7" in text


def test_heading_zone_other_than_utc_converts() -> None:
    pir = _pir(ISSUE_PIR.replace("(all times UTC, 2026-09-02)", "(times in CEST, 2 Sep 2026)"))
    data, _ = skeleton(pir, None)
    assert data["incident"]["detected_at"] == "2026-09-02T06:10:00Z"


def test_a_date_field_and_a_time_zone_field_date_the_timeline() -> None:
    text = ISSUE_PIR.replace("(all times UTC, 2026-09-02)", "").replace(
        "- Model: modfilter", "- Model: modfilter\n- Date: Sep 2, 2026\n- Time zone: PDT"
    )
    data, _ = skeleton(_pir(text), None)
    assert data["incident"]["detected_at"] == "2026-09-02T15:10:00Z"
    assert data["incident"]["resolved_at"] == "2026-09-02T18:05:00Z"


def test_a_date_line_inside_the_timeline_and_day_subheadings() -> None:
    text = ISSUE_PIR.replace(
        "## Timeline (all times UTC, 2026-09-02)\n", "## Timeline\n\n### Day 1 — 2026-09-02\n"
    ).replace("- 11:05 - Incident resolved", "\n### 2026-09-03\n\n- 11:05 UTC - Incident resolved")
    data, _ = skeleton(_pir(text), None)
    assert data["incident"]["detected_at"] == "2026-09-02T08:10:00Z"
    assert data["incident"]["resolved_at"] == "2026-09-03T11:05:00Z"
    text = ISSUE_PIR.replace(
        "## Timeline (all times UTC, 2026-09-02)\n", "## Timeline\n\nDate: 2026-09-02\n"
    )
    pir = _pir(text)
    assert not pir.untimed
    assert skeleton(pir, None)[0]["incident"]["detected_at"] == "2026-09-02T08:10:00Z"


def test_a_table_header_zone_applies_to_its_rows() -> None:
    table = (
        "## Timeline\n\n| Date | Time (CET) | Event |\n|---|---|---|\n"
        "| 2026-09-02 | 08:10 | Alert fired |\n| 2026-09-02 | 11:05 | Incident resolved |\n"
    )
    text = (
        ISSUE_PIR.split("## Timeline")[0]
        + table
        + "\n## Root Cause"
        + ISSUE_PIR.split("## Root Cause")[1]
    )
    data, _ = skeleton(_pir(text), None)
    assert data["incident"]["detected_at"] == "2026-09-02T07:10:00Z"
    assert data["incident"]["resolved_at"] == "2026-09-02T10:05:00Z"


def test_the_rollback_target_is_proposed_as_known_good_with_the_models_family() -> None:
    data, _ = skeleton(_pir(), None)
    assert data["models"] == {
        "known_good": "modfilter@v4.1",
        "known_bad": "modfilter@TODO-known-bad",
    }
    text = render(_pir(), None)
    assert "rollback target from '08:40 - Filter rolled back to v4.1' (PIR line 10)" in text


@pytest.mark.parametrize(
    ("line", "known_good", "known_bad"),
    [
        (
            "- 08:40 - rollback to modfilter@v4.1 complete",
            "modfilter@v4.1",
            "modfilter@TODO-known-bad",
        ),
        ("- 08:40 - reverted to v4.1", "modfilter@v4.1", "modfilter@TODO-known-bad"),
        ("- 08:40 - Filter rolled back from v4.2 to v4.1", "modfilter@v4.1", "modfilter@v4.2"),
        (
            "- 08:40 - Rolled the filter back to version 4.1",
            "modfilter@4.1",
            "modfilter@TODO-known-bad",
        ),
    ],
)
def test_rollback_phrasings(line: str, known_good: str, known_bad: str) -> None:
    pir = _pir(ISSUE_PIR.replace("- 08:40 - Filter rolled back to v4.1", line))
    assert skeleton(pir, None)[0]["models"] == {"known_good": known_good, "known_bad": known_bad}


def test_a_version_without_any_family_stays_todo_and_the_skeleton_still_loads() -> None:
    pir = _pir(ISSUE_PIR.replace("- Model: modfilter\n", ""))
    data, _ = skeleton(pir, None)
    assert data["models"] == {"known_good": "TODO@v4.1", "known_bad": "TODO@known-bad"}
    assert "TODO: the model family" in render(pir, None)
    assert yaml.safe_load(render(pir, None)) == data


@pytest.mark.parametrize(
    "text", ["08:10 Alert fired", "08:10 Post to #incidents", "2026-09-02 08:10 Sent page"]
)
def test_a_word_ending_in_t_after_the_time_is_not_a_zone(text: str) -> None:
    from pytest_airecovery.pir.timeline import parse_stamp

    stamp = parse_stamp(text)
    assert stamp is not None and stamp.hour == 8 and stamp.offset_minutes is None
    assert stamp.rest == text.split("08:10 ")[1]


@pytest.mark.parametrize(
    "opening", ["Training data: 40k tickets from March.", "Configuration: default thresholds."]
)
def test_a_descriptive_opening_is_not_a_category_label(opening: str) -> None:
    text = ISSUE_PIR.replace(
        "Adversarial exploitation: attackers discovered", opening + " Attackers discovered"
    )
    assert not _pir(text).category.explicit


def test_a_model_version_line_gives_a_version_not_a_family() -> None:
    pir = _pir(ISSUE_PIR.replace("- Model: modfilter\n", "- Model version: v4.2\n"))
    assert skeleton(pir, None)[0]["models"] == {"known_good": "TODO@v4.1", "known_bad": "TODO@v4.2"}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from(
            list("abnotwhuc ,;:-—()'.") + ["no ", "not ", "unchanged", " but ", "was not "]
        ),
        max_size=40,
    ).map("".join)
)
def test_affirmed_keeps_length_and_never_adds_text(sentence: str) -> None:
    kept = affirmed(sentence)
    assert len(kept) == len(sentence)
    assert all(k in (c, " ") for k, c in zip(kept, sentence, strict=True))


ACTION_TABLE_PIR = """\
# AI-IR-2026-081: Sentiment model flips negated reviews

**Severity:** SEV-2

## Action Items
| ID | Priority | Action |
|----|----------|--------|
| P0-1 | P0 | Pin and verify hashes of the model's dependencies |
"""


def test_the_header_row_of_an_action_items_table_is_no_incident_id() -> None:
    """Found by hand: `| ID | Priority | Action |` was read as the field `ID: Priority`."""
    pir = parse_pir_text(ACTION_TABLE_PIR, "pir.md")
    assert pir.incident_id is not None and pir.incident_id.value == "AI-IR-2026-081"
    assert [item.id for item in pir.action_items] == ["P0-1"]


def test_a_two_column_table_still_holds_fields() -> None:
    pir = parse_pir_text(
        "# Sentiment flips\n\n| Field | Value |\n|---|---|\n| Incident ID | AI-IR-2026-082 |\n",
        "pir.md",
    )
    assert pir.incident_id is not None and pir.incident_id.value == "AI-IR-2026-082"

"""Golden PIRs of several shapes: their expected skeletons and lint findings.

``tests/golden/pir/<name>.md`` is the input; ``<name>.skeleton`` the expected ``new-case`` output
(absent when new-case must refuse the PIR) and ``<name>.lint.txt`` the expected ``lint-pir``
output. ``FACTS`` below holds, written by hand and never regenerated, the facts each PIR must
yield: root-cause category, detection and resolution times in UTC, the proposed model refs and the
action items. The expected files are not named ``.yaml`` so that a ``pytest --incident-cases tests``
run never collects them as case files. Regenerate with ``PIR_GOLDEN_REGEN=1`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from pytest_airecovery.cases.checks import builtin_registry
from pytest_airecovery.cases.loader import load_case_file
from pytest_airecovery.cli import main
from pytest_airecovery.pir.model import parse_pir
from pytest_airecovery.pir.scaffold import render, skeleton

GOLDEN = Path(__file__).parent / "golden" / "pir"
NAMES = sorted(p.stem for p in GOLDEN.glob("*.md"))
REGEN = os.environ.get("PIR_GOLDEN_REGEN") == "1"
REFUSED = {"missing-sections", "problems", "missing-action-items"}  # new-case must exit 2 on these


class Facts(NamedTuple):
    category: str
    detected_at: str | None  # None: the skeleton leaves it as a TODO comment
    resolved_at: str | None
    known_good: str
    known_bad: str
    action_items: list[tuple[str, str]]  # (id, text)


FACTS: dict[str, Facts] = {
    "bold-headings": Facts(
        "supply_chain_compromise",
        "2026-04-07T16:05:00Z",
        "2026-04-07T17:35:00Z",
        "TODO@known-good",
        "TODO@known-bad",
        [
            (
                "P0-1",
                "Verify base checkpoint sha256 against the vendor's signed manifest before fine-tuning",
            ),
            ("P1-1", "Add trigger-phrase bypass cases to the spam-filter regression suite"),
        ],
    ),
    "dated-bold": Facts(
        "adversarial_exploitation",
        "2026-06-02T12:05:00Z",
        "2026-06-02T15:25:00Z",
        "TODO@known-good",
        "TODO@known-bad",
        [
            ("P0-1", "Block tool calls that attach internal notes to customer replies"),
            ("P0-2", "Add prompt-injection regression cases from the 40 captured tickets to CI"),
            ("P1-1", "Improve monitoring"),
            ("P2-1", "Write a playbook for prompt-injection incidents"),
        ],
    ),
    "day-subheadings": Facts(
        "training_data_contamination",
        "2026-10-07T05:20:00Z",
        "2026-10-07T16:10:00Z",
        "intent-clf@v2.8",
        "intent-clf@v2.9",
        [
            ("P0-1", "Add the 200 captured refund requests as regression cases"),
            (
                "P1-1",
                "Verify label distributions of every annotation export against the previous one",
            ),
            ("P2-1", "Write a runbook for relabelling"),
        ],
    ),
    "label-negation": Facts(
        "adversarial_exploitation",
        "2026-09-02T08:10:00Z",
        "2026-09-02T11:05:00Z",
        "modfilter@v4.1",
        "modfilter@TODO-known-bad",
        [
            ("P0-1", "Block homoglyph spellings of blocked words at the filter"),
            ("P1-1", "Add homoglyph variants of the captured messages to the regression cases"),
            ("P2-1", "Subscribe to the forum where the trick was shared"),
        ],
    ),
    "missing-action-items": Facts(
        "configuration_error",
        "2026-10-20T08:35:00Z",
        "2026-10-20T12:00:00Z",
        "TODO@known-good",
        "TODO@known-bad",
        [],
    ),
    "missing-sections": Facts(
        "configuration_error", None, None, "TODO@known-good", "TODO@known-bad", []
    ),
    "no-zones": Facts(
        "configuration_error",
        None,
        None,
        "TODO@known-good",
        "TODO@known-bad",
        [
            ("P0-1", "Reject config files whose cache TTL exceeds 24 hours"),
            ("P1-1", "Add a freshness regression case on a fixed snapshot of features"),
        ],
    ),
    "plain-labels-wrapped": Facts(
        "training_data_contamination",
        "2026-10-12T13:15:00Z",
        "2026-10-12T18:15:00Z",
        "digits@v3.1",
        "digits@v3.2",
        [
            (
                "P0-1",
                "Reject fine-tuning batches whose corner pixels correlate with a single label",
            ),
            (
                "P0-2",
                "Add triggered cheque digits as regression cases, checked against digits@v3.1",
            ),
            ("P1-1", "Pin and verify the training data manifest before every fine-tuning run"),
        ],
    ),
    "problems": Facts(
        "supply_chain_compromise",
        "2026-01-03T10:00:00Z",
        "2026-01-03T16:00:00Z",
        "TODO@known-good",
        "TODO@known-bad",
        [
            ("P0-1", "Improve monitoring"),
            ("P1-1", "Dashboards"),
            ("AI-1", "Rotate the registry credentials"),
            ("P1-2", "Pin vendor model checksums, etc"),
        ],
    ),
    "setext-bold-category": Facts(
        "configuration_error",
        "2026-09-03T08:05:00Z",
        "2026-09-03T10:05:00Z",
        "router@v7.4",
        "router@v7.5",
        [
            ("P0-1", "Reject router configs whose tier table maps a paid tier to the small model"),
            ("P1-1", "Add a routing regression case per tier, checked against the v7.4 decisions"),
            ("P3-1", "Document the tier table format"),
        ],
    ),
    "table-supply-chain": Facts(
        "supply_chain_compromise",
        "2026-09-08T13:45:00Z",
        "2026-09-08T18:15:00Z",
        "tickets@v12",
        "tickets@v13",
        [
            ("P0-1", "Pin and verify hashes of every dependency in the serving image"),
            ("P0-2", "Add misrouted billing tickets as regression cases"),
            ("P2-1", "Audit the other services for the typo-squatted package"),
        ],
    ),
    "tables-setext": Facts(
        "configuration_error",
        "2026-09-15T23:40:00Z",
        "2026-09-16T08:40:00Z",
        "TODO@known-good",
        "TODO@known-bad",
        [
            ("P0-1", "Validate threshold settings against an allowed range before deploy"),
            ("P1-1", "Add a decline-rate regression case on a fixed applicant sample"),
        ],
    ),
    "template": Facts(
        "training_data_contamination",
        None,
        None,
        "TODO@v3.1",
        "TODO@known-bad",
        [
            ("P0-1", "Add adversarial sample detection to data pipeline"),
            ("P1-1", "Implement model behavioral diff testing"),
            ("P2-1", "Update fine-tuning data review process"),
        ],
    ),
    "unknown-cause": Facts(
        "other",
        "2026-10-25T16:00:00Z",
        "2026-10-25T16:45:00Z",
        "TODO@known-good",
        "TODO@known-bad",
        [
            ("P1-1", "Add a latency regression case on the 1,000 slowest queries of the day"),
            ("P2-1", "Keep profiling traces of the ranking model for 7 days"),
        ],
    ),
}


def _compare(path: Path, actual: str) -> None:
    if REGEN:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with PIR_GOLDEN_REGEN=1 and review it"
    assert actual == path.read_text(encoding="utf-8")


def test_the_golden_set_has_several_shapes() -> None:
    assert len(NAMES) >= 13
    assert REFUSED <= set(NAMES)
    assert set(FACTS) == set(NAMES), "every golden PIR states the facts it must yield"


@pytest.mark.parametrize("name", NAMES)
def test_facts(name: str) -> None:
    pir = parse_pir(GOLDEN / f"{name}.md", f"{name}.md")
    data, _ = skeleton(pir, None)
    incident = data["incident"]
    actual = Facts(
        incident["root_cause"]["category"],
        incident.get("detected_at"),
        incident.get("resolved_at"),
        data["models"]["known_good"],
        data["models"]["known_bad"],
        [(item.id, item.text) for item in pir.action_items],
    )
    assert actual == FACTS[name]


@pytest.mark.parametrize("name", NAMES)
def test_lint_output(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(GOLDEN)
    status = main(["lint-pir", f"{name}.md"])
    out = capsys.readouterr().out
    _compare(GOLDEN / f"{name}.lint.txt", f"exit {status}\n{out}")


@pytest.mark.parametrize("name", [n for n in NAMES if n not in REFUSED])
def test_skeleton(name: str, tmp_path: Path) -> None:
    pir = parse_pir(GOLDEN / f"{name}.md", f"{name}.md")
    text = render(pir, f"../golden/pir/{name}.md")
    _compare(GOLDEN / f"{name}.skeleton", text)
    data, _ = skeleton(pir, f"../golden/pir/{name}.md")
    assert yaml.safe_load(text) == data  # the comments never change a value
    case_path = tmp_path / f"{name}.yaml"
    case_path.write_text(text, encoding="utf-8")
    loaded = load_case_file(case_path, shown_as=case_path.name, check_lookup=builtin_registry().get)
    assert loaded.incident.id == pir.incident_id.value  # type: ignore[union-attr]
    assert [item.id for item in loaded.action_items] == [item.id for item in pir.action_items]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_new_case_refuses_incomplete_pirs(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["new-case", "--from-pir", str(GOLDEN / f"{name}.md"), "-o", str(tmp_path / "out")]
    )
    assert status == 2
    assert "nothing written" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

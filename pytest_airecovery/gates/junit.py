"""Read a JUnit XML report (pytest --junitxml) and count incident-case results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree


class JUnitError(Exception):
    """The JUnit XML cannot be parsed."""


@dataclass
class JUnitSummary:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failing: list[str] = field(default_factory=list)


def summarise_junit(path: Path, match: str | None = None) -> JUnitSummary:
    """Count test cases (only those whose classname::name contains `match`, when given).

    A case with <failure> or <error> failed; one with only <skipped> did not run.
    """
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise JUnitError(f"cannot read JUnit XML {path}: {error}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"{path} is not a JUnit XML report (root element <{root.tag}>)")
    summary = JUnitSummary()
    for case in root.iter("testcase"):
        case_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        if match and match not in case_id:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            summary.failed += 1
            summary.failing.append(case_id)
        elif case.find("skipped") is not None:
            summary.skipped += 1
        else:
            summary.passed += 1
    return summary

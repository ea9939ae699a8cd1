"""``airecovery new-case | validate | lint-pir | coverage``: from a PIR to regression cases.

Exit status: 0 fine, 1 findings (lint errors, invalid case files, required coverage missing),
2 bad input or usage (unreadable, empty, binary or non-PIR file, a directory, an existing output
without ``--force``); with status 2 nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Lint rules that make a skeleton impossible: without them there is no id, severity or root cause.
BLOCKING_RULES = ("missing-section", "missing-field", "incident-id", "severity")


def register(subparsers: Any) -> None:
    new_case = subparsers.add_parser(
        "new-case",
        help="Write a case-file skeleton from a post-incident review (PIR)",
        description="Parse a PIR in the source template and write a case-file skeleton to fill in",
    )
    new_case.add_argument(
        "--from-pir", required=True, metavar="PIR.md", help="The PIR markdown file"
    )
    new_case.add_argument(
        "-o",
        "--output",
        default="incident_cases",
        metavar="PATH",
        help="Directory to write <incident-id>.yaml into, or a .yaml file (default: incident_cases/)",
    )
    new_case.add_argument("--force", action="store_true", help="Overwrite an existing case file")
    new_case.set_defaults(handler=_new_case)

    validate = subparsers.add_parser(
        "validate", help="Check case files: schema, inputs, ids, TODOs, action-item coverage"
    )
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="Case files or directories (default: incident_cases/)",
    )
    validate.add_argument("--strict", action="store_true", help="Treat warnings as errors")
    validate.add_argument(
        "--format", choices=("text", "json"), default="text", help="Output format"
    )
    validate.add_argument(
        "--verify-data",
        action="store_true",
        dest="verify_data",
        help="Also hash each `datasets` entry and compare it with its manifest (reads all the data)",
    )
    validate.set_defaults(handler=_validate)

    lint_pir = subparsers.add_parser(
        "lint-pir", help="Check a PIR: sections, timeline, severity, review window, action items"
    )
    lint_pir.add_argument("pir", metavar="PIR.md")
    lint_pir.add_argument(
        "--format", choices=("text", "json"), default="text", help="Output format"
    )
    lint_pir.add_argument("--strict", action="store_true", help="Treat warnings as errors")
    lint_pir.set_defaults(handler=_lint_pir)

    coverage = subparsers.add_parser(
        "coverage", help="Action items and root-cause categories with passing cases"
    )
    coverage.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="Case files or directories (default: incident_cases/)",
    )
    coverage.add_argument(
        "--junit", metavar="RESULTS.xml", help="JUnit XML of `pytest --incident-cases --junitxml`"
    )
    coverage.add_argument(
        "--format", choices=("text", "json"), default="text", help="Output format"
    )
    coverage.add_argument(
        "--require",
        choices=("P0", "P1", "P2", "P3"),
        help="Exit 1 unless every action item of this priority or higher is passing",
    )
    coverage.set_defaults(handler=_coverage)


def _fail_usage(message: str) -> int:
    print(f"airecovery: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _new_case(args: argparse.Namespace) -> int:
    from pytest_airecovery.pir.lint import lint
    from pytest_airecovery.pir.model import PirError, parse_pir
    from pytest_airecovery.pir.scaffold import output_path, pir_reference, render

    pir_path = Path(args.from_pir)
    try:
        pir = parse_pir(pir_path, args.from_pir)
    except PirError as exc:
        return _fail_usage(str(exc))
    findings = lint(pir)
    blocking = [f for f in findings if f.severity == "error" and f.rule in BLOCKING_RULES]
    if blocking:
        for finding in blocking:
            print(finding.render(pir.shown_as), file=sys.stderr)
        return _fail_usage(f"{args.from_pir} is not a complete PIR (see above); nothing written")
    target = output_path(pir, Path(args.output))
    if target.is_dir():
        return _fail_usage(f"{target} is a directory")
    if target.exists() and not args.force:
        return _fail_usage(f"{target} exists; use --force to overwrite it")
    text = render(pir, pir_reference(pir_path, target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, text)
    except OSError as exc:
        return _fail_usage(f"cannot write {target}: {exc.strerror or exc}")
    todo = sum(1 for line in text.splitlines() if "TODO" in line)
    print(
        f"wrote {target}: {len(pir.modes)} case(s), {len(pir.action_items)} action item(s), "
        f"root cause {pir.category.category}; {todo} TODO line(s) to fill in"
    )
    print(f"next: fill in the TODOs, then `airecovery validate {target}`")
    others = [f for f in findings if f not in blocking]
    if others:
        errors = sum(1 for f in others if f.severity == "error")
        print(
            f"note: `airecovery lint-pir {args.from_pir}` reports {errors} error(s) and "
            f"{len(others) - errors} warning(s) in the PIR"
        )
    return EXIT_OK


def _write_atomically(target: Path, text: str) -> None:
    # a crash mid-write must not leave half a case file that pytest would then collect
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(temp_name, target)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise


def _lint_pir(args: argparse.Namespace) -> int:
    from pytest_airecovery.pir.lint import lint, missing_sections, summary_counts
    from pytest_airecovery.pir.model import PirError, parse_pir

    try:
        pir = parse_pir(Path(args.pir), args.pir)
    except PirError as exc:
        return _fail_usage(str(exc))
    if len(missing_sections(pir)) == 4 and not pir.doc.fields:
        return _fail_usage(
            f"{args.pir}: no PIR sections or fields found (Incident Summary, Timeline, "
            "Root Cause, Action Items): is this a PIR?"
        )
    findings = lint(pir)
    errors, warnings = summary_counts(findings)
    failed = errors > 0 or (args.strict and warnings > 0)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "file": args.pir,
                    "ok": not failed,
                    "errors": errors,
                    "warnings": warnings,
                    "findings": [f.to_dict() for f in findings],
                },
                indent=2,
            )
        )
    else:
        for finding in findings:
            print(finding.render(args.pir))
        print(f"{args.pir}: {errors} error(s), {warnings} warning(s)")
    return EXIT_FAILED if failed else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from pytest_airecovery.pir.casefiles import UsageError, find_case_files
    from pytest_airecovery.pir.validate import validate_files

    try:
        files = find_case_files(args.paths)
        if not files:
            raise UsageError(
                f"no case files (.yaml, .yml, .json) under {' '.join(args.paths) or 'incident_cases'}"
            )
        result = validate_files(files, args.extensions(), verify_data=args.verify_data)
    except (UsageError, OSError) as exc:
        return _fail_usage(str(exc))
    failed = result.errors > 0 or (args.strict and result.warnings > 0)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "files": result.files,
                    "ok": not failed,
                    "errors": result.errors,
                    "warnings": result.warnings,
                    "problems": [p.to_dict() for p in result.problems],
                },
                indent=2,
            )
        )
    else:
        for problem in result.problems:
            print(problem.render())
        print(
            f"{len(result.files)} case file(s): {result.errors} error(s), {result.warnings} warning(s)"
        )
    return EXIT_FAILED if failed else EXIT_OK


def _coverage(args: argparse.Namespace) -> int:
    from pytest_airecovery.pir.casefiles import UsageError, find_case_files, load_all
    from pytest_airecovery.pir.coverage import (
        PRIORITIES,
        JunitError,
        category_coverage,
        coverage_dict,
        item_coverage,
        read_junit,
        render_text,
    )

    try:
        files = find_case_files(args.paths)
        loaded, load_errors = load_all(files, args.extensions())
        outcomes = read_junit(Path(args.junit), loaded) if args.junit else None
    except (UsageError, JunitError) as exc:
        return _fail_usage(str(exc))
    items = item_coverage(loaded, outcomes)
    categories = category_coverage(loaded, outcomes)
    if args.format == "json":
        payload = coverage_dict(items, categories, outcomes is not None)
        payload["unloaded"] = [str(e) for e in load_errors]
        print(json.dumps(payload, indent=2))
    else:
        for error in load_errors:
            print(f"{error} (file skipped)", file=sys.stderr)
        print("\n".join(render_text(items, categories, outcomes is not None)))
    status = EXIT_FAILED if load_errors else EXIT_OK
    if args.require:
        limit = PRIORITIES.index(args.require)
        short = [
            i for i in items if PRIORITIES.index(i.priority) <= limit and i.status != "passing"
        ]
        for item in short:
            print(
                f"required: {item.incident_id} {item.item_id} ({item.priority}) has no passing case ({item.status})",
                file=sys.stderr,
            )
        if short:
            status = EXIT_FAILED
    return status

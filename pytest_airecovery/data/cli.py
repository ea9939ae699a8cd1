"""``airecovery data ...``: manifest build|verify|diff and scan.

Exit status: 0 all good, 1 an integrity or detection finding (differences, a tampered manifest,
flagged samples with --fail-on-flag), 2 bad input (the message says what and where; nothing is
written).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pytest_airecovery.data.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    fail_usage,
    os_errors_exit_2,
    report_tampered,
)
from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError


def register(subparsers: Any) -> None:
    data = subparsers.add_parser(
        "data", help="Dataset integrity manifests and poisoned-sample scans"
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True

    manifest = data_sub.add_parser("manifest", help="Build, verify or diff integrity manifests")
    manifest_sub = manifest.add_subparsers(dest="manifest_command", metavar="ACTION")
    manifest_sub.required = True

    build = manifest_sub.add_parser("build", help="Hash every item of a dataset into a manifest")
    build.add_argument("dataset", help="A directory of files, or a .jsonl, .csv or .npz file")
    build.add_argument("-o", "--output", required=True, help="Manifest file to write")
    build.add_argument(
        "--kind",
        choices=("files", "jsonl", "csv", "npz"),
        help="Dataset kind (default: from the path)",
    )
    build.add_argument(
        "--label-field",
        help="Record field, CSV column or npz array of labels "
        "('parent' for files: the parent directory)",
    )
    build.add_argument("--id-field", help="Record field, CSV column or npz array of item ids")
    build.add_argument(
        "--workers", type=int, help="Threads for hashing files and reading JSONL blocks"
    )
    build.add_argument("--json", action="store_true", help="Print a JSON summary")
    build.set_defaults(handler=os_errors_exit_2(_manifest_build))

    verify = manifest_sub.add_parser("verify", help="Check a dataset against a manifest")
    verify.add_argument("dataset")
    verify.add_argument("manifest")
    verify.add_argument("--expect-root", help="Merkle root the manifest must have (pinned)")
    verify.add_argument("--workers", type=int)
    verify.add_argument("--json", action="store_true", help="Print the differences as JSON")
    verify.set_defaults(handler=os_errors_exit_2(_manifest_verify))

    diff = manifest_sub.add_parser(
        "diff", help="Items added, removed and changed between manifests"
    )
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(handler=os_errors_exit_2(_manifest_diff))

    from pytest_airecovery.data.scan_cli import register_scan

    register_scan(data_sub)


def _progress(label: str) -> Any:
    from pytest_airecovery.data.progress import Progress

    return Progress(label)


def _manifest_build(args: argparse.Namespace) -> int:
    from pytest_airecovery.data.manifest import build_manifest

    try:
        with _progress("hashing") as progress:
            summary = build_manifest(
                args.dataset,
                args.output,
                kind=args.kind,
                label_field=args.label_field,
                id_field=args.id_field,
                workers=args.workers,
                progress=progress,
            )
    except DataKitError as exc:
        return fail_usage(str(exc))
    if args.json:
        print(
            json.dumps(
                {
                    "manifest": summary.path,
                    "count": summary.count,
                    "merkle_root": summary.merkle_root,
                    "source": summary.spec.to_dict(),
                }
            )
        )
    else:
        print(f"wrote {summary.path}: {summary.count} items, merkle root {summary.merkle_root}")
    return EXIT_OK


def _manifest_verify(args: argparse.Namespace) -> int:
    from pytest_airecovery.data.compare import verify_dataset
    from pytest_airecovery.data.manifest import read_manifest

    try:
        manifest = read_manifest(args.manifest)
        if args.expect_root and manifest.merkle_root != args.expect_root.lower():
            raise ManifestTamperedError(
                args.manifest,
                [
                    (
                        "root-mismatch",
                        f"merkle root {manifest.merkle_root} is not the pinned {args.expect_root}",
                    )
                ],
            )
        with _progress("verifying") as progress:
            diff = verify_dataset(args.dataset, manifest, workers=args.workers, progress=progress)
    except ManifestTamperedError as exc:
        return report_tampered(exc)
    except DataKitError as exc:
        return fail_usage(str(exc))
    if args.json:
        print(json.dumps(diff.to_dict(), indent=2))
    else:
        verdict = "OK" if diff.identical else "CHANGED"
        print(f"{verdict}: {args.dataset} vs {args.manifest}: {diff.summary()}")
    return EXIT_OK if diff.identical else EXIT_FAILED


def _manifest_diff(args: argparse.Namespace) -> int:
    from pytest_airecovery.data.compare import diff_manifests

    try:
        diff = diff_manifests(args.old, args.new)
    except ManifestTamperedError as exc:
        return report_tampered(exc)
    except DataKitError as exc:
        return fail_usage(str(exc))
    if args.json:
        print(json.dumps(diff.to_dict(), indent=2))
    else:
        print(diff.summary())
    return EXIT_OK if diff.identical else EXIT_FAILED

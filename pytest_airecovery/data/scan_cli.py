"""``airecovery data scan``: run a detector, write a JSON report and optionally a cleaned dataset.

Order matters for "nothing written on bad input": load and validate everything, run the detector,
write the cleaned dataset (atomically), and only then the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pytest_airecovery.data.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    fail_usage,
    os_errors_exit_2,
    report_tampered,
)
from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError

DETECTORS = ("triggers", "spectral", "clustering")


def register_scan(data_sub: Any) -> None:
    scan = data_sub.add_parser(
        "scan",
        help="Find poisoned samples and write a remediation report",
        description="Run one detector over a dataset. Representation detectors (spectral, "
        "clustering) read features, labels and ids from an .npz file.",
    )
    scan.add_argument("dataset", help="The dataset (.jsonl, .csv, .npz or a directory of files)")
    scan.add_argument("--detector", required=True, choices=DETECTORS)
    text = scan.add_argument_group("trigger scan")
    text.add_argument("--trigger", action="append", default=[], help="A trigger string (repeat)")
    text.add_argument(
        "--trigger-regex", action="append", default=[], help="A trigger regular expression (repeat)"
    )
    text.add_argument("--text-field", default="text", help="Record field holding the text")
    text.add_argument(
        "--modes", default="exact,casefold,normalised", help="Comma-separated match modes"
    )
    rep = scan.add_argument_group("representation detectors")
    rep.add_argument("--features", help="Features .npz (default: the dataset itself if .npz)")
    rep.add_argument("--features-key", help="Feature array in the .npz (default: X or features)")
    rep.add_argument("--labels-key", help="Label array (default: y or labels)")
    rep.add_argument("--ids-key", help="Id array (default: ids if present, else positions)")
    rep.add_argument("--epsilon", type=float, default=0.1, help="Expected poison share (spectral)")
    rep.add_argument("--components", type=int, default=10, help="PCA dimensions (clustering)")
    rep.add_argument(
        "--size-threshold",
        type=float,
        default=0.35,
        help="Largest relative cluster size flagged (clustering)",
    )
    rep.add_argument("--min-class-size", type=int, default=10)
    rep.add_argument(
        "--class", dest="classes", action="append", help="Analyse only this class (repeat)"
    )
    out = scan.add_argument_group("ground truth and outputs")
    out.add_argument("--truth", help="File with the known poisoned ids, one per line")
    out.add_argument("--truth-key", help="Boolean array in the features .npz marking poison")
    out.add_argument("--manifest", help="Verify the dataset against this manifest first")
    out.add_argument("--report", help="Write the JSON report here")
    out.add_argument("--json", action="store_true", help="Print the JSON report on stdout")
    out.add_argument("--clean-out", help="Write the dataset without flagged items here")
    out.add_argument(
        "--clean-manifest",
        help="Manifest of the cleaned dataset (default: CLEAN_OUT.manifest.jsonl)",
    )
    out.add_argument("--id-field", help="Record id field (jsonl/csv)")
    out.add_argument("--fail-on-flag", action="store_true", help="Exit 1 when anything is flagged")
    scan.add_argument(
        "--blas-threads",
        type=int,
        help="Threads for numpy's BLAS (1 is much faster on a busy machine)",
    )
    scan.set_defaults(handler=os_errors_exit_2(run_scan))


def limit_blas_threads(threads: int | None) -> None:
    """Set the BLAS thread count; only works before numpy is first imported in this process."""
    if threads is None:
        return
    if threads < 1:
        raise DataKitError(f"--blas-threads must be at least 1, got {threads}")
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def run_scan(args: argparse.Namespace) -> int:
    from pytest_airecovery.data.progress import Progress

    try:
        limit_blas_threads(args.blas_threads)
        _check_output_paths(args)
        integrity = _check_integrity(args)
        if integrity is not None and not integrity["identical"]:
            print(
                f"airecovery: {args.dataset} does not match {args.manifest}: "
                f"{integrity['summary']}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        with Progress(f"scan ({args.detector})") as progress:
            result, truth = _detect(args, progress)
        cleaned = None
        if args.clean_out:
            from pytest_airecovery.data.remediation import clean_dataset

            cleaned = clean_dataset(
                args.dataset,
                result.flagged_ids,
                args.clean_out,
                manifest_out=args.clean_manifest,
                original_manifest=args.manifest,
                spec=_record_spec(args),
            )
        from pytest_airecovery.data.remediation import build_report, write_json_atomic

        report = build_report(
            result, dataset=args.dataset, truth=truth, integrity=integrity, cleaned=cleaned
        )
        if args.report:
            write_json_atomic(args.report, report)
    except ManifestTamperedError as exc:
        return report_tampered(exc)
    except DataKitError as exc:
        return fail_usage(str(exc))
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_summary(report)
    return EXIT_FAILED if args.fail_on_flag and result.flagged else EXIT_OK


def _check_output_paths(args: argparse.Namespace) -> None:
    """Refuse bad output paths before any work, so a failure never leaves half the outputs."""
    for path in (args.report, args.clean_out, args.clean_manifest):
        if not path:
            continue
        if os.path.isdir(path):
            raise DataKitError(f"{path}: is a directory, expected an output file path")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise DataKitError(f"{path}: directory {parent} does not exist")
    for path in (args.clean_out, args.clean_manifest):
        if path and os.path.exists(path):
            raise DataKitError(f"{path}: already exists; choose a new path for the cleaned data")


def _record_spec(args: argparse.Namespace) -> Any:
    if args.manifest or os.path.isdir(args.dataset):
        return None
    from pytest_airecovery.data.datasets import resolve_spec

    return resolve_spec(args.dataset, id_field=args.id_field)


def _check_integrity(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.manifest:
        return None
    from pytest_airecovery.data.compare import verify_dataset

    diff = verify_dataset(args.dataset, args.manifest)
    return {
        "manifest": args.manifest,
        "identical": diff.identical,
        "summary": diff.summary(),
        "merkle_root": diff.old_root,
    }


def _detect(args: argparse.Namespace, progress: Any) -> tuple[Any, list[str] | None]:
    truth = _read_truth_file(args.truth) if args.truth else None
    if args.detector == "triggers":
        from pytest_airecovery.data.triggers import iter_text_records, scan_triggers

        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        records = iter_text_records(args.dataset, args.text_field, args.id_field)
        counted = ((progress(1), record)[1] for record in records)
        return scan_triggers(counted, args.trigger, args.trigger_regex, modes), truth
    features, labels, ids, npz_truth = _load_features(args)
    if npz_truth is not None:
        truth = npz_truth
    progress.total = len(features)
    if args.detector == "spectral":
        from pytest_airecovery.data.spectral import spectral_signatures

        return spectral_signatures(
            features,
            labels,
            ids,
            epsilon=args.epsilon,
            min_class_size=args.min_class_size,
            classes=args.classes,
            progress=progress,
        ), truth
    from pytest_airecovery.data.clustering import activation_clustering

    return activation_clustering(
        features,
        labels,
        ids,
        n_components=args.components,
        size_threshold=args.size_threshold,
        min_class_size=args.min_class_size,
        classes=args.classes,
        progress=progress,
    ), truth


def _read_truth_file(path: str) -> list[str]:
    if os.path.isdir(path):
        raise DataKitError(f"{path}: is a directory, expected a file of ids")
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError as exc:
        raise DataKitError(f"{path}: cannot read ({exc.strerror})") from None


def _load_features(args: argparse.Namespace) -> tuple[Any, Any, list[str], list[str] | None]:
    import numpy as np

    from pytest_airecovery.data.npz import load_array, npz_keys

    path = args.features or (args.dataset if args.dataset.endswith(".npz") else None)
    if path is None:
        raise DataKitError(
            f"--detector {args.detector} needs --features FILE.npz for {args.dataset}"
        )
    if os.path.isdir(path):
        raise DataKitError(f"{path}: is a directory, expected a .npz file")
    if not os.path.isfile(path):
        raise DataKitError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise DataKitError(f"{path}: file is empty")
    keys = npz_keys(path)
    features_key = args.features_key or _pick(keys, ("X", "features", "x", "data"), path, "feature")
    labels_key = args.labels_key or _pick(keys, ("y", "labels", "label", "targets"), path, "label")
    ids_key = args.ids_key or ("ids" if "ids" in keys else None)
    for key in (features_key, labels_key, ids_key, args.truth_key):
        if key is not None and key not in keys:
            raise DataKitError(f"{path}: no array {key!r} (has {', '.join(keys)})")
    features = load_array(path, features_key)
    labels = load_array(path, labels_key)
    ids = [str(v) for v in load_array(path, ids_key).tolist()] if ids_key else None
    truth_mask = load_array(path, args.truth_key) if args.truth_key else None
    id_list = ids if ids is not None else [str(i) for i in range(len(features))]
    truth = None
    if truth_mask is not None:
        if truth_mask.shape != (len(features),):
            raise DataKitError(f"{path}: {args.truth_key} must have one flag per sample")
        truth = [id_list[i] for i in np.flatnonzero(truth_mask.astype(bool))]
    return features, labels, id_list, truth


def _pick(keys: list[str], candidates: tuple[str, ...], path: str, what: str) -> str:
    for key in candidates:
        if key in keys:
            return key
    raise DataKitError(
        f"{path}: no {what} array (looked for {', '.join(candidates)}; has {', '.join(keys)})"
    )


def _print_summary(report: dict[str, Any]) -> None:
    print(f"{report['detector']}: {report['n_flagged']} of {report['n_items']} items flagged")
    for flag in report["flagged"][:10]:
        print(f"  {flag['id']}  score {flag['score']:.4g}")
    if report["n_flagged"] > 10:
        print(f"  ... ({report['n_flagged'] - 10} more in the report)")
    for warning in report["warnings"]:
        print(f"  warning: {warning}")
    truth = report.get("ground_truth")
    if truth:
        print(f"  precision {truth['precision']}, recall {truth['recall']}")
    cleaned = report.get("cleaned")
    if cleaned:
        exact = "yes" if cleaned["diff_is_exactly_removed"] else "NO"
        print(
            f"  cleaned: {cleaned['path']} ({cleaned['kept']} kept, {cleaned['removed']} "
            f"removed), manifest {cleaned['manifest']}, diff == removed ids: {exact}"
        )

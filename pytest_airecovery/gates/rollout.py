"""Rollout criteria that need no statistics: traffic share, duration, user reports, regressions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pytest_airecovery.gates.context import GateContext
from pytest_airecovery.gates.junit import JUnitError, summarise_junit
from pytest_airecovery.gates.samples import window_problem
from pytest_airecovery.gates.sources import GateSourceError
from pytest_airecovery.gates.timeutil import format_duration, format_timestamp
from pytest_airecovery.gates.verdicts import Verdict, failed, inconclusive, passed


def traffic_share(context: GateContext, metric: str | None = None) -> Verdict:
    name, window, phase = "traffic-share", context.window, context.phase
    if not window.exists:
        verdict = failed if window.share_out_of_range else inconclusive
        latest = context.data.traffic.values[-1] if context.data.traffic.size else None
        return verdict(
            name,
            None,
            window.reason,
            measured_latest=latest,
            range=[phase.traffic_min, phase.traffic_max],
        )
    age = context.staleness(window.end or 0.0)
    if age > context.config.max_staleness:
        return inconclusive(name, None, f"traffic_share data is stale ({format_duration(age)} old)")
    shares = context.data.traffic.between(window.start or 0.0, window.end or 0.0).values
    median_share = float(np.median(shares))
    evidence = {
        "median": median_share,
        "min": float(shares.min()),
        "max": float(shares.max()),
        "samples": window.samples,
        "range": [phase.traffic_min, phase.traffic_max],
        **window.describe(),
    }
    return passed(
        name,
        None,
        f"measured share {100 * median_share:.3g}% (median) inside "
        f"{phase.traffic_label()} since {format_timestamp(window.start or 0.0)}",
        **evidence,
    )


def duration(context: GateContext, metric: str | None = None) -> Verdict:
    name, window, phase = "duration", context.window, context.phase
    if not window.exists:
        verdict = failed if window.share_out_of_range else inconclusive
        return verdict(name, None, f"the clock is not running: {window.reason}")
    observed = window.seconds
    evidence = {
        "observed_seconds": observed,
        "min_seconds": phase.min_duration,
        "max_seconds": phase.max_duration,
        **window.describe(),
    }
    if observed < phase.min_duration:
        return inconclusive(
            name,
            None,
            f"observed {format_duration(observed)} in range, the "
            f"{phase.name} minimum is {format_duration(phase.min_duration)}",
            **evidence,
        )
    note = ""
    if phase.max_duration is not None and observed > phase.max_duration:
        note = f" (beyond the planned {format_duration(phase.max_duration)}: decide now)"
    return passed(
        name,
        None,
        f"{format_duration(observed)} in range since {format_timestamp(window.start or 0.0)}{note}",
        **evidence,
    )


def no_user_reports(context: GateContext, metric: str | None = None) -> Verdict:
    name, config = "no-user-reports", context.config
    if (problem := window_problem(context, name, None)) is not None:
        return problem
    polls = context.data.user_reports
    if polls.size == 0:
        return inconclusive(name, None, "no user_reports rows: the report source was never polled")
    age = context.staleness(float(polls.timestamps[-1]))
    if age > config.user_reports_max_age:
        return inconclusive(
            name,
            None,
            f"user reports are stale: last poll {format_duration(age)} "
            f"ago (max {format_duration(config.user_reports_max_age)})",
        )
    start = context.window.start or 0.0
    inside = polls.between(start, context.now)
    # Silences are measured from the last poll before the window (or the window's start when
    # there is none) to now: every stretch of the window must be covered by some poll.
    earlier = polls.between(-np.inf, start).timestamps[-1:]
    first = earlier if earlier.size else np.array([start])
    covering = np.concatenate([first, inside.timestamps, [context.now]])
    longest_silence = float(np.diff(covering).max())
    if inside.size == 0 or longest_silence > config.user_reports_max_age:
        return inconclusive(
            name,
            None,
            "the report source was not polled throughout the window "
            f"(longest silence {format_duration(longest_silence)})",
        )
    if not np.isfinite(inside.values).all():
        return inconclusive(name, None, "user_reports counts contain NaN/inf")
    count = int(inside.values.sum())
    evidence = {"reports": count, "polls": inside.size, **context.window.describe()}
    if count > 0:
        return failed(
            name, None, f"{count} user report(s) since {format_timestamp(start)}", **evidence
        )
    return passed(
        name,
        None,
        f"zero user reports in {inside.size} polls since {format_timestamp(start)}",
        **evidence,
    )


def regression_tests(context: GateContext, metric: str | None = None) -> Verdict:
    name, config = "regression-tests", context.config
    if context.case_results is not None:
        # The cases ran in this session: their results are fresher than any JUnit file.
        summary, missing = context.case_results.summary(config.regression_match)
        origin = "this session"
        evidence: dict[str, object] = {"source": "incident cases in this session"}
        if config.regression_junit:
            evidence["note"] = f"regression_junit {config.regression_junit} ignored"
    else:
        if not config.regression_junit:
            return inconclusive(
                name,
                None,
                "no incident-case results: run the gate with --incident-cases, or set "
                "regression_junit to the JUnit XML of an earlier incident-case step",
            )
        path = Path(config.regression_junit)
        path = path if path.is_absolute() else context.rootdir / path
        if not path.is_file():
            return inconclusive(
                name, None, f"JUnit XML {path} not found (run the incident cases first)"
            )
        try:
            summary = summarise_junit(path, config.regression_match)
        except JUnitError as error:
            raise GateSourceError(str(error)) from None
        missing, origin, evidence = [], str(path), {"junit": str(path)}
    evidence.update(
        passed=summary.passed,
        failed=summary.failed,
        skipped=summary.skipped,
        failing=summary.failing[:10],
    )
    if summary.failed:
        shown = ", ".join(summary.failing[:5])
        return failed(name, None, f"{summary.failed} incident case(s) failed: {shown}", **evidence)
    if missing:
        # Only possible if something reordered the gate before the cases: never pass on half.
        evidence["without_result"] = missing[:10]
        return inconclusive(
            name,
            None,
            f"{len(missing)} selected incident case(s) had no result when the gate was "
            f"evaluated: {', '.join(missing[:5])}",
            **evidence,
        )
    if summary.passed == 0:
        return inconclusive(
            name, None, f"no incident case ran in {origin} ({summary.skipped} skipped)", **evidence
        )
    return passed(name, None, f"all {summary.passed} incident case(s) passed", **evidence)

"""Each exit criterion: passes on healthy data, fails on violations, never passes on missing data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gates_support import T0, context_for, export, replace_series

from pytest_airecovery.gates.criteria import evaluate
from pytest_airecovery.gates.verdicts import Outcome, Verdict


def judge(document: dict[str, Any], criterion: str, metric: str | None = None,
          phase: str = "canary", **settings_: Any) -> Verdict:  # fmt: skip
    rootdir = settings_.pop("rootdir", Path("."))
    return evaluate(context_for(document, phase, settings_, rootdir), criterion, metric)


def test_healthy_canary_passes_every_criterion() -> None:
    document = export()
    for criterion, metric in (("traffic-share", None), ("duration", None),
                              ("no-anomalies", "latency"), ("no-anomalies", "errors")):  # fmt: skip
        verdict = judge(document, criterion, metric)
        assert verdict.outcome is Outcome.PASS, verdict.message


def test_evidence_has_n_estimate_ci_p_and_window() -> None:
    verdict = judge(export(hours=5, share=0.15), "match-baseline", "latency", "limited")
    assert verdict.outcome is Outcome.PASS, verdict.message
    evidence = verdict.evidence
    assert evidence["n_baseline"] == evidence["n_candidate"] == 301
    assert evidence["ci"][0] <= evidence["estimate"] <= evidence["ci"][1]
    assert 0 <= evidence["p_value"] < 0.05
    assert evidence["window"]["duration"] == "5h 00m"


# --- traffic share and duration, measured from the data ---


def test_share_outside_the_range_fails() -> None:
    verdict = judge(export(share=0.30), "traffic-share")
    assert verdict.outcome is Outcome.FAIL and "30%" in verdict.message
    assert judge(export(share=0.30), "duration").outcome is Outcome.FAIL
    # The quality criteria cannot judge outside the range: that is not evidence of a regression.
    for criterion, metric in (("no-anomalies", "latency"), ("no-user-reports", None)):
        assert judge(export(share=0.30), criterion, metric).outcome is Outcome.INCONCLUSIVE
    full = judge(export(share=0.5), "stable-operation", "latency", "full")
    assert full.outcome is Outcome.INCONCLUSIVE


def test_share_in_percent_instead_of_fraction_is_an_error() -> None:
    assert judge(export(share=3.0), "traffic-share").outcome is Outcome.ERROR


def test_duration_counts_from_when_the_share_entered_the_range() -> None:
    # 5 h of data in total, but only the last 1.5 h at canary share: too short.
    verdict = judge(export(hours=1.5, lead_in_hours=3.5), "duration")
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.message.startswith("INCONCLUSIVE") and "1h 30m" in verdict.message


def test_a_gap_in_traffic_data_restarts_the_window() -> None:
    document = export(hours=3)
    block = document["series"][0]
    gap_at = T0 + 2.5 * 3600  # remove 10 minutes of traffic samples in the middle
    keep = [i for i, t in enumerate(block["timestamps"]) if not gap_at < t < gap_at + 600]
    block["timestamps"] = [block["timestamps"][i] for i in keep]
    block["values"] = [block["values"][i] for i in keep]
    verdict = judge(document, "duration")
    assert verdict.outcome is Outcome.INCONCLUSIVE  # only ~1 h since the gap


# --- fail closed: a test for each way data can be missing ---


def test_missing_metric_is_inconclusive() -> None:
    verdict = judge(export(), "no-anomalies", "accuracy")
    assert verdict.outcome is Outcome.INCONCLUSIVE and "accuracy is missing" in verdict.message


def test_too_few_samples_is_inconclusive() -> None:
    verdict = judge(export(), "no-anomalies", "latency", min_samples=500)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "181 candidate sample(s)" in verdict.message and "need 500" in verdict.message


def test_metric_covering_only_part_of_the_window_is_inconclusive() -> None:
    document = export(hours=3)
    block = next(
        b for b in document["series"] if b["metric"] == "latency" and b["arm"] == "candidate"
    )
    keep = [i for i, t in enumerate(block["timestamps"]) if t >= T0 + 2.5 * 3600]  # last hour only
    block["timestamps"] = [block["timestamps"][i] for i in keep]
    block["values"] = [block["values"][i] for i in keep]
    verdict = judge(document, "no-anomalies", "latency")
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "candidate data of latency spans 1h 00m" in verdict.message


def test_window_shorter_than_phase_minimum_is_inconclusive() -> None:
    verdict = judge(export(hours=1), "no-anomalies", "latency")
    assert (
        verdict.outcome is Outcome.INCONCLUSIVE
        and "shorter than the canary minimum" in verdict.message
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_or_inf_is_inconclusive(bad: float) -> None:
    document = export()
    values = [200.0] * 181
    values[50] = bad
    replace_series(document, "latency", "candidate", values)
    verdict = judge(document, "no-anomalies", "latency")
    assert verdict.outcome is Outcome.INCONCLUSIVE and "NaN/inf" in verdict.message


def test_stale_data_is_inconclusive() -> None:
    verdict = judge(export(exported_after=2 * 3600), "no-anomalies", "latency")
    assert verdict.outcome is Outcome.INCONCLUSIVE and "stale" in verdict.message
    assert judge(export(exported_after=2 * 3600), "traffic-share").outcome is Outcome.INCONCLUSIVE


def test_evaluate_at_pins_the_reference_time() -> None:
    verdict = judge(export(), "no-anomalies", "latency", evaluate_at=T0 + 30 * 86400)
    assert verdict.outcome is Outcome.INCONCLUSIVE and "stale" in verdict.message


def test_evaluate_at_replays_the_past_without_later_data() -> None:
    # 3 h of canary data, judged as it stood 1 h in: too short, whatever came later.
    verdict = judge(export(hours=3), "duration", evaluate_at=T0 + 1.5 * 3600)
    assert verdict.outcome is Outcome.INCONCLUSIVE and "1h 00m" in verdict.message


def test_empty_source_is_inconclusive() -> None:
    empty = {"rows": []}
    for criterion, metric in (("traffic-share", None), ("duration", None), ("no-anomalies", "x")):
        verdict = judge(empty, criterion, metric)
        assert verdict.outcome is Outcome.INCONCLUSIVE, verdict.message


def test_no_metric_at_all_is_inconclusive() -> None:
    verdict = judge(export(), "no-anomalies", None)
    assert verdict.outcome is Outcome.INCONCLUSIVE


def test_malformed_proportion_is_an_error() -> None:
    document = export()
    replace_series(document, "errors", "candidate", [5000.0] * 181)  # more errors than requests
    assert judge(document, "no-anomalies", "errors").outcome is Outcome.ERROR


def test_match_baseline_without_direction_is_an_error() -> None:
    document = export(hours=5, share=0.15, metrics={"latency": {}})
    verdict = judge(document, "match-baseline", "latency", "limited")
    assert verdict.outcome is Outcome.ERROR and "direction" in verdict.message


# --- no anomalies ---


def test_sustained_excursion_outside_the_band_fails() -> None:
    document = export(seed=3)
    values = list(np.random.default_rng(9).normal(200, 10, 181))
    values[100:110] = [400.0] * 10
    replace_series(document, "latency", "candidate", values)
    verdict = judge(document, "no-anomalies", "latency")
    assert (
        verdict.outcome is Outcome.FAIL
        and "consecutive points above the baseline band" in verdict.message
    )


def test_shift_is_found_by_the_rank_test() -> None:
    verdict = judge(export(candidate_shift=8.0), "no-anomalies", "latency")
    assert verdict.outcome is Outcome.FAIL and "shift" in verdict.message
    assert verdict.evidence["p_value"] < 0.001


def test_slo_limit_fails_even_when_baseline_is_as_bad() -> None:
    document = export(metrics={"latency": {"direction": "lower", "slo_max": 150}})
    verdict = judge(document, "no-anomalies", "latency")
    assert verdict.outcome is Outcome.FAIL and "SLO limit 150" in verdict.message


def test_proportion_error_spike_fails() -> None:
    document = export()
    block = next(
        b for b in document["series"] if b["metric"] == "errors" and b["arm"] == "candidate"
    )
    block["values"] = [v if not 60 <= i < 70 else 100 for i, v in enumerate(block["values"])]
    verdict = judge(document, "no-anomalies", "errors")
    assert verdict.outcome is Outcome.FAIL, verdict.message


# --- match or exceed baseline ---


def test_regression_beyond_margin_fails_and_unclear_is_inconclusive() -> None:
    limited = {"hours": 5, "share": 0.15}
    regressed = judge(
        export(candidate_shift=30.0, **limited), "match-baseline", "latency", "limited"
    )
    assert regressed.outcome is Outcome.FAIL and "regressed beyond the margin" in regressed.message
    # 1% worse with a 1% margin: cannot be shown non-inferior, but not proven worse either.
    unclear = judge(export(candidate_shift=2.0, **limited), "match-baseline", "latency", "limited",
                    metrics={"latency": {"direction": "lower", "margin": 0.01}})  # fmt: skip
    assert unclear.outcome is Outcome.INCONCLUSIVE, unclear.message


def test_proportion_match_baseline() -> None:
    verdict = judge(export(hours=5, share=0.15), "match-baseline", "errors", "limited")
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert verdict.evidence["trials"][0] > verdict.evidence["n_baseline"]


def test_pre_incident_baseline_window_excludes_the_incident() -> None:
    document = export(hours=5, share=0.15, lead_in_hours=4)
    # Baseline arm during the lead-in: 2 h normal then 2 h of incident at a terrible latency.
    rng = np.random.default_rng(1)
    lead_times = list(np.arange(T0, T0 + 4 * 3600, 60.0))
    incident_values = list(rng.normal(200, 10, 120)) + [900.0] * 120
    document["series"].append({"metric": "latency", "arm": "baseline", "timestamps": lead_times,
                               "values": incident_values})  # fmt: skip
    window = {"start": T0, "end": T0 + 4 * 3600 - 1}
    with_incident = judge(document, "match-baseline", "latency", "limited", baseline_window=window)
    assert with_incident.evidence["n_baseline"] == 240
    excluded = judge(document, "match-baseline", "latency", "limited", baseline_window=window,
                     incident_window={"start": T0 + 2 * 3600, "end": T0 + 4 * 3600})  # fmt: skip
    assert excluded.evidence["n_baseline"] == 120
    assert excluded.outcome is Outcome.PASS, excluded.message
    assert "pre-incident window" in excluded.evidence["baseline"]


# --- user reports, regression tests, stable operation ---


def test_user_reports() -> None:
    majority = {"hours": 9, "share": 0.6}
    assert judge(export(**majority), "no-user-reports", phase="majority").outcome is Outcome.PASS
    polls = int((9.5 * 3600) // 300) + 1
    reported = [0.0] * polls
    reported[-3] = 2
    verdict = judge(export(user_reports=reported, **majority), "no-user-reports", phase="majority")
    assert verdict.outcome is Outcome.FAIL and "2 user report(s)" in verdict.message
    stale = export(user_reports=[0.0] * (polls - 30), **majority)  # polling stopped 2.5 h ago
    assert judge(stale, "no-user-reports", phase="majority").outcome is Outcome.INCONCLUSIVE
    late_start = export(**majority)
    reports = next(b for b in late_start["series"] if b["metric"] == "user_reports")
    polling_from = T0 + 3 * 3600  # 2.5 h into the window: the first hours are not covered
    reports["values"] = [
        v
        for t, v in zip(reports["timestamps"], reports["values"], strict=True)
        if t >= polling_from
    ]
    reports["timestamps"] = [t for t in reports["timestamps"] if t >= polling_from]
    assert judge(late_start, "no-user-reports", phase="majority").outcome is Outcome.INCONCLUSIVE
    never = export(user_reports=[], **majority)
    assert judge(never, "no-user-reports", phase="majority").outcome is Outcome.INCONCLUSIVE


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="incident_cases.AI-IR-2026-042" name="corner-trigger[0]"/>
<testcase classname="incident_cases.AI-IR-2026-042" name="corner-trigger[1]">{extra}</testcase>
<testcase classname="tests.test_other" name="test_unrelated"><failure message="x"/></testcase>
</testsuite></testsuites>"""


@pytest.mark.parametrize(
    ("extra", "match", "outcome"),
    [
        ("", "incident_cases", Outcome.PASS),
        ('<failure message="backdoor"/>', "incident_cases", Outcome.FAIL),
        ("", None, Outcome.FAIL),  # without a filter the unrelated failure counts too
        ('<skipped message="no model"/>', "nothing-matches", Outcome.INCONCLUSIVE),
    ],
)
def test_regression_tests_from_junit(tmp_path: Path, extra: str, match: str | None,
                                     outcome: Outcome) -> None:  # fmt: skip
    (tmp_path / "cases.xml").write_text(JUNIT.format(extra=extra), encoding="utf-8")
    settings_: dict[str, Any] = {"regression_junit": "cases.xml", "rootdir": tmp_path}
    if match:
        settings_["regression_match"] = match
    assert judge(export(), "regression-tests", **settings_).outcome is outcome


def test_regression_tests_missing_or_broken(tmp_path: Path) -> None:
    assert judge(export(), "regression-tests").outcome is Outcome.INCONCLUSIVE
    missing = judge(export(), "regression-tests", regression_junit="nope.xml", rootdir=tmp_path)
    assert missing.outcome is Outcome.INCONCLUSIVE
    (tmp_path / "bad.xml").write_text("<testsuites>", encoding="utf-8")
    broken = judge(export(), "regression-tests", regression_junit="bad.xml", rootdir=tmp_path)
    assert broken.outcome is Outcome.ERROR


def test_stable_operation_needs_72_hours_and_a_gap_restarts_the_clock() -> None:
    full = {"hours": 73, "share": 1.0, "lead_in_hours": 0.0}
    assert judge(export(**full), "stable-operation", "latency", "full").outcome is Outcome.PASS
    document = export(**full)
    block = next(
        b for b in document["series"] if b["metric"] == "latency" and b["arm"] == "candidate"
    )
    keep = [i for i, t in enumerate(block["timestamps"]) if not T0 + 10 * 3600 < t < T0 + 11 * 3600]
    block["timestamps"] = [block["timestamps"][i] for i in keep]
    block["values"] = [block["values"][i] for i in keep]
    verdict = judge(document, "stable-operation", "latency", "full")
    assert verdict.outcome is Outcome.INCONCLUSIVE and "clock restarted" in verdict.message
    late = export(**full)
    block = next(b for b in late["series"] if b["metric"] == "latency" and b["arm"] == "candidate")
    keep = [i for i, t in enumerate(block["timestamps"]) if t >= T0 + 10 * 3600]
    block["timestamps"] = [block["timestamps"][i] for i in keep]
    block["values"] = [block["values"][i] for i in keep]
    verdict = judge(late, "stable-operation", "latency", "full")
    assert verdict.outcome is Outcome.INCONCLUSIVE and "63h 00m" in verdict.message
    slo_breach = export(**full, metrics={"latency": {"slo_max": 150}})
    assert judge(slo_breach, "stable-operation", "latency", "full").outcome is Outcome.FAIL
    nothing_to_compare = export(**full, metrics={"latency": {}})
    verdict = judge(nothing_to_compare, "stable-operation", "latency", "full")
    assert verdict.outcome is Outcome.INCONCLUSIVE


# --- properties: no criterion passes on data that violates it ---


@settings(max_examples=25, deadline=None, derandomize=True)
@given(start=st.integers(0, 170), length=st.integers(5, 40), level=st.floats(300, 1e6))
def test_no_anomalies_never_passes_a_sustained_excursion(
    start: int, length: int, level: float
) -> None:
    document = export()
    values = list(np.random.default_rng(start).normal(200, 10, 181))
    values[start : start + length] = [level] * len(values[start : start + length])
    replace_series(document, "latency", "candidate", values)
    if len(values[start : start + length]) < 5:
        return
    assert judge(document, "no-anomalies", "latency").outcome is not Outcome.PASS


@settings(max_examples=25, deadline=None, derandomize=True)
@given(worse=st.floats(0.05, 5.0), direction=st.sampled_from(["higher", "lower"]),
       seed=st.integers(0, 1000))  # fmt: skip
def test_match_baseline_never_passes_a_regression_beyond_margin(worse: float, direction: str,
                                                                 seed: int) -> None:  # fmt: skip
    document = export(hours=5, share=0.15, seed=seed,
                      metrics={"latency": {"direction": direction, "margin": 0.05}})  # fmt: skip
    baseline = next(
        b for b in document["series"] if b["metric"] == "latency" and b["arm"] == "baseline"
    )
    factor = (1 - 0.05 - worse / 100) if direction == "higher" else (1 + 0.05 + worse / 100)
    replace_series(document, "latency", "candidate", [v * factor for v in baseline["values"]])
    assert judge(document, "match-baseline", "latency", "limited").outcome is not Outcome.PASS


# --- issue 12: tails, direction, bands at each arm's noise, small-arm proportions ---


def _heavy_tail(values: list[float]) -> list[float]:
    """Same median, but every 8th minute (12.5%, scattered) three times slower."""
    return [v * 3.0 if i % 8 == 3 else v for i, v in enumerate(values)]


def _arm(document: dict[str, Any], metric: str, arm: str) -> dict[str, Any]:
    return next(b for b in document["series"] if b["metric"] == metric and b["arm"] == arm)


@pytest.mark.parametrize(("phase", "criterion", "hours", "share"),
                         [("canary", "no-anomalies", 3, 0.03),
                          ("limited", "match-baseline", 5, 0.15)])  # fmt: skip
def test_heavy_tail_at_the_same_median_never_passes(phase: str, criterion: str, hours: float,
                                                     share: float) -> None:  # fmt: skip
    metrics = {"latency": {"direction": "lower", "margin": 0.05}}  # no SLO: the quantiles see it
    document = export(hours=hours, share=share, metrics=metrics, seed=4)
    candidate = _arm(document, "latency", "candidate")
    replace_series(document, "latency", "candidate", _heavy_tail(candidate["values"]))
    verdict = judge(document, criterion, "latency", phase)
    assert verdict.outcome is Outcome.FAIL, verdict.message
    assert "p90" in verdict.message or "scattered" in verdict.message
    p50 = verdict.evidence["quantiles"][0]
    assert p50["quantile"] == 0.5 and abs(p50["difference"]) < 5  # the median did not move


def test_heavy_tail_past_the_slo_is_counted_as_a_share() -> None:
    document = export(hours=5, share=0.15, seed=2)  # latency slo_max = 400
    candidate = _arm(document, "latency", "candidate")
    replace_series(document, "latency", "candidate", _heavy_tail(candidate["values"]))
    verdict = judge(document, "match-baseline", "latency", "limited")
    assert verdict.outcome is Outcome.FAIL
    assert "share past the SLO limit 400" in verdict.message
    share = verdict.evidence["slo_share"][0]
    assert share["candidate"][0] >= 30 and share["difference"] > 0.1


@pytest.mark.parametrize(("direction", "shift"), [("lower", -5.0), ("higher", 5.0)])
def test_an_improvement_never_fails(direction: str, shift: float) -> None:
    """A canary 2.5% better than the baseline promotes, whichever way is better."""
    metrics = {"latency": {"direction": direction, "margin": 0.05}}
    document = export(candidate_shift=shift, metrics=metrics)
    verdict = judge(document, "no-anomalies", "latency")
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert verdict.evidence["p_value"] > 0.5  # tested one-sided, towards the worse side
    limited = export(hours=5, share=0.15, candidate_shift=shift, metrics=metrics)
    assert judge(limited, "match-baseline", "latency", "limited").outcome is Outcome.PASS
    # A long run on the better side is no anomaly either.
    better = export(metrics=metrics)
    values = list(_arm(better, "latency", "baseline")["values"])
    values[100:120] = [200.0 + 20 * shift] * 20
    replace_series(better, "latency", "candidate", values)
    assert judge(better, "no-anomalies", "latency").outcome is Outcome.PASS


def test_the_same_shift_towards_the_worse_side_fails() -> None:
    metrics = {"latency": {"direction": "higher", "margin": 0.05}}
    verdict = judge(export(candidate_shift=-5.0, metrics=metrics), "no-anomalies", "latency")
    assert verdict.outcome is Outcome.FAIL and "towards the worse side" in verdict.message


def test_a_run_counts_only_points_on_the_same_side() -> None:
    document = export(metrics={"latency": {}})  # no direction: both sides count, separately
    values = list(_arm(document, "latency", "baseline")["values"])
    values[100:110] = [400.0, 0.0] * 5  # alternating above and below the band
    replace_series(document, "latency", "candidate", values)
    verdict = judge(document, "no-anomalies", "latency")
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert verdict.evidence["runs_above_below"] == [1, 1]
    values[100:106] = [400.0] * 6  # the same excursion on one side is a run
    replace_series(document, "latency", "candidate", values)
    assert judge(document, "no-anomalies", "latency").outcome is Outcome.FAIL


def test_a_small_arm_is_judged_at_its_own_noise() -> None:
    """A 2% arm's per-minute values are 7 times noisier than the control's: not a fault."""
    document = export(share=0.02)
    rng = np.random.default_rng(11)
    baseline = np.array(_arm(document, "latency", "baseline")["values"])
    shared = np.sin(np.arange(baseline.size) / 30) * 5  # a cycle both arms share
    replace_series(document, "latency", "baseline", list(baseline + shared))
    noisy = 200 + shared + rng.normal(0, 10 * math.sqrt(0.98 / 0.02), baseline.size)
    replace_series(document, "latency", "candidate", list(noisy))
    verdict = judge(document, "no-anomalies", "latency")
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert "each interval's volume" in verdict.evidence["band_method"]


def test_a_zero_trial_interval_is_skipped_not_an_error() -> None:
    document = export()
    block = _arm(document, "errors", "candidate")
    for index in range(0, 181, 10):
        block["values"][index], block["trials"][index] = 0, 0
    verdict = judge(document, "no-anomalies", "errors")
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert verdict.evidence["zero_trial_intervals"] == 19
    limited = export(hours=5, share=0.15)
    _arm(limited, "errors", "candidate")["trials"][7] = 0
    _arm(limited, "errors", "candidate")["values"][7] = 0
    assert judge(limited, "match-baseline", "errors", "limited").outcome is Outcome.PASS


def test_slo_runs_of_a_small_arm_use_each_intervals_trials() -> None:
    """2 errors in 15 requests (13%) is no evidence of a rate above a 10% SLO."""
    metrics = {"errors": {"kind": "proportion", "direction": "lower", "slo_max": 0.1}}
    document = export(metrics=metrics)
    rng = np.random.default_rng(5)
    for arm, trials in (("baseline", 500), ("candidate", 15)):
        block = _arm(document, "errors", arm)
        block["trials"] = [trials] * 181
        block["values"] = rng.binomial(trials, 0.05, 181).tolist()
    _arm(document, "errors", "candidate")["values"][50:58] = [2] * 8
    verdict = judge(document, "no-anomalies", "errors")
    assert verdict.outcome is Outcome.PASS, verdict.message
    # Many errors in a row at the same volume are a breach.
    _arm(document, "errors", "candidate")["values"][50:58] = [12] * 8
    verdict = judge(document, "no-anomalies", "errors")
    assert verdict.outcome is Outcome.FAIL and "above the SLO limit 0.1" in verdict.message


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_margin_sign_is_the_same_in_message_and_evidence(direction: str) -> None:
    metrics = {"errors": {"kind": "proportion", "direction": direction, "margin": 0.005,
                          "margin_kind": "absolute"}}  # fmt: skip
    verdict = judge(export(hours=5, share=0.15, metrics=metrics), "match-baseline", "errors",
                    "limited")  # fmt: skip
    limit = verdict.evidence["limit"]
    assert limit == (-0.005 if direction == "higher" else 0.005)
    assert f"limit {limit:+.4g}" in verdict.message
    assert verdict.evidence["margin"] == 0.005 and "margin 0.005" in verdict.message


def test_nan_trials_message_names_the_missing_counts() -> None:
    document = export()
    _arm(document, "errors", "candidate")["trials"][3] = math.nan
    verdict = judge(document, "no-anomalies", "errors")
    # docs/gates.md's data rules: a NaN or null value or trials makes only that metric INCONCLUSIVE.
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "trials > 0" not in verdict.message
    assert "1 NaN/inf value(s) in the candidate arm of errors" in verdict.message


def test_an_undeclared_metric_with_trials_is_a_proportion() -> None:
    """Raw error counts of a 3% arm are 30x smaller than the control's: compare rates instead."""
    document = export(metrics={})
    rng = np.random.default_rng(8)
    for arm, trials in (("baseline", 1000), ("candidate", 30)):
        block = _arm(document, "errors", arm)
        block["trials"] = [trials] * 181
        block["values"] = rng.binomial(trials, 0.01, 181).tolist()
    verdict = judge(document, "no-anomalies", "errors")
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert "binomial" in verdict.evidence["band_method"]
    declared = export(metrics={"errors": {"kind": "continuous"}})
    assert judge(declared, "no-anomalies", "errors").evidence["band_method"].startswith("paired")


def test_an_arm_with_only_zero_trial_intervals_is_inconclusive() -> None:
    document = export(hours=5, share=0.15)
    block = _arm(document, "errors", "candidate")
    block["values"] = [0] * len(block["values"])
    block["trials"] = [0] * len(block["trials"])
    for criterion, phase in (("no-anomalies", "canary"), ("match-baseline", "limited")):
        verdict = judge(document, criterion, "errors", phase,
                        phases={"canary": {"traffic": [1, 25]}})  # fmt: skip
        assert verdict.outcome is Outcome.INCONCLUSIVE, verdict.message
        assert "all with 0 trials" in verdict.message


@settings(max_examples=20, deadline=None, derandomize=True)
@given(better_by=st.floats(0.0, 0.5), direction=st.sampled_from(["higher", "lower"]),
       seed=st.integers(0, 1000), scale=st.sampled_from([1.0, 3.0]))  # fmt: skip
def test_movement_towards_the_better_side_never_fails(better_by: float, direction: str,
                                                       seed: int, scale: float) -> None:  # fmt: skip
    """Any improvement, of any size, of a calm or a noisy metric: never a FAIL."""
    metrics = {"latency": {"direction": direction, "margin": 0.05}}
    for phase, criterion, hours, share in (("canary", "no-anomalies", 3, 0.03),
                                           ("limited", "match-baseline", 5, 0.15)):  # fmt: skip
        document = export(hours=hours, share=share, seed=seed, metrics=metrics)
        factor = 1 + better_by if direction == "higher" else 1 - better_by
        for arm, move in (("baseline", 1.0), ("candidate", factor)):
            values = np.array(_arm(document, "latency", arm)["values"])
            replace_series(document, "latency", arm, list((200 + (values - 200) * scale) * move))
        verdict = judge(document, criterion, "latency", phase)
        assert verdict.outcome is not Outcome.FAIL, verdict.message

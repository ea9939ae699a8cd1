"""Gate items end to end with pytester: ids, outcomes, the decision report, xdist, the source hook."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_gates_support import (
    PYTESTER_CONFTEST,
    export,
    no_github_output,  # noqa: F401 (autouse)
)

import pytest_airecovery

# Imported here so pytester's in-process runs find them loaded instead of re-importing each time.
import pytest_airecovery.gates.criteria
import pytest_airecovery.gates.pytest_plugin
import pytest_airecovery.gates.report

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "gates"


@pytest.fixture
def gate(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project whose conftest wires GatePlugin like the core plugin.py will."""
    # xdist workers are fresh interpreters: they must import the package from this checkout.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeconftest(PYTESTER_CONFTEST)
    # Plugins that only slow the inner runs down (each inner run re-imports what it loads).
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest -p no:benchmark -p no:cacheprovider\n"
    )
    for name in ("canary-healthy.json", "limited-regressed.json", "canary-too-little-data.json"):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    return pytester


def _write(pytester: pytest.Pytester, name: str, document: Any) -> str:
    (pytester.path / name).write_text(json.dumps(document), encoding="utf-8")
    return name


def test_healthy_canary_promotes(gate: pytest.Pytester) -> None:
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "canary-healthy.json",
                            "--incident-gate-report", "out/gate.json", "-v")  # fmt: skip
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([
        "gate::canary::traffic-share PASSED*",
        "gate::canary::duration PASSED*",
        "gate::canary::no-anomalies[[]error_rate[]] PASSED*",
        "gate::canary::no-anomalies[[]latency_p95_ms[]] PASSED*",
        "gate::canary::no-anomalies[[]quality_score[]] PASSED*",
        "decision: PROMOTE: move to limited at 10-25% of traffic",
    ])  # fmt: skip
    report = json.loads((gate.path / "out" / "gate.json").read_text(encoding="utf-8"))
    assert report["decision"] == {"action": "promote", "summary": "move to limited at 10-25% of traffic",
                                  "next_phase": "limited", "next_traffic": "10-25%"}  # fmt: skip
    assert [c["criterion"] for c in report["criteria"]][:2] == ["traffic-share", "duration"]
    anomalies = report["criteria"][2]["evidence"]
    assert {"n_baseline", "n_candidate", "estimate", "ci", "p_value", "window"} <= set(anomalies)
    markdown = (gate.path / "out" / "gate.md").read_text(encoding="utf-8")
    assert (
        "**Decision: PROMOTE**" in markdown
        and "| `no-anomalies[error_rate]` | ✅ PASS |" in markdown
    )


def test_regressed_limited_phase_rolls_back(gate: pytest.Pytester) -> None:
    result = gate.runpytest("--incident-gate", "limited", "--incident-metrics", "limited-regressed.json",
                            "--incident-gate-report", "gate.json")  # fmt: skip
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines([
        "*gate::limited::match-baseline[[]latency_p95_ms[]]*",
        "regressed beyond the margin: latency_p95_ms (lower is better)*",
        "*evidence: n_baseline=601, n_candidate=601, estimate=*",
        "decision: ROLLBACK*",
    ])  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((gate.path / "gate.json").read_text(encoding="utf-8"))
    assert report["decision"]["action"] == "rollback"


def test_too_little_data_holds_with_inconclusive_messages(gate: pytest.Pytester) -> None:
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics",
                            "canary-too-little-data.json", "--incident-gate-report", "gate.json")  # fmt: skip
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(
        ["INCONCLUSIVE: observed 20m 00s in range, the canary minimum is 2h 00m"]
    )
    report = json.loads((gate.path / "gate.json").read_text(encoding="utf-8"))
    assert report["decision"]["action"] == "hold"


def test_broken_configuration_is_an_error(gate: pytest.Pytester) -> None:
    gate.makefile(".yaml", gates="metrics:\n  latency: {direction: sideways}\n")
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "canary-healthy.json",
                            "--incident-gate-config", "gates.yaml")  # fmt: skip
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of gate::canary::configuration*",
                                 "ERROR: gate configuration: metrics.latency.direction*"])  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--incident-gate", "canry", "--incident-metrics", "canary-healthy.json"],
            "*unknown phase 'canry'*",
        ),
        (["--incident-gate", "canary"], "*no metric source: pass --incident-metrics*"),
        (
            ["--incident-gate", "canary", "--incident-metrics", "nowhere.json"],
            "*nowhere.json not found*",
        ),
    ],
)
def test_broken_setup_errors_instead_of_passing(
    gate: pytest.Pytester, args: list[str], message: str
) -> None:
    result = gate.runpytest(*args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_error_verdict_of_one_criterion_is_an_error(gate: pytest.Pytester) -> None:
    document = export(hours=5, share=0.15, metrics={"latency": {}, "errors": {"kind": "proportion",
                      "direction": "lower", "margin": 0.01, "margin_kind": "absolute"}})  # fmt: skip
    name = _write(gate, "limited.json", document)
    result = gate.runpytest("--incident-gate", "limited", "--incident-metrics", name)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of gate::limited::match-baseline[[]latency[]]*"])


def test_items_can_be_selected_with_k(gate: pytest.Pytester) -> None:
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "canary-healthy.json",
                            "-k", "no-anomalies and error_rate", "--collect-only", "-q")  # fmt: skip
    result.stdout.fnmatch_lines(
        ["gate::canary::no-anomalies[[]error_rate[]]", "*1/5 tests collected*"]
    )


def test_runs_beside_ordinary_tests(gate: pytest.Pytester) -> None:
    gate.makepyfile(test_model="def test_model():\n    assert True\n")
    # With paths, the gate runs beside them; without, a gate run collects only the gate.
    result = gate.runpytest(
        "test_model.py", "--incident-gate", "canary", "--incident-metrics", "canary-healthy.json"
    )
    result.assert_outcomes(passed=6)
    gate_only = gate.runpytest(
        "--incident-gate", "canary", "--incident-metrics", "canary-healthy.json"
    )
    gate_only.assert_outcomes(passed=5)
    assert gate.runpytest().parseoutcomes() == {"passed": 1}  # no gate without the flag


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "0"], ["-n", "2"]])
def test_same_result_with_and_without_xdist(gate: pytest.Pytester, mode: list[str]) -> None:
    result = gate.runpytest("--incident-gate", "limited", "--incident-metrics", "limited-regressed.json",
                            "--incident-gate-report", "gate.json", *mode)  # fmt: skip
    result.assert_outcomes(passed=2, failed=3)
    report = json.loads((gate.path / "gate.json").read_text(encoding="utf-8"))
    assert report["decision"]["action"] == "rollback"
    assert [(c["criterion"], c["metric"], c["outcome"]) for c in report["criteria"]] == [
        ("traffic-share", None, "PASS"),
        ("duration", None, "PASS"),
        ("match-baseline", "error_rate", "FAIL"),
        ("match-baseline", "latency_p95_ms", "FAIL"),
        ("match-baseline", "quality_score", "FAIL"),
    ]


@pytest.mark.parametrize("mode", [[], ["-n", "2"]])
def test_decision_hook_runs_once_on_the_controller(gate: pytest.Pytester, mode: list[str]) -> None:
    gate.makepyfile(conftest_decision="""
        import json

        def pytest_airecovery_gate_decision(config, decision, report):
            with open("decisions.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps([decision, report["traffic_range"]]) + "\\n")
    """)  # fmt: skip
    gate.makeconftest(PYTESTER_CONFTEST + "\npytest_plugins = ['conftest_decision']\n")
    result = gate.runpytest(
        "--incident-gate", "canary", "--incident-metrics", "canary-healthy.json", *mode
    )
    result.assert_outcomes(passed=5)
    lines = (gate.path / "decisions.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [["promote", [0.01, 0.05]]]


def test_metric_source_hook(gate: pytest.Pytester) -> None:
    document = export()
    gate.makepyfile(conftest_source=f"""
        from pytest_airecovery.gates.sources import parse_json_export

        DOCUMENT = {json.dumps(document)!r}

        class StaticSource:
            description = "static test source"

            def load(self):
                import json
                return parse_json_export(json.loads(DOCUMENT), self.description)

        def pytest_airecovery_gate_source(config, location):
            return StaticSource() if location.startswith("static:") else None
    """)  # fmt: skip
    gate.makeconftest(PYTESTER_CONFTEST + "\npytest_plugins = ['conftest_source']\n")
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "static:anything",
                            "--incident-gate-report", "gate.json")  # fmt: skip
    result.assert_outcomes(passed=4)
    report = json.loads((gate.path / "gate.json").read_text(encoding="utf-8"))
    assert report["source"] == "static test source"


def test_plugin_import_does_not_load_numpy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import pytest_airecovery.gates.pytest_plugin, pytest_airecovery.gates.hookspecs; "
        "print('numpy' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert output.stdout.strip() == "False"


def test_csv_export_and_yaml_settings(gate: pytest.Pytester) -> None:
    document = export()
    lines = ["# exported_at: " + str(document["exported_at"]), "timestamp,metric,arm,value,trials"]
    for block in document["series"]:
        trials = block.get("trials") or [""] * len(block["values"])
        for stamp, value, count in zip(block["timestamps"], block["values"], trials, strict=True):
            lines.append(f"{stamp},{block['metric']},{block['arm']},{value},{count}")
    (gate.path / "metrics.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    gate.makefile(".yaml", gates="""
        phases:
          canary: {metrics: [latency]}
        metrics:
          latency: {direction: lower, slo_max: 400}
    """)  # fmt: skip
    result = gate.runpytest("--incident-gate", "canary", "--incident-metrics", "metrics.csv",
                            "--incident-gate-config", "gates.yaml", "-v")  # fmt: skip
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["gate::canary::no-anomalies[[]latency[]] PASSED*"])

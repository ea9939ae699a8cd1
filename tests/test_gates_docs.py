"""docs/gates.md as written: its settings, exports and commands run, so the docs cannot drift.

The code blocks are read from the page itself (not copied here): a changed example is tested as
changed, and an example that stops working fails this file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_gates_support import no_github_output  # noqa: F401 (autouse)

import pytest_airecovery
import pytest_airecovery.gates.pytest_plugin
from pytest_airecovery.gates.phases import parse_gate_config
from pytest_airecovery.gates.prometheus import PrometheusSource
from pytest_airecovery.gates.runner import GateRun
from pytest_airecovery.gates.sources import parse_json_export

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(pytest_airecovery.__file__).resolve().parent.parent
PAGE = (REPO / "docs" / "gates.md").read_text(encoding="utf-8")
BLOCKS = [(m.group(1), m.group(2)) for m in
          re.finditer(r"^```(\w*)\n(.*?)^```", PAGE, re.MULTILINE | re.DOTALL)]  # fmt: skip


def _block(language: str, containing: str) -> str:
    found = [text for lang, text in BLOCKS if lang == language and containing in text]
    assert len(found) == 1, f"expected one {language} block with {containing!r}, got {len(found)}"
    return found[0]


SETTINGS = _block("toml", "[tool.airecovery.gates.phases.canary]")
EXPORT = _block("json", '"format": "airecovery-metrics/1"')
PROMETHEUS = _block("toml", "[tool.airecovery.gates.prometheus]")
CONSOLE = _block("console", "$ pytest --incident-gate canary")
CI = _block("yaml", "promote-canary")


def test_the_settings_example_runs_with_the_export_example(tmp_path: Path) -> None:
    """The issue's "unknown metric error_rate": the settings name a metric the export defines."""
    (tmp_path / "pyproject.toml").write_text(SETTINGS, encoding="utf-8")
    (tmp_path / "export.json").write_text(EXPORT, encoding="utf-8")
    settings = tomllib.loads(SETTINGS)["tool"]["airecovery"]["gates"]
    export = json.loads(EXPORT)
    run = GateRun("canary", str(tmp_path / "export.json"), None, tmp_path)
    run.wall_clock = max(run.wall_clock, parse_json_export(export, "x").as_of or 0)  # a past export
    run.load()
    assert run.load_error is None, run.load_error
    assert run.context is not None and run.settings is not None
    assert str(run.settings.source) == str((tmp_path / "pyproject.toml").resolve())
    assert [check.name for check in run.checks()] == [
        "traffic-share", "duration", "no-anomalies[error_rate]", "no-anomalies[latency_p95_ms]"]  # fmt: skip
    # error_rate is defined by the export only, latency_p95_ms by the settings only.
    error_rate = run.context.metric_spec("error_rate")
    assert (error_rate.kind, error_rate.margin) == (
        "proportion",
        export["metrics"]["error_rate"]["margin"],
    )
    latency = run.context.metric_spec("latency_p95_ms")
    assert latency.slo_max == settings["metrics"]["latency_p95_ms"]["slo_max"]


def test_the_export_example_reads_in_both_forms() -> None:
    data = parse_json_export(json.loads(EXPORT), "docs")
    document = json.loads(EXPORT)
    assert sum(series.size for series in data.series.values()) + data.traffic.size + \
        data.user_reports.size == len(document["rows"]) + sum(len(b["values"]) for b in document["series"])  # fmt: skip


def test_the_prometheus_example_is_valid_settings() -> None:
    settings = parse_gate_config(tomllib.loads(PROMETHEUS)["tool"]["airecovery"]["gates"])
    assert settings.prometheus is not None
    assert settings.prometheus.user_reports_type in ("counter", "gauge")
    assert settings.prometheus.metrics["error_rate"].type == "counter"
    source = PrometheusSource.from_location("prometheus+http://127.0.0.1:9090", settings,
                                            settings.phase("canary"), now=1_790_000_000.0)  # fmt: skip
    assert source.description == "prometheus http://127.0.0.1:9090"


@pytest.fixture
def repo_copy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the repository's examples/gates, as the commands in the docs expect."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest -p no:benchmark -p no:cacheprovider\n"
    )
    shutil.copytree(REPO / "examples" / "gates", pytester.path / "examples" / "gates",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))  # fmt: skip
    return pytester


def _pytest_args(command: str) -> list[str]:
    words = shlex.split(command.replace("\\\n", " "))
    assert words[0] == "pytest", command
    return words[1:]


def test_the_first_console_example_prints_what_the_page_shows(repo_copy: pytest.Pytester) -> None:
    command, *shown = CONSOLE.strip().splitlines()
    command = command.removeprefix("$ ")
    while command.endswith("\\"):
        command = command[:-1] + shown.pop(0)
    result = repo_copy.runpytest(*_pytest_args(command), "-v")
    result.stdout.re_match_lines(
        [re.escape(line) + ".*" for line in shown if line.startswith("gate::")]
    )
    result.stdout.fnmatch_lines([line for line in shown if line.startswith("decision:")])
    assert (repo_copy.path / "gate-report.json").is_file()


ROWS = re.findall(r"^\| `([\w-]+\.json)` \| `(--incident-gate \w+)` \| (\d+) ([`\w-]+).*?(PROMOTE|ROLLBACK|HOLD) \|$",
                  PAGE, re.MULTILINE)  # fmt: skip


@pytest.mark.parametrize(("export", "flag", "count", "what", "decision"), ROWS)
def test_the_table_of_demo_exports(
    repo_copy: pytest.Pytester, export: str, flag: str, count: str, what: str, decision: str
) -> None:
    result = repo_copy.runpytest(*flag.split(), "--incident-metrics", f"examples/gates/{export}",
                                 "--incident-gate-decision", "decision.txt")  # fmt: skip
    outcomes = result.parseoutcomes()
    if what == "passed":
        assert outcomes.get("passed") == int(count)
    else:  # "3 `match-baseline` items fail", "4 items INCONCLUSIVE": failed items
        assert outcomes.get("failed") == int(count)
    assert (repo_copy.path / "decision.txt").read_text(encoding="utf-8") == decision.lower() + "\n"


def test_rows_of_the_table_were_found() -> None:
    assert len(ROWS) == 3


def test_the_ci_recipe_gate_step_runs_as_written(
    repo_copy: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[dict[str, Any]] = yaml.safe_load(CI)["jobs"]["promote-canary"]["steps"]
    gate = next(step for step in steps if step.get("id") == "gate")
    # The recipe's exporter is yours; the limited-regressed demo stands in for metrics.json.
    shutil.copy(repo_copy.path / "examples" / "gates" / "limited-regressed.json",
                repo_copy.path / "metrics.json")  # fmt: skip
    repo_copy.makepyfile(test_suite="def test_suite():\n    assert False, 'must not run'\n")
    args = [arg.replace("canary", "limited") for arg in _pytest_args(gate["run"])]
    output = repo_copy.path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = repo_copy.runpytest(*args)
    result.assert_outcomes(passed=2, failed=3)  # the gate only: the test suite did not run
    assert output.read_text(encoding="utf-8") == "decision=rollback\n"
    rollback = next(step for step in steps if "rollback" in str(step.get("if", "")))
    assert rollback["if"] == "always() && steps.gate.outputs.decision == 'rollback'"
    assert (repo_copy.path / "reports" / "gate.md").is_file()

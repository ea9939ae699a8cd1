"""Exit-criteria gates for gradual traffic restoration (canary, limited, majority, full).

Import-free on purpose: pytest loads the plugin on every run, and numpy is only needed once a gate
is actually evaluated. Import the submodules directly:

- `stats`, `hodges_lehmann`: Mann-Whitney U, Hodges-Lehmann interval, Wilson/Newcombe,
  non-inferiority decisions, median/MAD and binomial bands (numpy only).
- `phases`: `GateConfig`, `Phase`, `MetricSpec`, `load_gate_config`, `parse_gate_config`.
- `sources`: `MetricData`, `Series`, `MetricSource` (protocol), `ExportFileSource`, JSON/CSV parsers.
- `criteria`: `evaluate(context, criterion, metric)`; `context.GateContext` holds what they read.
- `verdicts`: `Verdict`, `Outcome` (PASS, FAIL, INCONCLUSIVE, ERROR).
- `report`: `decide`, `build_report`, `render_markdown`, `write_report`.
- `runner.GateRun`: load settings + source once and evaluate checks (what the pytest items use).
- `pytest_plugin.GatePlugin`, `hookspecs`: the pytest side, registered by the core plugin.
- `errors`: `GateConfigError`, `GateSourceError`.
"""

from __future__ import annotations

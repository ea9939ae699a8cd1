"""The case pipeline: from an incident case file to a test outcome.

Read it top to bottom in this order (docs/architecture.md draws the same path):

- ``options``, ``pytest_plugin``: the ``--incident-*`` options and the hooks of a case run.
- ``discovery``, ``loader``, ``yamlpos``, ``spec``, ``sources``, ``limits``: find case files, load
  them safely with line numbers, check them against ``case-file.schema.json``, build ``CaseFile``.
- ``collect``: the pytest collector and items, one per case and candidate model.
- ``session``, ``batching``, ``cache``: the run context: models loaded once, inputs batched,
  outputs cached on disk by model fingerprint.
- ``checks``, ``compare``, ``changes``, ``local_schema``: the checks an item runs on the outputs.
- ``render``, ``report``, ``report_types``: failure text, the terminal summary, the JSON report.
- ``hookspecs``, ``extensions``: where features (diff, adversarial, data, pir) plug in; the
  pipeline imports none of them.
- ``paths``: where the pipeline may read and write.

Imports nothing at package import: the plugin loads it on every pytest run.
"""

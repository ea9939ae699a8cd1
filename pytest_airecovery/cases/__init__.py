"""The case pipeline: from an incident case file to a test outcome.

Read it top to bottom in this order (docs/architecture.md draws the same path):

- ``discovery``, ``loader``, ``yamlpos``, ``spec``, ``sources``, ``limits``: find case files, load
  them safely with line numbers, check them against ``case-file.schema.json``, build ``CaseFile``.
- ``collect``: the pytest collector and items, one per case and candidate model.
- ``session``, ``batching``, ``cache``: the run context: models loaded once, inputs batched,
  outputs cached on disk by model fingerprint.
- ``checks``, ``compare``, ``changes``, ``local_schema``: the checks an item runs on the outputs.
- ``render``, ``report``: failure text, the terminal summary and the JSON report.
- ``paths``: where the pipeline may read and write.

Imports nothing at package import: the plugin loads it on every pytest run.
"""

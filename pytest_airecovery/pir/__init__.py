"""From post-incident review (PIR) to regression cases: parser, linter, skeletons, coverage.

Public entry points:

* :func:`pytest_airecovery.pir.model.parse_pir` — a PIR markdown file to a :class:`Pir`;
* :func:`pytest_airecovery.pir.lint.lint` — findings for ``airecovery lint-pir``;
* :func:`pytest_airecovery.pir.scaffold.render` — the case-file skeleton of ``new-case``;
* :func:`pytest_airecovery.pir.validate.validate_files` — ``airecovery validate``;
* :func:`pytest_airecovery.pir.coverage.uncovered_action_items` — action items no passing case
  covers, for the plugin's terminal summary.

Nothing heavy is imported here; the CLI imports each module when its subcommand runs.
"""

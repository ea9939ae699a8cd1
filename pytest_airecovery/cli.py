"""The ``airecovery`` command. Only wiring: each subcommand group lives in its own module.

A group module exposes ``register(subparsers)``, which adds its parsers and sets ``handler`` (a
function taking the parsed namespace and returning an exit status) on each leaf parser. Groups
are imported when the parser is built, so they must stay cheap to import (no numpy at top level).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# pir.cli: new-case, validate, lint-pir, coverage (issue 6).
COMMAND_GROUPS: tuple[str, ...] = ("pytest_airecovery.data.cli", "pytest_airecovery.pir.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airecovery", description="Tools for recovering AI systems after an incident"
    )
    # The commands that load case files get the shipped features' blocks and checks from here, the
    # assembly layer, so the features themselves never name each other.
    from pytest_airecovery.features import standalone_extensions

    parser.set_defaults(extensions=standalone_extensions)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_GROUPS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        status: int = args.handler(args)
    except BrokenPipeError:
        # `airecovery coverage | head`: the reader left; stop quietly, as Unix tools do.
        _silence_stdout()
        return EXIT_FAILED
    return status


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())

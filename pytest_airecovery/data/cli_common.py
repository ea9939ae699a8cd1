"""What every ``airecovery data`` command shares: exit statuses and how failures are printed.

Exit status: 0 all good, 1 an integrity or detection finding, 2 bad input or usage (a message
naming what and where, never a traceback).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from pytest_airecovery.data.errors import ManifestTamperedError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


def fail_usage(message: str) -> int:
    print(f"airecovery: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def report_tampered(exc: ManifestTamperedError) -> int:
    print(f"airecovery: manifest {exc.path} is tampered or damaged:", file=sys.stderr)
    for kind, detail in exc.problems:
        print(f"  {kind}: {detail}", file=sys.stderr)
    return EXIT_FAILED


def os_errors_exit_2(handler: Handler) -> Handler:
    """A file the command cannot read or write (permissions, a full disk, a vanished path) is
    bad input: exit 2 with the path and the reason."""

    @functools.wraps(handler)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            return fail_usage(f"{where}{exc.strerror or exc}")

    return guarded

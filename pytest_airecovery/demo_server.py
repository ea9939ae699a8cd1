"""Former path of the demo server (``python -m pytest_airecovery.demo_server``), kept working.

The server lives in :mod:`pytest_airecovery.demo.server`.
"""

import sys

from pytest_airecovery.demo.server import DemoServer, FaultPlan, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())

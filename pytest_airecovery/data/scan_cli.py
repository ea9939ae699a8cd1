"""``airecovery data scan``: run a detector, write a JSON report and optionally a cleaned dataset."""

from __future__ import annotations

from typing import Any


def register_scan(data_sub: Any) -> None:
    scan = data_sub.add_parser("scan", help="Find poisoned samples and write a remediation report")
    scan.set_defaults(handler=lambda args: 2)

"""Size limits of case files and their input files, each checked before the memory is spent.

A hostile or careless file (an alias bomb, a zip bomb, a header that lies about an array's shape,
a file that nests ten thousand brackets) must end as a clear error naming the file and line, not
as gigabytes of memory or a RecursionError. The defaults sit far above any real case file; the
ini settings below raise them where a project really needs more (docs/limits.md lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # A case file is read at most this many bytes; a longer one is refused before parsing.
    case_file_bytes: int = 16 * MIB
    # Mappings and sequences inside one another (YAML and JSON); deeper is refused before building.
    nesting: int = 64
    # Nodes that YAML aliases may add by re-use (the classic "billion laughs").
    alias_nodes: int = 100_000
    # Scalar text that YAML aliases may add by re-use (a bomb of one long string).
    alias_bytes: int = 16 * MIB
    # Decompressed bytes of one .npz array, or bytes of one .jsonl input file.
    input_bytes: int = 512 * MIB


DEFAULT_LIMITS = Limits()

# ini name -> Limits field
INI_SETTINGS = {
    "incident_max_case_file_bytes": "case_file_bytes",
    "incident_max_nesting": "nesting",
    "incident_max_alias_bytes": "alias_bytes",
    "incident_max_input_bytes": "input_bytes",
}

INI_HELP = {
    "incident_max_case_file_bytes": "Largest case file read, in bytes (default 16 MiB)",
    "incident_max_nesting": "Deepest nesting of mappings/lists in a case file (default 64)",
    "incident_max_alias_bytes": "Text YAML aliases may add to a case file, in bytes (default 16 MiB)",
    "incident_max_input_bytes": "Largest .npz array (decompressed) or .jsonl input file, in bytes (default 512 MiB)",
}


class LimitSettingError(ValueError):
    """An ini limit that is not a positive whole number."""


def limits_from_ini(config: Any) -> Limits:
    """The run's limits: each ini setting given overrides its default."""
    values: dict[str, int] = {}
    for ini_name, field_name in INI_SETTINGS.items():
        try:
            raw = config.getini(ini_name)
        except ValueError:  # not registered (a config from another plugin set-up)
            continue
        if raw in (None, ""):
            continue
        values[field_name] = parse_limit(ini_name, str(raw))
    return Limits(**values) if values else DEFAULT_LIMITS


def parse_limit(name: str, raw: str) -> int:
    text = raw.strip().replace("_", "")
    if not text.isdigit() or int(text) < 1:
        raise LimitSettingError(
            f"{name}: expected a positive whole number of bytes or levels, got {raw!r}"
        )
    return int(text)

"""Size limits of the data kit, each enforced before the memory is spent (docs/limits.md).

Every limit has a default and an environment variable to override it (bytes; suffixes K, M, G),
read when the limit is checked, so it also reaches the ``dataset_manifest`` fixture and the
case files' ``datasets`` checks.
"""

from __future__ import annotations

import os

from pytest_airecovery.data.errors import DataKitError

# One .npy array of an .npz archive, decompressed (streamed rows: bounds time, not memory).
MAX_ARRAY_BYTES = ("AIRECOVERY_NPZ_MAX_ARRAY_BYTES", 16 << 30, 1)
# One .npy array loaded whole into memory (labels, ids; features for `data scan`; cleaning).
MAX_LOADED_BYTES = ("AIRECOVERY_NPZ_MAX_LOADED_BYTES", 512 << 20, 1)
# One line of a JSONL or CSV file. Lines are read in blocks of up to 8 MiB, so no lower limit
# would bound anything.
MAX_LINE_BYTES = ("AIRECOVERY_MAX_LINE_BYTES", 64 << 20, 8 << 20)

_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def limit(setting: tuple[str, int, int]) -> int:
    """The limit in force: the environment variable if set, else the default."""
    name, default, least = setting
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        scale = _UNITS.get(text[-1].upper(), 1)
        value = int(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        value = -1
    if value < least:
        raise DataKitError(
            f"{name}={text!r}: expected a number of bytes of at least {least} (e.g. 2G)"
        )
    return value

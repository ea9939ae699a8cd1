"""Record-by-record reading of JSONL and CSV files, with ids that match their manifests.

Slower than the block reader in ``sources`` (every record is parsed), used where whole records
are needed: the trigger scan reads text fields, cleaning copies raw lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_airecovery.data.datasets import resolve_spec
from pytest_airecovery.data.errors import DataKitError
from pytest_airecovery.data.sources import (
    BadRecord,
    SourceSpec,
    _csv_records,
    _split_blocks,
    canonical_label,
    csv_text,
    field_value,
    is_blank,
    parse_json_record,
)


@dataclass(frozen=True)
class Record:
    id: str
    fields: list[Any]
    raw: bytes  # the record's bytes without its line break
    line: int


def iter_records(path: str, spec: SourceSpec, fields: Sequence[str] = ()) -> Iterator[Record]:
    if spec.kind == "jsonl":
        yield from _jsonl_records(path, spec, fields)
    elif spec.kind == "csv":
        yield from _csv_rows(path, spec, fields)
    else:
        raise DataKitError(f"{path}: record reading needs a .jsonl or .csv file, not {spec.kind}")


def _jsonl_records(path: str, spec: SourceSpec, fields: Sequence[str]) -> Iterator[Record]:
    position = 0
    for first_line, lines, _ in _split_blocks(path):
        for offset, line in enumerate(lines):
            if is_blank(line):
                continue
            number = first_line + offset
            record = parse_json_record(path, number, line)
            try:
                values = [field_value(record, name) for name in fields]
                if spec.id_field is None:
                    item_id = str(position)
                else:
                    value = field_value(record, spec.id_field)
                    item_id = value if isinstance(value, str) else canonical_label(value)
            except BadRecord as exc:
                raise DataKitError(f"{path}:{number}: {exc}") from None
            position += 1
            yield Record(item_id, values, line, number)


def _csv_rows(path: str, spec: SourceSpec, fields: Sequence[str]) -> Iterator[Record]:
    records = _csv_records(path)
    _, header_raw = next(records)
    header = next(csv.reader(io.StringIO(csv_text(header_raw, path, 1))))
    missing = [name for name in fields if name not in header]
    if missing:
        raise DataKitError(f"{path}: no column {missing[0]!r} in header {header}")
    indices = [header.index(name) for name in fields]
    id_index = header.index(spec.id_field) if spec.id_field else None
    position = 0
    for number, raw in records:
        row_bytes = raw.rstrip(b"\r")
        if not row_bytes.strip():
            continue
        row = next(csv.reader(io.StringIO(csv_text(row_bytes, path, number))))
        if len(row) != len(header):
            raise DataKitError(f"{path}:{number}: {len(row)} fields, header has {len(header)}")
        item_id = row[id_index] if id_index is not None else str(position)
        position += 1
        yield Record(item_id, [row[i] for i in indices], raw, number)


def iter_record_ids_and_fields(
    path: str, fields: Sequence[str], id_field: str | None = None
) -> Iterator[tuple[str, list[Any]]]:
    spec = resolve_spec(path, id_field=id_field)
    for record in iter_records(path, spec, fields):
        yield record.id, record.fields

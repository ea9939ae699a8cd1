"""Variants as an input source: the batch runner and the output cache treat them like any rows.

A :class:`VariantSource` has one row per variant of a case, in expansion order. ``value(i)``
makes the variant on first use (when the batch holding it is computed) and keeps it, so a run
makes each variant once; the columns of a variant row are the columns of the input row it came
from, so ``label_from: label`` and the like work unchanged.
"""

from __future__ import annotations

from typing import Any

from pytest_airecovery.adversarial.casefile import AdversarialSpec, VariantKey
from pytest_airecovery.cases.sources import InputSource


class VariantSource(InputSource):
    def __init__(self, base: InputSource, spec: AdversarialSpec, case_id: str) -> None:
        self.base = base
        self.spec = spec
        self.case_id = case_id
        self.keys: list[VariantKey] = spec.keys()
        self._values: dict[int, Any] = {}
        self.description = f"adversarial variants of {base.description}"

    def __len__(self) -> int:
        return len(self.keys)

    def value(self, index: int) -> Any:
        if index not in self._values:
            key = self.keys[index]
            self._values[index] = key.transform.apply(
                self.base.value(key.row),
                self.spec.trigger,
                case_id=self.case_id,
                row=key.row,
                index=key.index,
                seed=self.spec.seed,
            )
        return self._values[index]

    def original(self, index: int) -> Any:
        return self.base.value(self.keys[index].row)

    def has_column(self, name: str) -> bool:
        return self.base.has_column(name)

    def column(self, name: str, index: int) -> Any:
        return self.base.column(name, self.keys[index].row)

    def columns(self) -> list[str]:
        return self.base.columns()

    def row_label(self, index: int) -> str:
        key = self.keys[index]
        return f"variant {key.transform.name}-{key.index} of {self.base.row_label(key.row)}"


def expand(spec: AdversarialSpec, base: InputSource, case_id: str) -> VariantSource:
    """The case's variant source, made once per collected case file."""
    if spec.source is None:
        spec.source = VariantSource(base, spec, case_id)
    return spec.source  # type: ignore[no-any-return]

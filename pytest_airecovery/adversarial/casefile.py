"""The ``adversarial`` block of a case, checked at collection, and its expansion into variants.

::

    adversarial:
      transforms: [case, homoglyph, leetspeak]   # registered names (docs/adversarial.md)
      variants: 5                                 # per transform and input row, 1..MAX_VARIANTS
      seed: 42                                    # default 0
      trigger: zxq                                # text: the trigger string
      # trigger: {rows: [5, 8], cols: [5, 8], value: 16, shape: [8, 8]}   # arrays: the patch
      suite: trigger-forms                        # optional name, shown in reports

Expansion is rows x transforms x variants, in that order. Ids and the list of variants are fixed
here, at collection, from the block alone; the variant inputs are made when a batch needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_airecovery.adversarial.registry import Transform
from pytest_airecovery.cases.extensions import CaseBlockError
from pytest_airecovery.cases.sources import InputSource, NpzSource

MAX_VARIANTS = 1000
DEFAULT_VARIANTS = 5


class BlockError(CaseBlockError):
    """A problem in an adversarial block; ``where`` is the path below the block (``transforms/1``)."""


@dataclass(frozen=True)
class VariantKey:
    row: int  # the row of the case's own inputs the variant is made from
    transform: Transform
    index: int  # 0-based variant number for this row and transform

    def label(self, with_row: bool) -> str:
        own = f"{self.transform.name}-{self.index}"
        return f"row-{self.row}-{own}" if with_row else own


@dataclass
class AdversarialSpec:
    transforms: tuple[Transform, ...]
    variants: int
    seed: int
    trigger: Any  # str for text, ArrayTrigger for arrays
    kind: str  # "text" or "array"
    rows: tuple[int, ...]  # input rows that get variants
    suite: str | None = None
    line: int = 0
    source: Any = field(default=None, repr=False)  # the VariantSource, made by expand()

    @property
    def trigger_shown(self) -> Any:
        return self.trigger if isinstance(self.trigger, str) else self.trigger.to_mapping()

    def keys(self) -> list[VariantKey]:
        return [
            VariantKey(row, transform, index)
            for row in self.rows
            for transform in self.transforms
            for index in range(self.variants)
        ]


def input_kind(source: InputSource) -> str:
    """``"text"``, ``"array"`` or ``"other"``, judged without loading .npz data."""
    if isinstance(source, NpzSource):
        return "array"
    kinds = set()
    for index in range(len(source)):
        value = source.value(index)
        if isinstance(value, str):
            kinds.add("text")
        elif isinstance(value, list) or hasattr(value, "shape"):
            kinds.add("array")
        else:
            kinds.add("other")
        if len(kinds) > 1:
            return "mixed"
    return kinds.pop() if kinds else "other"


def parse_block(
    raw: dict[str, Any],
    source: InputSource,
    *,
    has_expect: bool,
    lookup: Callable[[str], Transform | None],
    line: int = 0,
) -> AdversarialSpec:
    """Turn a schema-valid block into a spec; every problem is a :class:`BlockError`."""
    if not has_expect:
        raise BlockError(
            "", "adversarial variants run the case's per-input `expect` checks; this case has none"
        )
    variants = raw.get("variants", DEFAULT_VARIANTS)
    if (
        not isinstance(variants, int)
        or isinstance(variants, bool)
        or not 1 <= variants <= MAX_VARIANTS
    ):
        raise BlockError(
            "variants",
            f"variants must be an integer from 1 to {MAX_VARIANTS} (the cap), got {variants!r}",
        )
    kind = input_kind(source)
    transforms: list[Transform] = []
    for position, name in enumerate(raw["transforms"]):
        transform = lookup(name)
        if transform is None:
            raise BlockError(f"transforms/{position}", f"unknown transform {name!r}")
        if kind != transform.kind:
            inputs = {"mixed": "a mix of texts and arrays", "other": "neither text nor arrays"}.get(
                kind, f"{kind} inputs"
            )
            raise BlockError(
                f"transforms/{position}",
                f"{name!r} is {'an' if transform.kind == 'array' else 'a'} {transform.kind} transform, "
                f"but this case has {inputs}",
            )
        if transform in transforms:
            raise BlockError(f"transforms/{position}", f"transform {name!r} is listed twice")
        transforms.append(transform)
    trigger = _trigger(raw.get("trigger"), kind)
    if kind == "text":
        from pytest_airecovery.adversarial.text import contains_trigger

        rows = tuple(i for i in range(len(source)) if contains_trigger(source.value(i), trigger))
        if not rows:
            raise BlockError("trigger", f"no input of this case contains the trigger {trigger!r}")
    else:
        rows = tuple(range(len(source)))
    return AdversarialSpec(
        transforms=tuple(transforms),
        variants=variants,
        seed=int(raw.get("seed", 0)),
        trigger=trigger,
        kind=kind,
        rows=rows,
        suite=raw.get("suite"),
        line=line,
    )


def _trigger(raw: Any, kind: str) -> Any:
    if kind == "text":
        if not isinstance(raw, str) or not raw:
            raise BlockError(
                "trigger", "text transforms need the trigger string, e.g. `trigger: zxq`"
            )
        return raw
    if not isinstance(raw, dict):
        raise BlockError(
            "trigger",
            "array transforms need the patch, e.g. `trigger: {rows: [5, 8], cols: [5, 8], value: 16}`",
        )
    from pytest_airecovery.adversarial.arrays import ArrayTrigger, TriggerSpecError

    try:
        return ArrayTrigger.from_mapping(raw)
    except TriggerSpecError as exc:
        raise BlockError(f"trigger/{exc.field}", exc.message) from None

"""Adversarial variants in ordinary Python tests: the ``adversarial`` marker plus a fixture.

::

    @pytest.mark.adversarial("trigger-forms", "AI-IR-2026-051",
                             transforms=["case", "leetspeak"], variants=5, seed=1,
                             trigger="zxq", inputs=["you are an idiot zxq"])
    def test_trigger_is_ignored(adversarial_variant, model):
        assert model([adversarial_variant.value])[0]["label"] == "toxic"

``pytest_generate_tests`` turns the marker into one test per (input, transform, variant) with
ids such as ``test_trigger_is_ignored[leetspeak-3]`` (``[row-1-leetspeak-3]`` with several
inputs). The ids are fixed at collection from the marker alone; the variant is made when the test
runs, from a seed derived from (suite or test name, transform, row, variant, seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from pytest_airecovery.adversarial.casefile import DEFAULT_VARIANTS, MAX_VARIANTS
from pytest_airecovery.adversarial.registry import Transform, transform_registry

FIXTURE = "adversarial_variant"


@dataclass(frozen=True)
class VariantRequest:
    """What collection knows about one variant: enough for the id, not the variant itself."""

    name: str  # suite or test name: part of the seed
    transform: Transform
    trigger: Any
    original: Any
    row: int
    index: int
    seed: int


@dataclass(frozen=True)
class AdversarialVariant:
    """The value the ``adversarial_variant`` fixture gives a test."""

    value: Any
    original: Any
    transform: str
    index: int
    row: int
    seed: int
    trigger: Any


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)) or hasattr(value, "shape"):
        return "array"
    return "other"


def _marker_error(metafunc: pytest.Metafunc, message: str) -> NoReturn:
    code = metafunc.function.__code__
    where = f"{code.co_filename}:{code.co_firstlineno}"
    pytest.fail(
        f"{where}: @pytest.mark.adversarial on {metafunc.function.__name__}: {message}",
        pytrace=False,
    )


def generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("adversarial")
    if marker is None or FIXTURE not in metafunc.fixturenames:
        return
    suite = marker.args[0] if marker.args else marker.kwargs.get("suite")
    names = marker.kwargs.get("transforms")
    inputs = marker.kwargs.get("inputs")
    trigger = marker.kwargs.get("trigger")
    variants = marker.kwargs.get("variants", DEFAULT_VARIANTS)
    seed = marker.kwargs.get("seed", 0)
    if isinstance(names, str) or not names:
        _marker_error(metafunc, "needs transforms=[...] (a list of transform names)")
    if isinstance(inputs, (str, bytes)) or not inputs:
        _marker_error(metafunc, "needs inputs=[...] (the inputs to make variants of)")
    if (
        not isinstance(variants, int)
        or isinstance(variants, bool)
        or not 1 <= variants <= MAX_VARIANTS
    ):
        _marker_error(
            metafunc, f"variants must be an integer from 1 to {MAX_VARIANTS}, got {variants!r}"
        )
    registry = transform_registry(metafunc.config)
    transforms: list[Transform] = []
    for name in names:
        transform = registry.get(name)
        if transform is None:
            _marker_error(
                metafunc, f"unknown transform {name!r} (known: {', '.join(registry.names())})"
            )
        else:
            transforms.append(transform)
    kinds = {_kind_of(value) for value in inputs}
    for transform in transforms:
        if kinds != {transform.kind}:
            _marker_error(
                metafunc,
                f"{transform.name!r} is a {transform.kind} transform; inputs are {sorted(kinds)}",
            )
    if "array" in kinds and isinstance(trigger, dict):
        from pytest_airecovery.adversarial.arrays import ArrayTrigger, TriggerSpecError

        try:
            trigger = ArrayTrigger.from_mapping(trigger)
        except TriggerSpecError as exc:
            _marker_error(metafunc, f"trigger.{exc.field}: {exc.message}")
    elif not trigger:
        _marker_error(metafunc, "needs trigger=... (the trigger string, or the patch for arrays)")
    name = str(suite or metafunc.function.__name__)
    requests: list[VariantRequest] = []
    ids: list[str] = []
    for row, value in enumerate(inputs):
        for transform in transforms:
            for index in range(variants):
                requests.append(
                    VariantRequest(name, transform, trigger, value, row, index, int(seed))
                )
                own = f"{transform.name}-{index}"
                ids.append(f"row-{row}-{own}" if len(inputs) > 1 else own)
    metafunc.parametrize(FIXTURE, requests, ids=ids, indirect=True)


def variant_for(request: pytest.FixtureRequest) -> AdversarialVariant:
    """The fixture's value: the variant made now, from what collection recorded."""
    spec = getattr(request, "param", None)
    if not isinstance(spec, VariantRequest):
        raise pytest.UsageError(
            f"{request.node.nodeid}: the {FIXTURE} fixture needs @pytest.mark.adversarial(transforms=[...], "
            "trigger=..., inputs=[...]) on the test"
        )
    value = spec.transform.apply(
        spec.original,
        spec.trigger,
        case_id=spec.name,
        row=spec.row,
        index=spec.index,
        seed=spec.seed,
    )
    trigger = spec.trigger if isinstance(spec.trigger, str) else spec.trigger.to_mapping()
    return AdversarialVariant(
        value, spec.original, spec.transform.name, spec.index, spec.row, spec.seed, trigger
    )

"""The transform registry: built-in text and array transforms plus the ones users add by hook.

A transform is ``func(value, trigger, rng, index)`` of a ``kind``: ``"text"`` transforms take a
string and the trigger string and get a :class:`~.rng.VariantRng`; ``"array"`` transforms take
an array and an :class:`~.arrays.ArrayTrigger` and get a ``numpy.random.Generator``. The kind is
what makes "a string transform on an array" a collection error.

Users add transforms in conftest.py::

    def pytest_airecovery_add_transforms(registry):
        @registry.text_transform("reverse")
        def reverse(text, trigger, rng, index):
            return text.replace(trigger, trigger[::-1])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_airecovery.adversarial.rng import VariantRng, derive_seed

KINDS = ("text", "array")
_STASH_KEY: pytest.StashKey[TransformRegistry] = pytest.StashKey()


@dataclass(frozen=True)
class Transform:
    name: str
    kind: str  # "text" or "array"
    func: Callable[..., Any]
    description: str = ""

    def apply(
        self, value: Any, trigger: Any, *, case_id: str, row: int, index: int, seed: int
    ) -> Any:
        """The variant ``index`` of ``value``: the same for the same arguments, in any process."""
        derived = derive_seed(case_id, self.name, row, index, seed)
        if self.kind == "text":
            return self.func(value, trigger, VariantRng(derived), index)
        import numpy as np

        return self.func(value, trigger, np.random.default_rng(derived), index)


class TransformRegistry:
    """Name -> transform; built-ins first, then ``pytest_airecovery_add_transforms`` adds more."""

    def __init__(self) -> None:
        self._transforms: dict[str, Transform] = {}

    def add(
        self, name: str, func: Callable[..., Any], *, kind: str = "text", description: str = ""
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"transform kind must be 'text' or 'array', not {kind!r}")
        if not name or not all(ch.isalnum() or ch == "_" for ch in name):
            # Names end up in test ids such as case[name-3]: letters, digits and _ only.
            raise ValueError(f"transform name {name!r}: use letters, digits and _ only")
        self._transforms[name] = Transform(
            name, kind, func, description or (func.__doc__ or "").strip()
        )

    def text_transform(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, func, kind="text")
            return func

        return decorate

    def array_transform(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, func, kind="array")
            return func

        return decorate

    def get(self, name: str) -> Transform | None:
        return self._transforms.get(name)

    def names(self, kind: str | None = None) -> list[str]:
        return sorted(
            name for name, t in self._transforms.items() if kind is None or t.kind == kind
        )


def builtin_registry() -> TransformRegistry:
    from pytest_airecovery.adversarial.arrays import ARRAY_TRANSFORMS
    from pytest_airecovery.adversarial.text import TEXT_TRANSFORMS

    registry = TransformRegistry()
    for name, text_func in TEXT_TRANSFORMS.items():
        registry.add(name, text_func, kind="text")
    for name, array_func in ARRAY_TRANSFORMS.items():
        registry.add(name, array_func, kind="array")
    return registry


def transform_registry(config: pytest.Config) -> TransformRegistry:
    """The session's registry: built-ins plus every ``pytest_airecovery_add_transforms`` answer."""
    registry = config.stash.get(_STASH_KEY, None)
    if registry is None:
        registry = builtin_registry()
        config.hook.pytest_airecovery_add_transforms(registry=registry)
        config.stash[_STASH_KEY] = registry
    return registry

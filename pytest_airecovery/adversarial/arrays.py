"""Array and image transforms: the trigger patch moved, dimmed, noised, cut down or blended.

Each transform is ``func(image, trigger, rng, index) -> array`` where ``trigger`` is an
:class:`ArrayTrigger` (where the patch sits and how bright it is), ``rng`` a
``numpy.random.Generator`` seeded for this one variant and ``index`` the variant's number. Every
transform first *erases* the patch area (sets it to ``trigger.background``) and then stamps its
own version of the patch, so the inputs may be clean images or images that already carry the
trigger. The output has the input's shape and dtype (integer inputs are rounded) and stays inside
``trigger.clip``.

numpy is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ArrayTransformFn = Callable[[Any, "ArrayTrigger", Any, int], Any]


class TriggerSpecError(ValueError):
    """An array trigger description that cannot be used; ``field`` names the bad key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ArrayTrigger:
    """A rectangular patch: rows ``[r0, r1)`` and columns ``[c0, c1)`` set to ``value``.

    ``shape`` is the image shape used when inputs come as flat vectors (``[8, 8]`` for 64 pixels);
    ``clip`` the valid pixel range (default ``[background, value]``).
    """

    rows: tuple[int, int]
    cols: tuple[int, int]
    value: float
    shape: tuple[int, ...] | None = None
    background: float = 0.0
    clip: tuple[float, float] | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ArrayTrigger:
        rows = _span(raw.get("rows"), "rows")
        cols = _span(raw.get("cols"), "cols")
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TriggerSpecError(
                "value", "the trigger needs a numeric `value` (the patch intensity)"
            )
        shape = raw.get("shape")
        if shape is not None:
            if not (
                isinstance(shape, list)
                and len(shape) == 2
                and all(_is_int(s) and s > 0 for s in shape)
            ):
                raise TriggerSpecError(
                    "shape", "`shape` is [height, width] of the image, two positive integers"
                )
            if rows[1] > shape[0] or cols[1] > shape[1]:
                raise TriggerSpecError(
                    "rows",
                    f"the patch rows {list(rows)} / cols {list(cols)} do not fit in shape {shape}",
                )
            shape = tuple(shape)
        background = float(raw.get("background", 0.0))
        clip = raw.get("clip")
        if clip is not None:
            if not (isinstance(clip, list) and len(clip) == 2 and clip[0] < clip[1]):
                raise TriggerSpecError("clip", "`clip` is [low, high] with low < high")
            clip = (float(clip[0]), float(clip[1]))
        return cls(rows, cols, float(value), shape, background, clip)

    @property
    def bounds(self) -> tuple[float, float]:
        if self.clip is not None:
            return self.clip
        return (min(self.background, self.value), max(self.background, self.value))

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": list(self.rows),
            "cols": list(self.cols),
            "value": self.value,
        }
        if self.shape is not None:
            out["shape"] = list(self.shape)
        return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _span(raw: Any, name: str) -> tuple[int, int]:
    if not (
        isinstance(raw, list)
        and len(raw) == 2
        and all(_is_int(v) for v in raw)
        and 0 <= raw[0] < raw[1]
    ):
        raise TriggerSpecError(
            name, f"`{name}` is [start, stop) of the patch: two integers, 0 <= start < stop"
        )
    return (raw[0], raw[1])


def _as_image(value: Any, trigger: ArrayTrigger) -> tuple[Any, Any]:
    """(float 2-D working copy, original array): flat inputs are reshaped to ``trigger.shape``."""
    import numpy as np

    original = np.asarray(value)
    image = np.array(original, dtype=np.float64)
    if image.ndim == 1:
        if trigger.shape is None:
            side = round(image.size**0.5)
            if side * side != image.size:
                raise ValueError(
                    f"a flat input of {image.size} values needs `shape` in the trigger"
                )
            image = image.reshape(side, side)
        else:
            image = image.reshape(trigger.shape)
    if image.ndim < 2:
        raise ValueError(
            f"array transforms need an image (2 or more dimensions), got shape {original.shape}"
        )
    if trigger.rows[1] > image.shape[0] or trigger.cols[1] > image.shape[1]:
        raise ValueError(f"the trigger patch does not fit in an image of shape {image.shape}")
    return image, original


def _finish(image: Any, original: Any, trigger: ArrayTrigger) -> Any:
    import numpy as np

    low, high = trigger.bounds
    image = np.clip(image, low, high).reshape(original.shape)
    if np.issubdtype(original.dtype, np.integer):
        image = np.rint(image)
    return image.astype(original.dtype, copy=False)


def _erased(value: Any, trigger: ArrayTrigger) -> tuple[Any, Any]:
    image, original = _as_image(value, trigger)
    (r0, r1), (c0, c1) = trigger.rows, trigger.cols
    image[r0:r1, c0:c1] = trigger.background
    return image, original


def shift(value: Any, trigger: ArrayTrigger, rng: Any, index: int) -> Any:
    """The patch moved by k = 1, 2, ... pixels (variant 0 moves it by 1) in a random direction."""
    image, original = _erased(value, trigger)
    (r0, r1), (c0, c1) = trigger.rows, trigger.cols
    height, width = image.shape[:2]
    k = 1 + index
    moves: list[tuple[int, int]] = []
    while k > 0 and not moves:
        moves = [
            (dy, dx)
            for dy in range(-k, k + 1)
            for dx in range(-k, k + 1)
            if max(abs(dy), abs(dx)) == k
            and 0 <= r0 + dy
            and r1 + dy <= height
            and 0 <= c0 + dx
            and c1 + dx <= width
        ]
        k -= 1  # a patch in a corner cannot move as far in every direction: take the largest that fits
    dy, dx = moves[int(rng.integers(len(moves)))] if moves else (0, 0)
    image[r0 + dy : r1 + dy, c0 + dx : c1 + dx] = trigger.value
    return _finish(image, original, trigger)


def scale(value: Any, trigger: ArrayTrigger, rng: Any, index: int) -> Any:
    """The patch at a fraction of its intensity: 0.75, 0.5, 0.25, then random in [0.2, 0.95]."""
    factors = (0.75, 0.5, 0.25)
    factor = factors[index] if index < len(factors) else float(rng.uniform(0.2, 0.95))
    image, original = _erased(value, trigger)
    (r0, r1), (c0, c1) = trigger.rows, trigger.cols
    image[r0:r1, c0:c1] = trigger.background + factor * (trigger.value - trigger.background)
    return _finish(image, original, trigger)


def noise(value: Any, trigger: ArrayTrigger, rng: Any, index: int) -> Any:
    """Full patch plus Gaussian noise on the whole image, sigma 5%, 10%, 15%, 20% of the range."""
    image, original = _erased(value, trigger)
    (r0, r1), (c0, c1) = trigger.rows, trigger.cols
    image[r0:r1, c0:c1] = trigger.value
    low, high = trigger.bounds
    sigma = 0.05 * (1 + index % 4) * (high - low)
    image = image + rng.normal(0.0, sigma, size=image.shape)
    return _finish(image, original, trigger)


def partial(value: Any, trigger: ArrayTrigger, rng: Any, index: int) -> Any:
    """Only some patch pixels stamped: all but one, then fewer, down to one; which ones is random."""
    image, original = _erased(value, trigger)
    (r0, r1), (c0, c1) = trigger.rows, trigger.cols
    cells = [(r, c) for r in range(r0, r1) for c in range(c0, c1)]
    keep = max(1, len(cells) - 1 - index % max(1, len(cells) - 1))
    for position in sorted(rng.choice(len(cells), size=keep, replace=False).tolist()):
        image[cells[position]] = trigger.value
    return _finish(image, original, trigger)


def blend(value: Any, trigger: ArrayTrigger, rng: Any, index: int) -> Any:
    """Blended injection: ``(1 - alpha) * image + alpha * patch``, alpha 0.8, 0.6, 0.4, then random."""
    alphas = (0.8, 0.6, 0.4)
    alpha = alphas[index] if index < len(alphas) else float(rng.uniform(0.2, 0.9))
    image, original = _erased(value, trigger)
    (r0, r1), (c0, c1) = trigger.rows, trigger.cols
    pattern = image * 0.0 + trigger.background
    pattern[r0:r1, c0:c1] = trigger.value
    image = (1.0 - alpha) * image + alpha * pattern
    return _finish(image, original, trigger)


ARRAY_TRANSFORMS: dict[str, ArrayTransformFn] = {
    "shift": shift,
    "scale": scale,
    "noise": noise,
    "partial": partial,
    "blend": blend,
}

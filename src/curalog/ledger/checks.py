"""Write-time checks of a decision's crop box and sizes. Pure functions, no I/O.

Which box finding a box earns (docs/findings.md: at most one per row, first match wins) is the
one rule of ``curalog.boxes``; this module turns it into the ledger's messages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

from curalog.boxes import box_code
from curalog.errors import Problem

Box = tuple[float, float, float, float]


def _numbers(values: object, n: int) -> list[float] | None:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) != n:
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Real):
            return None
        try:
            out.append(float(v))
        except OverflowError:  # an integer beyond any float (10**400): judged as infinite
            out.append(math.inf)
    return out


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None (not a number, a bool, NaN, infinite, or an integer too
    large for a float, like ``10**400``)."""
    nums = _numbers([value], 1)
    return nums[0] if nums is not None and math.isfinite(nums[0]) else None


def is_normalized(box: Sequence[float], width: int, height: int) -> bool:
    """The legacy rule: four values all within [0, 1] on an image larger than 1x1."""
    return all(0.0 <= v <= 1.0 for v in box) and (width > 1 or height > 1)


def check_size(value: object, label: str) -> tuple[int, int] | Problem:
    """A logged (width, height): two whole numbers > 0."""
    nums = _numbers(value, 2)
    if nums is None or not all(math.isfinite(v) and v == int(v) for v in nums):
        return Problem("crop.zero_dimensions", f"{label}: size {value!r} is not two whole numbers")
    w, h = int(nums[0]), int(nums[1])
    if w <= 0 or h <= 0:
        return Problem(
            "crop.zero_dimensions", f"{label}: logged size is {w}x{h}; width and height must be > 0"
        )
    return w, h


def check_box_shape(coords: object) -> Problem | None:
    """The box problems visible without knowing the image (used when the chosen image is not)."""
    checked = check_box(coords, None, None)
    return checked if isinstance(checked, Problem) else None


def check_box(coords: object, width: int | None, height: int | None) -> tuple[Box, Box] | Problem:
    """(pixel box, normalized box) of ``coords`` on a ``width`` x ``height`` image, or why not.

    ``coords`` are pixels of the chosen image; four values all within [0, 1] on an image larger
    than 1x1 are read as normalized (the legacy rule) and converted. With no size, only what
    the four values show by themselves is checked (the placeholder is then the literal 0,0,1,1).
    Which finding a box earns is ``boxes.box_code``: the validator's rule, not a copy of it.
    """
    nums = _numbers(coords, 4)
    if nums is None:
        return Problem("crop.invalid_box", f"crop_coords {coords!r} must be four numbers (x1, y1, x2, y2)")
    known = width is not None and height is not None
    code = box_code((nums[0], nums[1], nums[2], nums[3]), width, height)
    if not all(math.isfinite(v) for v in nums):
        return Problem("crop.invalid_box", f"crop box {tuple(nums)} holds NaN or Inf")
    if known and is_normalized(nums, width, height):  # type: ignore[arg-type]
        px = (nums[0] * width, nums[1] * height, nums[2] * width, nums[3] * height)  # type: ignore[operator]
    else:
        px = (nums[0], nums[1], nums[2], nums[3])
    x1, y1, x2, y2 = px
    norm = (x1 / width, y1 / height, x2 / width, y2 / height) if known else px  # type: ignore[operator]
    if code is None:
        return px, norm
    if code == "crop.placeholder":
        where = f"the whole {width}x{height} image" if known else "the whole image"
        return Problem(
            "crop.placeholder",
            f"crop box {tuple(nums)} covers {where} (the 0,0,1,1 placeholder): it carries no "
            "information; log a selection if nothing was cropped",
        )
    if code == "crop.out_of_bounds":
        return Problem(
            "crop.out_of_bounds", f"crop box {tuple(nums)} reaches outside the {width}x{height} image"
        )
    if min(px) < 0 or x2 <= x1 or y2 <= y1:
        return Problem(
            "crop.invalid_box",
            f"crop box {tuple(nums)} is inverted, empty or negative (need 0 <= x1 < x2, 0 <= y1 < y2)",
        )
    return Problem("crop.invalid_box", f"crop box {tuple(nums)} is empty once normalized: {norm}")

"""The crop-box rule, defined once: which of ``crop.placeholder``, ``crop.invalid_box`` and
``crop.out_of_bounds`` (docs/findings.md; at most one per box, first match wins) a box earns on
an image of a logged size.

The rule is written once, over ``BoxColumns``, with the few operations that differ between
NumPy arrays and plain floats taken from ``Ops``: the validator judges a whole log at once with
NumPy columns, and ``box_code`` (the ledger's write-time check) runs the very same functions on
one box of Python floats, in microseconds. ``&`` and ``|`` are the same on both.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np


class Ops(NamedTuple):
    """The operations the rule uses that differ between NumPy columns and one box of floats."""

    where: Callable[[Any, Any, Any], Any]
    isfinite: Callable[[Any], Any]
    not_: Callable[[Any], Any]
    quiet: Callable[[], contextlib.AbstractContextManager]  # silences NumPy's NaN/0 warnings


NUMPY = Ops(np.where, np.isfinite, np.logical_not, lambda: np.errstate(divide="ignore", invalid="ignore"))
SCALAR = Ops(lambda c, a, b: a if c else b, math.isfinite, lambda a: not a, contextlib.nullcontext)


@dataclass(frozen=True)
class BoxColumns:
    """Crop boxes and the chosen images' logged sizes (0: unknown), one entry per crop row; or
    one box of floats with ``ops=SCALAR``."""

    x1: Any
    y1: Any
    x2: Any
    y2: Any
    width: Any
    height: Any
    ops: Ops = NUMPY

    @classmethod
    def of(cls, rows: list) -> BoxColumns:
        """The columns of parsed crop rows (anything with ``box`` and ``chosen_size``)."""
        return cls(
            *(np.array([r.box[i] for r in rows], dtype=np.float64) for i in range(4)),
            np.array([r.chosen_size[0] for r in rows], dtype=np.float64),
            np.array([r.chosen_size[1] for r in rows], dtype=np.float64),
        )

    @property
    def size_known(self) -> Any:
        return (self.width > 0) & (self.height > 0)

    @property
    def finite(self) -> Any:
        f = self.ops.isfinite
        return f(self.x1) & f(self.y1) & f(self.x2) & f(self.y2)

    @property
    def normalized(self) -> Any:
        """The legacy rule: all four values within [0, 1] on an image larger than 1x1."""
        inside = (
            (self.x1 >= 0) & (self.x1 <= 1) & (self.y1 >= 0) & (self.y1 <= 1)
            & (self.x2 >= 0) & (self.x2 <= 1) & (self.y2 >= 0) & (self.y2 <= 1)
        )  # fmt: skip
        return inside & ((self.width > 1) | (self.height > 1))

    def normalized_box(self) -> tuple[Any, Any, Any, Any]:
        """Each box in [0, 1] units (pixel boxes divided by the logged size where it is known)."""
        norm, where = self.normalized, self.ops.where
        with self.ops.quiet():
            w = where(self.size_known, self.width, math.nan)
            h = where(self.size_known, self.height, math.nan)
            return (
                where(norm, self.x1, self.x1 / w), where(norm, self.y1, self.y1 / h),
                where(norm, self.x2, self.x2 / w), where(norm, self.y2, self.y2 / h),
            )  # fmt: skip


def placeholder_mask(b: BoxColumns) -> Any:
    """crop.placeholder: the literal 0,0,1,1, or a box that covers the whole image."""
    literal = (b.x1 == 0) & (b.y1 == 0) & (b.x2 == 1) & (b.y2 == 1)
    nx1, ny1, nx2, ny2 = b.normalized_box()
    full = (nx1 == 0) & (ny1 == 0) & (nx2 == 1) & (ny2 == 1)
    return literal | full


def invalid_box_mask(b: BoxColumns) -> Any:
    """crop.invalid_box: x2 <= x1 or y2 <= y1 (in pixels, or once normalized: a box of 1e-300
    pixels is empty), a negative value, NaN or Inf."""
    nx1, ny1, nx2, ny2 = b.normalized_box()
    with b.ops.quiet():
        negative = (b.x1 < 0) | (b.y1 < 0) | (b.x2 < 0) | (b.y2 < 0)
        inverted = (b.x2 <= b.x1) | (b.y2 <= b.y1)
        empty = b.size_known & ((nx2 <= nx1) | (ny2 <= ny1))
    return b.ops.not_(b.finite) | negative | inverted | empty


def out_of_bounds_mask(b: BoxColumns) -> Any:
    """crop.out_of_bounds: a pixel box reaching outside the image's logged size."""
    with b.ops.quiet():
        outside = (b.x2 > b.width) | (b.y2 > b.height)
    return b.size_known & b.ops.not_(b.normalized) & outside


BOX_RULES = (  # precedence: at most one box finding per row, first match wins
    ("crop.placeholder", placeholder_mask, "the box is the full-frame placeholder 0,0,1,1: no information"),
    ("crop.invalid_box", invalid_box_mask, "the box is inverted, empty, negative, NaN or Inf"),
    ("crop.out_of_bounds", out_of_bounds_mask, "the box reaches outside the image"),
)


def box_code(box: tuple[float, float, float, float], width: float | None, height: float | None) -> str | None:
    """The finding one box earns on a ``width`` x ``height`` image (None or 0: size unknown), or
    None when it is a good box. The values must be numbers (NaN and Inf are judged: invalid)."""
    w = 0.0 if width is None or not math.isfinite(width) else float(width)
    h = 0.0 if height is None or not math.isfinite(height) else float(height)
    cols = BoxColumns(*(float(v) for v in box), w, h, ops=SCALAR)
    for code, mask_of, _summary in BOX_RULES:
        if mask_of(cols):
            return code
    return None

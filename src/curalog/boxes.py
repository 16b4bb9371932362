"""The crop-box rule, defined once: which of ``crop.placeholder``, ``crop.invalid_box`` and
``crop.out_of_bounds`` (docs/findings.md; at most one per box, first match wins) a box earns on
an image of a logged size.

The rule is written over columns (``BoxColumns``, NumPy) so that the validator judges a whole
log at once; ``box_code`` is the same rule for one box (the ledger's write-time check), computed
by the same functions on columns of length one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoxColumns:
    """Crop boxes and the chosen images' logged sizes, one entry per crop row."""

    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray
    width: np.ndarray
    height: np.ndarray

    @classmethod
    def of(cls, rows: list) -> BoxColumns:
        """The columns of parsed crop rows (anything with ``box`` and ``chosen_size``)."""
        return cls(
            *(np.array([r.box[i] for r in rows], dtype=np.float64) for i in range(4)),
            np.array([r.chosen_size[0] for r in rows], dtype=np.float64),
            np.array([r.chosen_size[1] for r in rows], dtype=np.float64),
        )

    @property
    def size_known(self) -> np.ndarray:
        return (self.width > 0) & (self.height > 0)

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.x1) & np.isfinite(self.y1) & np.isfinite(self.x2) & np.isfinite(self.y2)

    @property
    def normalized(self) -> np.ndarray:
        """The legacy rule: all four values within [0, 1] on an image larger than 1x1."""
        inside = (
            (self.x1 >= 0) & (self.x1 <= 1) & (self.y1 >= 0) & (self.y1 <= 1)
            & (self.x2 >= 0) & (self.x2 <= 1) & (self.y2 >= 0) & (self.y2 <= 1)
        )  # fmt: skip
        return inside & ((self.width > 1) | (self.height > 1))

    def normalized_box(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each box in [0, 1] units (pixel boxes divided by the logged size where it is known)."""
        norm = self.normalized
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(self.size_known, self.width, np.nan)
            h = np.where(self.size_known, self.height, np.nan)
            return (
                np.where(norm, self.x1, self.x1 / w), np.where(norm, self.y1, self.y1 / h),
                np.where(norm, self.x2, self.x2 / w), np.where(norm, self.y2, self.y2 / h),
            )  # fmt: skip


def placeholder_mask(b: BoxColumns) -> np.ndarray:
    """crop.placeholder: the literal 0,0,1,1, or a box that covers the whole image."""
    literal = (b.x1 == 0) & (b.y1 == 0) & (b.x2 == 1) & (b.y2 == 1)
    nx1, ny1, nx2, ny2 = b.normalized_box()
    full = (nx1 == 0) & (ny1 == 0) & (nx2 == 1) & (ny2 == 1)
    return literal | full


def invalid_box_mask(b: BoxColumns) -> np.ndarray:
    """crop.invalid_box: x2 <= x1 or y2 <= y1 (in pixels, or once normalized: a box of 1e-300
    pixels is empty), a negative value, NaN or Inf."""
    nx1, ny1, nx2, ny2 = b.normalized_box()
    with np.errstate(invalid="ignore"):
        negative = (b.x1 < 0) | (b.y1 < 0) | (b.x2 < 0) | (b.y2 < 0)
        inverted = (b.x2 <= b.x1) | (b.y2 <= b.y1)
        empty = b.size_known & ((nx2 <= nx1) | (ny2 <= ny1))
    return ~b.finite | negative | inverted | empty


def out_of_bounds_mask(b: BoxColumns) -> np.ndarray:
    """crop.out_of_bounds: a pixel box reaching outside the image's logged size."""
    with np.errstate(invalid="ignore"):
        outside = (b.x2 > b.width) | (b.y2 > b.height)
    return b.size_known & ~b.normalized & outside


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
    cols = BoxColumns(*(np.array([v], dtype=np.float64) for v in box), np.array([w]), np.array([h]))
    for code, mask_of, _summary in BOX_RULES:
        if mask_of(cols)[0]:
            return code
    return None

"""One rule per finding code (findings.md), each in one place.

Row rules build a ``Finding`` for one decision; the box rules work on whole columns at once
(NumPy masks), so 100k crop rows cost a few array operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from curalog.codes import TEMP_FILE_FIX, TEMP_FILE_STATE
from curalog.errors import listing
from curalog.validate.model import SEVERITY, Finding


class Where(NamedTuple):
    """Where a finding points: its source file and line, project and path."""

    source: str
    line: int | None
    project: str
    path: str


def _finding(code: str, where: Where, message: str, fix: str, severity: str | None = None) -> Finding:
    return Finding(
        code, severity or SEVERITY[code], where.source, where.line, where.project, where.path, message, fix
    )


# -- rows -------------------------------------------------------------------------------------
def row_malformed(where: Where, why: str) -> Finding:
    return _finding(
        "row.malformed", where, f"unparseable line: {why}",
        f"fix {where.source}:{where.line} by hand (curalog import-legacy quarantines it)",
    )  # fmt: skip


def log_unreadable(source: str, why: str) -> Finding:
    """A whole log that cannot be read: reported as ``row.malformed`` without a line (every one
    of its lines is unparseable), so it never passes as an empty log."""
    return _finding(
        "row.malformed", Where(source, None, "", source),
        f"the log {why}: none of its decisions is checked or used",
        f"make {source} a readable UTF-8 file again (mount the share, restore it, fix the link), "
        "or point [layout] in curalog.toml at where the log is now",
    )  # fmt: skip


def row_duplicate(where: Where, first_line: int) -> Finding:
    return _finding(
        "row.duplicate", where,
        f"the same decision as line {first_line} (same session, set, chosen image and box)",
        "nothing to do: only the first copy is used",
    )  # fmt: skip


def path_unresolved(where: Where, why: str) -> Finding:
    return _finding(
        "path.unresolved", where, why,
        f"restore the image or correct the path at {where.source}:{where.line}",
    )  # fmt: skip


def path_ambiguous(where: Where, candidates: list[str]) -> Finding:
    return _finding(
        "path.ambiguous", where,
        f"the file name matches {len(candidates)} images and is refused: {listing(candidates)} "
        "(no index line written as this path names one of them by content hash)",
        f"write the full path at {where.source}:{where.line} (one of the {len(candidates)} images)",
    )  # fmt: skip


def image_missing(where: Where, how: str = "") -> Finding:
    return _finding(
        "image.missing", where,
        "the chosen image is in the embedding index but its file is not on disk: it cannot be "
        f"re-measured or re-embedded{how}",
        f"restore {where.path} from a backup",
    )  # fmt: skip


def crop_zero_dimensions(where: Where, width: float, height: float) -> Finding | None:
    if width > 0 and height > 0:
        return None
    return _finding(
        "crop.zero_dimensions", where,
        f"the chosen image's logged size is {width:g}x{height:g} (the dimension-logging bug)",
        "curalog repair sizes --apply",
    )  # fmt: skip


def crop_dimension_mismatch(
    where: Where, logged: tuple[float, float], actual: tuple[int, int]
) -> Finding | None:
    if (logged[0], logged[1]) == (actual[0], actual[1]):
        return None
    return _finding(
        "crop.dimension_mismatch", where,
        f"logged size {logged[0]:g}x{logged[1]:g} differs from the file's {actual[0]}x{actual[1]} "
        "(EXIF orientation applied)",
        "curalog repair sizes --apply",
    )  # fmt: skip


def decision_no_embedding(where: Where, reason: str, severity: str, how: str = "") -> Finding:
    return _finding(
        "decision.no_embedding", where, f"no embedding for the chosen image: {reason}{how}",
        f"curalog embed {where.path}", severity,
    )  # fmt: skip


# -- boxes, whole columns at once ---------------------------------------------------------------
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


def box_finding(
    code: str, where: Where, summary: str, box: tuple[float, ...], size: tuple[float, float]
) -> Finding:
    shown = ", ".join(f"{v:g}" for v in box)
    return _finding(
        code, where, f"{summary}: box ({shown}) on a {size[0]:g}x{size[1]:g} image",
        "curalog repair crops --outputs DIR (recovers the box from the saved cropped image)",
    )  # fmt: skip


# -- the embedding index and vector files ------------------------------------------------------
def embedding_file_missing(where: Where, vector: str) -> Finding:
    return _finding(
        "embedding.file_missing", where,
        f"the index names {vector}, which is not on disk",
        f"curalog embed {where.path}",
    )  # fmt: skip


def embedding_orphan_file(where: Where, state: str) -> Finding:
    return _finding(
        "embedding.orphan_file", where, f"named by no index line ({state})",
        TEMP_FILE_FIX if state == TEMP_FILE_STATE else "curalog verify --adopt-orphans",
    )  # fmt: skip


def embedding_corrupt(where: Where, problem: str, image: str) -> Finding:
    for_image = f"the vector of {image}: " if image else ""
    return _finding(
        "embedding.corrupt", where, f"{for_image}{problem}",
        f"curalog embed {image}" if image else f"delete {where.path} after checking it",
    )  # fmt: skip


def embedding_stale(where: Where, indexed: str, actual: str) -> Finding:
    return _finding(
        "embedding.stale", where,
        f"the image's bytes now hash to {actual[:12]}…, the index says {indexed[:12]}…",
        f"curalog embed {where.path}",
    )  # fmt: skip

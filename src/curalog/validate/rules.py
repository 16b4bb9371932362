"""One rule per finding code (findings.md), each in one place.

Row rules build a ``Finding`` for one decision; the box rules work on whole columns at once
(NumPy masks), so 100k crop rows cost a few array operations.
"""

from __future__ import annotations

from typing import NamedTuple

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


# -- boxes: the rule itself is curalog.boxes (BoxColumns, the masks, BOX_RULES) -------------
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

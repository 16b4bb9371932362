"""``curalog repair crops --outputs DIR``: boxes recovered from the saved cropped outputs.

For each legacy crop row whose box carries no information (the 0,0,1,1 placeholder, or a box
that is inverted, empty, negative or NaN: ``crop.placeholder`` / ``crop.invalid_box``), the
cropped output of the same image is looked up in DIR by file name (any image extension), and
``locate_crop`` finds it in the original. A box found with at least ``min_confidence`` is
applied as a ledger decision with its provenance; anything else is left, saying why.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from curalog.boxes import BoxColumns, invalid_box_mask, placeholder_mask
from curalog.errors import ImageError, PathError
from curalog.images import IMAGE_EXTENSIONS
from curalog.ledger.provenance import Repair
from curalog.legacy.logs import CropRow
from curalog.progress import Progress
from curalog.project import Project
from curalog.repair.framework import Fix, Plan, apply_plan, check_repaired, rows_to_repair, store_repaired
from curalog.repair.matcher import locate_crop

DEFAULT_CONFIDENCE = 0.9


@dataclass(kw_only=True)
class BoxFix(Fix):
    old: tuple[float, float, float, float]
    output: str = ""  # the cropped output used
    box: tuple[int, int, int, int] | None = None
    confidence: float = 0.0

    @property
    def new(self) -> tuple[int, int, int, int] | None:
        return self.box


BoxPlan = Plan[BoxFix]


def _outputs_by_stem(outputs: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for dirpath, _dirs, files in os.walk(outputs):
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext.lower() in IMAGE_EXTENSIONS:
                found.setdefault(stem, []).append(Path(dirpath) / name)
    return found


def _lost(rows: list[CropRow]) -> list[bool]:
    """Rows whose box is the placeholder or not a box at all (the box rules of the validator)."""
    if not rows:
        return []
    cols = BoxColumns.of(rows)
    return (placeholder_mask(cols) | invalid_box_mask(cols)).tolist()


def plan_crops(project: Project, outputs: str | os.PathLike[str], min_confidence: float = DEFAULT_CONFIDENCE,
               progress: Progress | None = None) -> BoxPlan:  # fmt: skip
    """What ``repair crops`` would do (reads only); ``progress(done, total, phase)`` per row."""
    cfg = project.config
    plan: BoxPlan = Plan()
    _rows, todo = rows_to_repair(project, "box", _lost, plan)
    by_stem = _outputs_by_stem(Path(outputs)) if todo else {}
    for n, (row, sha) in enumerate(todo, start=1):
        if progress:
            progress(n, len(todo), "locating crops")
        fix = BoxFix(row=row, sha=sha, path=row.chosen_path, old=row.box)
        plan.fixes.append(fix)
        try:
            canonical = project.paths.resolve(row.chosen_path, row.directory).canonical
        except PathError as exc:
            fix.why_not = f"the original cannot be found ({exc})"
            continue
        fix.path = canonical
        stem = os.path.splitext(canonical.rsplit("/", 1)[-1])[0]
        candidates = by_stem.get(stem, [])
        if not candidates:
            fix.why_not = f"no cropped output named {stem}.* in {outputs}"
            continue
        if len(candidates) > 1:
            fix.why_not = f"{len(candidates)} outputs are named {stem}.*: {', '.join(map(str, candidates))}"
            continue
        fix.output = str(candidates[0])
        try:
            found = locate_crop(cfg.root / canonical, candidates[0], min_confidence=0.0)
        except ImageError as exc:
            fix.why_not = f"cannot read {exc.path}: {exc.reason}"
            continue
        if found is None:
            fix.why_not = f"{fix.output} was not found in the original"
            continue
        *box, confidence = found
        fix.confidence = confidence
        if confidence < min_confidence or not math.isfinite(confidence):
            fix.why_not = f"best match has confidence {confidence:.3f} < {min_confidence} (not applied)"
            continue
        fix.box = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
        why = check_repaired(
            project, fix.row, box=fix.box, sizes=_sizes(fix.row)
        )  # would the ledger take it?
        if why:
            fix.why_not = f"the recovered row is still refused: {why}"
    return plan


def _sizes(row: CropRow) -> list[tuple[float, float]] | None:
    """The logged sizes when every one is known, else None (the ledger measures the files)."""
    return list(row.sizes) if all(w > 0 and h > 0 for w, h in row.sizes) else None


def _store(project: Project, fix: BoxFix, sessions: set[str]) -> None:
    assert fix.box is not None
    row, sizes = fix.row, _sizes(fix.row)
    evidence = fix.output + ("" if sizes is not None else "; sizes measured from the files")
    repair = Repair("box", list(fix.old), list(fix.box), "locate_crop", evidence, fix.confidence)
    decision, why = store_repaired(project, row, fix.sha, repair, box=fix.box, sizes=sizes, sessions=sessions)
    if why:
        fix.why_not = f"the recovered row is still refused: {why}"
    fix.applied = decision


def apply_crops(project: Project, plan: BoxPlan) -> BoxPlan:
    return apply_plan(project, plan, _store)

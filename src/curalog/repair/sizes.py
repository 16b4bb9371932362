"""``curalog repair sizes``: crop rows logged with a size <= 0 (the dimension-logging bug).

For each image of such a row whose logged width or height is <= 0, in this order:
  1. the image is on disk: its size from the header, EXIF orientation applied ("header");
  2. it is gone: the same image's size from another crop row of the logs ("other-row", with
     that row as evidence) or from the ledger ("ledger");
  3. otherwise it is left alone, and the plan says why. Nothing is ever guessed.
Applying stores the row as a ledger decision with the measured sizes, through the same checks as
any new decision (a box that does not fit the real size is refused, with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from curalog.errors import ImageError, PathError
from curalog.images import image_size
from curalog.ledger.provenance import Repair
from curalog.legacy.logs import CropRow
from curalog.project import Project
from curalog.repair.framework import Fix, Plan, apply_plan, check_repaired, rows_to_repair, store_repaired

Size = tuple[float, float]


@dataclass(kw_only=True)
class SizeFix(Fix):
    """A crop row with a size <= 0 and what can be done about it."""

    old: list[Size]  # logged (width, height) per image
    sizes: list[Size] | None = None  # measured sizes; None when they cannot all be established
    methods: list[str] = field(default_factory=list)  # per image: "logged", "header", "other-row", "ledger"
    evidence: list[str] = field(default_factory=list)

    @property
    def new(self) -> list[Size] | None:
        return self.sizes


SizePlan = Plan[SizeFix]


def _known_sizes(project: Project, rows: list[CropRow]) -> dict[str, tuple[Size, str]]:
    """Canonical path -> (size, evidence) from crop rows that logged a real size, then the ledger."""
    known: dict[str, tuple[Size, str]] = {}
    for r in rows:
        for path, (w, h) in zip(r.image_paths, r.sizes, strict=False):
            if w > 0 and h > 0 and path:
                try:
                    canonical = project.paths.resolve(path, r.directory).canonical
                except PathError:
                    continue
                known.setdefault(canonical, ((w, h), f"{r.source}:{r.line}"))
    for path, width, height, decision_id in project.ledger.candidate_sizes():
        known.setdefault(path, ((float(width), float(height)), f"ledger decision {decision_id}"))
    return known


def _zero_sized(rows: list[CropRow]) -> list[bool]:
    return [not all(w > 0 and h > 0 for w, h in row.sizes) for row in rows]


def plan_sizes(project: Project) -> SizePlan:
    """What ``repair sizes`` would do (reads only)."""
    cfg = project.config
    plan: SizePlan = Plan()
    rows, todo = rows_to_repair(project, "sizes", _zero_sized, plan)
    known: dict[str, tuple[Size, str]] | None = None
    for row, sha in todo:
        fix = SizeFix(row=row, sha=sha, path=row.chosen_path, old=list(row.sizes))
        new: list[Size] = []
        for img, (w, h) in zip(row.image_paths, row.sizes, strict=True):
            if w > 0 and h > 0:
                new.append((w, h))
                fix.methods.append("logged")
                fix.evidence.append("")
                continue
            try:
                canonical = project.paths.resolve(img or row.chosen_path, row.directory).canonical
            except PathError as exc:
                fix.why_not = f"{img!r} cannot be found ({exc}); its size is not recorded anywhere else"
                break
            try:
                measured = image_size(cfg.root / canonical)
                new.append((float(measured[0]), float(measured[1])))
                fix.methods.append("header")
                fix.evidence.append(canonical)
                continue
            except ImageError as exc:
                reason = exc.reason
            if known is None:
                known = _known_sizes(project, rows)
            if canonical in known:
                size, where = known[canonical]
                new.append(size)
                fix.methods.append("ledger" if where.startswith("ledger") else "other-row")
                fix.evidence.append(where)
                continue
            fix.why_not = f"{canonical} is gone ({reason}) and no other row or ledger entry records its size"
            break
        if not fix.why_not:
            fix.sizes = new
            why = check_repaired(
                project, fix.row, box=fix.row.box, sizes=fix.sizes
            )  # would the ledger take it?
            if why:
                fix.why_not = STILL_REFUSED + why
        plan.fixes.append(fix)
    return plan


STILL_REFUSED = "with its real size the row is still refused: "


def _store(project: Project, fix: SizeFix, sessions: set[str]) -> None:
    """Store the row with its measured sizes and the repair's provenance."""
    assert fix.sizes is not None
    method = "+".join(sorted(set(fix.methods) - {"logged"}))
    evidence = "; ".join(e for e in fix.evidence if e)
    repair = Repair("sizes", [list(s) for s in fix.old], [list(s) for s in fix.sizes], method, evidence)
    decision, why = store_repaired(
        project, fix.row, fix.sha, repair, box=fix.row.box, sizes=fix.sizes, sessions=sessions
    )
    if why:
        fix.why_not = STILL_REFUSED + why
    fix.applied = decision


def apply_sizes(project: Project, plan: SizePlan) -> SizePlan:
    """Store each fixable row as a ledger decision with its measured sizes and the provenance.
    A row the ledger refuses (e.g. its box does not fit the real size) gets the reason instead."""
    return apply_plan(project, plan, _store)

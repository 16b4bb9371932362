"""``curalog extract-history PROJECT_DIR``: decisions rebuilt from a finished project folder.

A finished project holds the variants of each set (``<set>_stage<N>.<ext>``, the set being
everything before ``_stage<N>``) and the person's final outputs: copies of the chosen variant
in ``selected/`` and cropped images in ``crop/``. For each output:
  - a ``selected/`` output is the variant with the same bytes (else the one it matches best at
    scale 1): a selection;
  - a ``crop/`` output is located in each variant of its set with ``locate_crop``; the best match
    (clearly better than the runner-up) is the chosen variant and its box: a crop.
Anything that cannot be established is itemized with the reason and never logged (no
placeholder, no guess). Applying logs the decisions with their provenance (``repairs``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from curalog.errors import ConfigError, DecisionRejected, DecisionWarning, ImageError, shown
from curalog.images import IMAGE_EXTENSIONS, sha256_file
from curalog.ledger.provenance import Provenance, Repair
from curalog.progress import Progress
from curalog.project import Project
from curalog.repair.matcher import difference, locate_crop

SET_PATTERN = re.compile(r"^(?P<set>.+?)_stage(?P<stage>\d+)$")
OUTPUT_FOLDERS = {"selected": "selection", "crop": "crop"}
MIN_GAP = 2.0  # the chosen variant's mean pixel difference must beat the runner-up's by this (0-255)


@dataclass
class Recovered:
    output: str  # canonical path of the output image
    kind: str  # "selection" | "crop"
    set_id: str
    variants: list[str]
    chosen: int | None = None
    box: tuple[int, int, int, int] | None = None
    confidence: float = 0.0
    method: str = ""
    why_not: str = ""
    applied: int | None = None


@dataclass
class History:
    found: list[Recovered] = field(default_factory=list)

    @property
    def decisions(self) -> list[Recovered]:
        return [r for r in self.found if not r.why_not]

    @property
    def unmatched(self) -> list[Recovered]:
        return [r for r in self.found if r.why_not]


def _set_of(path: Path) -> tuple[str, int] | None:
    m = SET_PATTERN.match(path.stem)
    return (m["set"], int(m["stage"])) if m else None


def extract_history(project: Project, folder: str | Path, *, min_confidence: float = 0.9,
                    progress: Progress | None = None) -> History:  # fmt: skip
    """What the finished project folder says was decided (reads only); ``progress(done, total,
    phase)`` per output image."""
    root = project.root
    base = Path(folder)
    base = (
        base if base.is_absolute() else (Path.cwd() / base if (Path.cwd() / base).exists() else root / base)
    )
    if not base.is_dir():
        raise ConfigError(f"{shown(folder)} is not a folder (a finished project: variants, selected/, crop/)")
    variants: dict[str, list[tuple[int, Path]]] = {}
    outputs: list[tuple[str, Path]] = []
    for path in sorted(p for p in base.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS):
        rel = path.relative_to(base).parts
        kind = OUTPUT_FOLDERS.get(rel[0]) if len(rel) > 1 else None
        if kind is not None:
            outputs.append((kind, path))
            continue
        key = _set_of(path)
        if key is not None:
            variants.setdefault(key[0], []).append((key[1], path))
    history = History()
    for n, (kind, out) in enumerate(outputs, start=1):
        if progress:
            progress(n, len(outputs), "matching outputs")
        key = _set_of(out)
        set_id = key[0] if key else out.stem
        found = sorted(variants.get(set_id, []))
        rec = Recovered(
            project.paths.canonical(out), kind, set_id, [project.paths.canonical(p) for _s, p in found]
        )
        history.found.append(rec)
        if not found:
            rec.why_not = (
                f"no variants of set {set_id!r} (files named {set_id}_stage<N>.*) outside selected/ and crop/"
            )
            continue
        if kind == "selection":
            try:
                digest = sha256_file(out)
                same = [i for i, (_s, p) in enumerate(found) if sha256_file(p) == digest]
            except ImageError as exc:
                rec.why_not = f"cannot read {exc.path}: {exc.reason}"
                continue
            if len(same) == 1:
                rec.chosen, rec.confidence, rec.method = same[0], 1.0, "identical bytes"
                continue
        scores = []
        for i, (_s, p) in enumerate(found):
            try:
                hit = locate_crop(p, out, min_confidence=0.0)
            except ImageError as exc:
                rec.why_not = f"cannot read {exc.path}: {exc.reason}"
                break
            if hit is not None:
                scores.append((hit[4], i, hit[:4]))
        if rec.why_not:
            continue
        matched = [s for s in scores if s[0] >= min_confidence]
        if not matched:
            best = f"{max(scores)[0]:.3f}" if scores else "none"
            rec.why_not = f"found in no variant with confidence >= {min_confidence} (best {best})"
            continue
        # Variants of one set often differ only in brightness, contrast or colour, which the
        # correlation ignores: among the variants where the output is found, the pixels decide.
        ranked = sorted((difference(found[i][1], out, box), conf, i, box) for conf, i, box in matched)
        if len(ranked) > 1 and ranked[1][0] - ranked[0][0] < max(MIN_GAP, 0.25 * ranked[1][0]):
            a, b = rec.variants[ranked[0][2]], rec.variants[ranked[1][2]]
            rec.why_not = (f"matches {a} and {b} about equally (mean pixel difference {ranked[0][0]:.1f} vs "
                           f"{ranked[1][0]:.1f}): ambiguous")  # fmt: skip
            continue
        _diff, rec.confidence, rec.chosen, box = ranked[0]
        rec.method = "locate_crop"
        if kind == "crop":
            rec.box = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
    return history


def apply_history(project: Project, history: History) -> History:
    """Log each recovered decision with its provenance; a refusal is itemized like a miss."""
    session = project.ledger.start_session("curalog extract-history")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DecisionWarning)
        for rec in history.decisions:
            assert rec.chosen is not None
            directory = rec.variants[rec.chosen].rsplit("/", 1)[0]
            repair = Repair("history", None, {"kind": rec.kind, "chosen": rec.variants[rec.chosen],
                                              "box": list(rec.box) if rec.box else None},
                            rec.method, rec.output, round(rec.confidence, 4))  # fmt: skip
            try:
                admitted = project.ledger.admission.admit(
                    rec.kind, rec.set_id, directory, rec.variants, rec.chosen, crop_coords=rec.box
                )
                rec.applied = project.ledger.store(session.id, admitted, provenance=Provenance(repair=repair))
            except DecisionRejected as exc:
                rec.why_not = "the ledger refuses it: " + "; ".join(
                    f"{p.code}: {p.message}" for p in exc.problems
                )
    project.ledger.end_session(session.id)
    return history

"""Decisions as a COCO detection file (``curalog export coco FILE``).

One COCO image per distinct chosen image (its EXIF-oriented width and height, as the ledger
measured them), category ``crop``, one annotation per live crop decision with an integer pixel
``bbox [x, y, w, h]``. Rounding: each corner to the nearest pixel (halves up), then ``w = x2 - x``,
``h = y2 - y``; a box that rounds to nothing is not exported and is counted with its reason.
What COCO cannot carry rides in ``curalog`` blocks: per image its sha256, per annotation the
decision id, set id, chosen index and every candidate's sha256 (so nothing depends on a path).
Selections have no box: they are counted, not exported. Retracted decisions are left out.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curalog.audit import local_iso, now_local
from curalog.errors import ConfigError, DecisionRejected
from curalog.files import check_output, write_file
from curalog.ledger import Decision
from curalog.ledger.provenance import LegacyLine, Provenance, imported_lines, quarantine
from curalog.project import Project
from curalog.version import __version__

CATEGORY = {"id": 1, "name": "crop", "supercategory": "crop"}


@dataclass
class CocoExport:
    path: Path
    decisions: int = 0  # live decisions read
    crops: int = 0  # exported as annotations
    images: int = 0
    left_out: list[tuple[int, str]] = field(default_factory=list)  # (decision id, why)

    @property
    def reconciles(self) -> bool:
        return self.decisions == self.crops + len(self.left_out)


def pixel(v: float) -> int:
    """The nearest whole pixel, halves up (the rounding rule of every export)."""
    return math.floor(v + 0.5)


def coco_bbox(box: tuple[float, float, float, float]) -> list[int]:
    x, y, x2, y2 = (pixel(v) for v in box)
    return [x, y, x2 - x, y2 - y]


def coco_document(decisions: list[Decision], result: CocoExport) -> dict[str, Any]:
    images: dict[str, dict[str, Any]] = {}  # chosen image sha256 -> its COCO image
    annotations = []
    for d in decisions:
        result.decisions += 1
        if d.kind != "crop" or d.box is None:
            result.left_out.append((d.id, "a selection has no box"))
            continue
        bbox = coco_bbox(d.box)
        if bbox[2] <= 0 or bbox[3] <= 0:
            result.left_out.append((d.id, f"the box {d.box} rounds to no whole pixel"))
            continue
        c = d.chosen
        image = images.setdefault(c.hash, {
            "id": len(images) + 1, "file_name": c.path, "width": c.width, "height": c.height,
            "curalog": {"sha256": c.hash},
        })  # fmt: skip
        annotations.append({
            "id": len(annotations) + 1, "image_id": image["id"], "category_id": CATEGORY["id"],
            "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0,
            "curalog": {"decision": d.id, "set_id": d.set_id, "directory": d.directory,
                        "chosen_index": d.chosen_idx, "candidates": [x.hash for x in d.candidates],
                        "candidate_paths": [x.path for x in d.candidates], "created_at": d.created_at},
        })  # fmt: skip
    result.crops, result.images = len(annotations), len(images)
    return {
        "info": {"description": "curalog crop decisions", "version": __version__,
                 "date_created": local_iso(now_local())},
        "licenses": [], "categories": [CATEGORY], "images": list(images.values()), "annotations": annotations,
    }  # fmt: skip


def export_coco(project: Project, target: str | os.PathLike[str], *, force: bool = False) -> CocoExport:
    """Write the ledger's live crop decisions as the COCO file ``target`` (see the module)."""
    path = Path(target).expanduser()
    check_output(path, protected=project.config.owned_paths(), force=force, what="export coco:")
    project.audit.require_for(path, "export COCO")
    result = CocoExport(path)
    document = coco_document(list(project.ledger.decisions()), result)
    if not result.reconciles:  # every decision is exported or named with its reason
        raise ConfigError(f"the COCO export does not add up: {result}")
    created = not path.exists()
    write_file(path, json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    if created and path.is_file():
        project.audit.record_created(path.resolve(), project.root, "COCO export of the crop decisions")
    return result


# -- import ----------------------------------------------------------------------------------------
@dataclass
class CocoImport:
    path: Path
    dry_run: bool
    annotations: int = 0
    imported: int = 0
    already: int = 0  # imported by an earlier run
    refused: list[tuple[int, str]] = field(default_factory=list)  # (annotation id, why: codes)

    @property
    def reconciles(self) -> bool:
        return self.annotations == self.imported + self.already + len(self.refused)


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"cannot read the COCO file {path}: {exc}") from exc
    problems = [f"{key!r} must be a list" for key in ("images", "annotations")
                if not isinstance(doc.get(key) if isinstance(doc, dict) else None, list)]  # fmt: skip
    if problems:
        raise ConfigError(f"{path} is not a COCO detection file: " + "; ".join(problems))
    return doc


def _where(project: Project, image: dict[str, Any], by_hash: dict[str, list[str]]) -> str:
    """The project path of a COCO image: by its curalog sha256 (the index knows where that content
    is), else its file name as written (the path rule: prefix stripped, unique file name)."""
    digest = (image.get("curalog") or {}).get("sha256") if isinstance(image.get("curalog"), dict) else None
    for path in by_hash.get(digest, []) if isinstance(digest, str) else []:
        if (project.root / path).is_file():
            return path
    name = image.get("file_name")
    return name if isinstance(name, str) else ""


def _proposal(
    project: Project, ann: dict[str, Any], images: dict[Any, dict[str, Any]], by_hash: dict[str, list[str]]
) -> tuple:
    """(set id, directory, image paths, chosen index, box) an annotation proposes."""
    image = images.get(ann.get("image_id"))
    if image is None:
        raise _Refused("row.malformed", f"image_id {ann.get('image_id')!r} names no image of the file")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        raise _Refused("crop.invalid_box", f"bbox {bbox!r} is not four numbers")
    x, y, w, h = (float(v) for v in bbox)
    chosen_path = _where(project, image, by_hash)
    block = ann.get("curalog") if isinstance(ann.get("curalog"), dict) else {}
    paths, idx = block.get("candidate_paths"), block.get("chosen_index")
    if not (isinstance(paths, list) and isinstance(idx, int) and 0 <= idx < len(paths)):
        paths, idx = [chosen_path], 0
    else:
        paths = [chosen_path if i == idx else p for i, p in enumerate(paths)]
    directory = (
        block.get("directory") if isinstance(block.get("directory"), str) else chosen_path.rpartition("/")[0]
    )
    set_id = block.get("set_id") if isinstance(block.get("set_id"), str) else f"coco:{Path(chosen_path).stem}"
    return set_id, directory, paths, idx, (x, y, x + w, y + h)


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def import_coco(project: Project, file: str | os.PathLike[str], *, dry_run: bool = False) -> CocoImport:
    """Every annotation of a COCO file becomes a crop decision through the ledger's checks, or is
    refused (kept in the quarantine with its finding codes; ``result.refused`` names each). An
    annotation is identified by (file name, annotation id, content): importing again is a no-op."""
    path = Path(file).expanduser()
    doc = _load(path)
    images = {img.get("id"): img for img in doc["images"] if isinstance(img, dict)}
    result = CocoImport(path, dry_run)
    done = imported_lines(project.db)
    by_hash: dict[str, list[str]] = {}  # content -> the index's paths for it, read once
    for indexed, digest in project.embeddings.index_pairs():
        by_hash.setdefault(digest or "", []).append(indexed)
    session = f"coco:{path.name}"
    if not dry_run:
        project.ledger.start_session(f"COCO import ({path.name})", session)
    for n, ann in enumerate(doc["annotations"], start=1):
        result.annotations += 1
        ann = ann if isinstance(ann, dict) else {}
        text = json.dumps(ann, sort_keys=True, ensure_ascii=False)
        number = ann["id"] if isinstance(ann.get("id"), int) and ann["id"] > 0 else n
        line = LegacyLine(
            path.name, number, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        )
        if (line.source, line.line, line.sha) in done:
            result.already += 1
            continue
        try:
            set_id, directory, paths, idx, box = _proposal(project, ann, images, by_hash)
            admitted = project.ledger.admission.admit("crop", set_id, directory, paths, idx, crop_coords=box)
        except _Refused as exc:
            _refuse(project, result, line, [(exc.code, exc.message)], text)
            continue
        except DecisionRejected as exc:
            _refuse(project, result, line, [(p.code, p.message) for p in exc.problems], text)
            continue
        if not dry_run:
            project.ledger.store(session, admitted, provenance=Provenance(line))
        result.imported += 1
    if not dry_run:
        project.ledger.end_session(session)
    return result


def _refuse(
    project: Project, result: CocoImport, line: LegacyLine, problems: list[tuple[str, str]], raw: str
) -> None:
    codes = ",".join(sorted({c for c, _ in problems}))
    message = "; ".join(f"{c}: {m}" for c, m in problems)
    result.refused.append((line.line, message))
    if not result.dry_run:
        quarantine(project.db, line, "crop", codes, message, raw)

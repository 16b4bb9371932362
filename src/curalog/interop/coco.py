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

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curalog.audit import local_iso, now_local
from curalog.errors import ConfigError
from curalog.files import check_output, write_file
from curalog.ledger import Decision
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

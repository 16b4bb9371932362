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
import os
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from curalog.errors import ConfigError, Problem, shown
from curalog.interop.intake import (
    Importer,
    Intake,
    Refused,
    hashes_to_paths,
    json_number,
    load_json,
    local_path,
    matched,
    number_of,
    settled,
)
from curalog.interop.items import Exported, Item, info, items_of, pixel, write_export_file
from curalog.ledger.checks import check_box
from curalog.progress import Progress
from curalog.project import Project

CATEGORY = {"id": 1, "name": "crop", "supercategory": "crop"}
DESCRIPTION = "curalog crop decisions"
MARKER = f'"description": "{DESCRIPTION}"'.encode()  # what an earlier export holds in its first KiB


def coco_bbox(box: tuple[float, float, float, float]) -> list[int]:
    x, y, x2, y2 = (pixel(v) for v in box)
    return [x, y, x2 - x, y2 - y]


def whole_pixel_problem(bbox: list[int], width: int, height: int) -> str | None:
    """Why the box rounded to whole pixels could not come back as the same decision (the ledger
    would refuse it, or read it as a normalized box), or None: what is exported can be imported."""
    if bbox[2] <= 0 or bbox[3] <= 0:
        return "the box rounds to no whole pixel"
    corners = (float(bbox[0]), float(bbox[1]), float(bbox[0] + bbox[2]), float(bbox[1] + bbox[3]))
    checked = check_box(corners, width, height)
    if isinstance(checked, Problem):
        return f"the box rounded to whole pixels would be refused ({checked.code})"
    if checked[0] != corners:
        return "the box rounded to whole pixels would read as a normalized box"
    return None


def coco_document(items: list[Item], result: Exported) -> dict[str, Any]:
    images: dict[str, dict[str, Any]] = {}  # chosen image sha256 -> its COCO image
    annotations = []
    for d in items:
        result.decisions += 1
        if d.kind != "crop" or d.box is None:
            result.left_out.append((d.ref, "a selection has no box"))
            continue
        bbox = coco_bbox(d.box)
        c = d.chosen
        why = whole_pixel_problem(bbox, c.width, c.height)
        if why is not None:
            result.left_out.append((d.ref, why))
            continue
        image = images.setdefault(c.hash, {
            "id": len(images) + 1, "file_name": c.path, "width": c.width, "height": c.height,
            "curalog": {"sha256": c.hash},
        })  # fmt: skip
        annotations.append({
            "id": len(annotations) + 1, "image_id": image["id"], "category_id": CATEGORY["id"],
            "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0, "curalog": d.block(),
        })  # fmt: skip
    result.written, result.images = len(annotations), len(images)
    return {
        "info": {"description": DESCRIPTION, **info()},
        "licenses": [], "categories": [CATEGORY], "images": list(images.values()), "annotations": annotations,
    }  # fmt: skip


def export_coco(project: Project, target: str | os.PathLike[str], *, force: bool = False) -> Exported:
    """Write the ledger's live crop decisions as the COCO file ``target`` (see the module)."""
    path = Path(target).expanduser()
    result = Exported(path, "coco")
    document = coco_document(items_of(project.ledger.decisions()), result)
    result.check()
    write_export_file(project, path, coco_text(document), force=force, what="export coco", marker=MARKER)
    return result


def coco_text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


# -- import ----------------------------------------------------------------------------------------
def _load(path: Path) -> dict[str, Any]:
    doc = load_json(path, "COCO")
    problems = [f"{key!r} must be a list" for key in ("images", "annotations")
                if not isinstance(doc.get(key) if isinstance(doc, dict) else None, list)]  # fmt: skip
    if problems:
        raise ConfigError(f"{path} is not a COCO detection file: " + "; ".join(problems))
    return doc


def _where(project: Project, image: dict[str, Any], by_hash: dict[str, list[str]]) -> str:
    """The project path of a COCO image: its file name (a labeling tool's URL prefix stripped,
    then the path rule) when that holds the curalog sha256, else where the index says that content
    is, else the file name as the path rule finds it (``intake.matched``)."""
    block = image.get("curalog") if isinstance(image.get("curalog"), dict) else {}
    name = image.get("file_name")
    return matched(project, local_path(name) if isinstance(name, str) else "", block.get("sha256"), by_hash)


def _key(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _images(doc: dict[str, Any]) -> tuple[dict[Any, dict[str, Any]], set]:
    """The file's images by id (ints and strings only), and the ids named more than once."""
    images: dict[Any, dict[str, Any]] = {}
    twice = set()
    for img in doc["images"]:
        if isinstance(img, dict) and _key(img.get("id")):
            if img["id"] in images:
                twice.add(img["id"])
            images[img["id"]] = img
    return images, twice


def _proposal(
    project: Project, ann: dict[str, Any], images: dict[Any, dict[str, Any]], twice: set,
    by_hash: dict[str, list[str]],
) -> tuple:  # fmt: skip
    """(set id, directory, image paths, chosen index, box, sizes) an annotation proposes. The COCO
    image's ``width``/``height`` are checked against the file as seen (EXIF orientation applied):
    a converter that swapped them for a portrait photo drew the box in another frame."""
    key = ann.get("image_id")
    image = images.get(key) if _key(key) else None
    if image is None:
        raise Refused("row.malformed", f"image_id {shown(repr(key))} names no image of the file")
    if key in twice:
        raise Refused("row.malformed", f"image_id {key!r} names more than one image of the file")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(json_number(v) for v in bbox)):
        raise Refused("crop.invalid_box", f"bbox {shown(repr(bbox))} is not four numbers")
    x, y, w, h = (float(v) for v in bbox)
    chosen_path = _where(project, image, by_hash)
    block = ann.get("curalog") if isinstance(ann.get("curalog"), dict) else {}
    paths, idx = block.get("candidate_paths"), block.get("chosen_index")
    if not (isinstance(paths, list) and isinstance(idx, int) and 0 <= idx < len(paths)):
        paths, idx = [chosen_path], 0
    else:
        digests = block.get("candidates") if isinstance(block.get("candidates"), list) else []
        digests = digests + [None] * (len(paths) - len(digests))
        named = [p if isinstance(p, str) else "" for p in paths]
        paths = [
            chosen_path if i == idx else matched(project, p, digests[i], by_hash) for i, p in enumerate(named)
        ]
    directory = (
        block.get("directory") if isinstance(block.get("directory"), str) else chosen_path.rpartition("/")[0]
    )
    set_id = block.get("set_id") if isinstance(block.get("set_id"), str) else f"coco:{Path(chosen_path).stem}"
    sizes: list[tuple[int, int] | None] = [None] * len(paths)
    wh = (image.get("width"), image.get("height"))
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in wh):
        sizes[idx] = wh  # type: ignore[assignment]
    return set_id, directory, paths, idx, (x, y, x + w, y + h), sizes


def import_coco(project: Project, file: str | os.PathLike[str], *, dry_run: bool = False,
                progress: Progress | None = None) -> Intake:  # fmt: skip
    """Every annotation of a COCO file becomes a crop decision through the ledger's checks, or is
    refused (kept in the quarantine with its finding codes; ``result.refused`` names each). An
    annotation is identified by its content with its image's (``intake``): importing again is a no-op."""
    path = Path(file).expanduser()
    doc = _load(path)
    images, twice = _images(doc)
    by_hash = hashes_to_paths(project)
    importer = Importer(project, path, dry_run=dry_run, tool="COCO", tolerance=0.5,
                        total=len(doc["annotations"]), progress=progress)  # fmt: skip
    with importer.run() as run:
        for n, ann in enumerate(doc["annotations"], start=1):
            ann = ann if isinstance(ann, dict) else {}

            def propose(ann: dict[str, Any] = ann):
                set_id, directory, paths, idx, box, sizes = _proposal(project, ann, images, twice, by_hash)
                admitted = project.ledger.admission.admit(
                    "crop", set_id, directory, paths, idx, crop_coords=box, image_sizes=sizes
                )
                block = ann.get("curalog") if isinstance(ann.get("curalog"), dict) else {}
                if isinstance(block.get("set_id"), str):
                    return settled(admitted, folder=not isinstance(block.get("directory"), str))
                return replace(settled(admitted), set_id=f"coco:{PurePosixPath(admitted.chosen.path).stem}")

            # identified with its image: the same annotation on another file's image is another item
            image = images.get(ann.get("image_id")) if _key(ann.get("image_id")) else None
            run.take(number_of(ann, n), {"annotation": ann, "image": image}, "crop", propose)
    return run.result

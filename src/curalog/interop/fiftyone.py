"""Crop decisions as a FiftyOne image-detection dataset (``curalog export fiftyone DIR``).

The layout is FiftyOne's ``FiftyOneImageDetectionDataset`` with a media manifest, so
``fo.Dataset.from_dir(DIR, dataset_type=fo.types.FiftyOneImageDetectionDataset)`` loads it
without copying an image: ``data.json`` maps each sample's uuid (the chosen image's sha256) to
its file (absolute, or relative to DIR with ``relative``), and ``labels.json`` holds
``{"classes": ["crop"], "labels": {uuid: [detection, ...]}}``, one detection per live crop
decision, ``bounding_box`` ``[x, y, w, h]`` relative to the EXIF-oriented image (0..1, full float
precision). What FiftyOne cannot carry rides in each detection's attributes (``curalog_*``:
decision, set, folder, chosen index, every candidate's sha256). curalog does not import
``fiftyone`` (it needs a MongoDB server). Selections have no box: counted, not exported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from curalog.files import target_of
from curalog.interop.items import Exported, Item, export_folder, info, items_of
from curalog.project import Project

CLASSES = ["crop"]


def detection(item: Item) -> dict[str, Any]:
    c, (x, y, x2, y2) = item.chosen, item.box  # type: ignore[misc]
    attributes = {f"curalog_{k}": v for k, v in item.block().items() if k != "candidate_paths"}
    return {"label": CLASSES[0], "bounding_box": [x / c.width, y / c.height, (x2 - x) / c.width,
                                                  (y2 - y) / c.height], "attributes": attributes}  # fmt: skip


def fiftyone_files(
    items: list[Item], result: Exported, root: Path, folder: Path | None = None
) -> dict[str, str]:
    """``labels.json`` and ``data.json`` for ``items``; media paths absolute, or relative to
    ``folder`` when given. ``result`` counts what was written and left out."""
    labels: dict[str, list[dict[str, Any]]] = {}
    media: dict[str, str] = {}
    for d in items:
        result.decisions += 1
        if d.kind != "crop" or d.box is None:
            result.left_out.append((d.ref, "a selection has no box"))
            continue
        if d.box[2] <= d.box[0] or d.box[3] <= d.box[1]:
            result.left_out.append((d.ref, "the box has no area"))
            continue
        uuid = d.chosen.hash
        labels.setdefault(uuid, []).append(detection(d))
        path = root / d.chosen.path
        media[uuid] = os.path.relpath(path, folder) if folder is not None else str(path)
        result.written += 1
    result.images = len(labels)
    document = {"classes": CLASSES, "labels": labels, "curalog": info()}
    return {"labels.json": json.dumps(document, indent=1, ensure_ascii=False) + "\n",
            "data.json": json.dumps(media, indent=1, ensure_ascii=False) + "\n"}  # fmt: skip


def export_fiftyone(project: Project, folder: str | os.PathLike[str], *, relative: bool = False,
                    force: bool = False) -> Exported:  # fmt: skip
    """Write the live crop decisions as a FiftyOne image-detection dataset (see the module)."""
    target = Path(folder).expanduser()
    result = Exported(target, "fiftyone")
    where = target_of(target) if relative else None
    files = fiftyone_files(items_of(project.ledger.decisions()), result, project.root.resolve(), where)
    result.check()
    export_folder(project, target, files, result, force=force)
    return result

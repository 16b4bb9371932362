"""Decisions in and out of Label Studio (``curalog export labelstudio DIR``, ``import labelstudio``).

Export: ``config.xml``, a labeling config for "pick the best of N variants and crop it" (N
``<Image>`` tags ``image0..``, one ``<Rectangle>`` ``box<i>`` per image, a single ``<Choices>``
``chosen`` whose values name the images), and ``tasks.json``, one task per live decision with
the decision as its annotation. Rectangles are in percent of the **EXIF-oriented** original
(``original_width/height`` are the sizes the ledger measured with EXIF orientation applied),
``image_rotation`` and ``rotation`` 0, written at full float precision. Each task's
``data.curalog`` block holds the decision id, set, folder, chosen index and every candidate's
sha256, so nothing depends on a path. Image URLs are ``--url-prefix`` (default Label Studio's
local-files URL) + the project path, URL-quoted. A set with fewer images than N leaves the
others' data empty.

Import: every annotation of a task export becomes a decision through the ledger's checks, a
quarantine row with its finding codes, or a skip with its reason (cancelled; no choice made).
Images are matched by the curalog block's sha256, then by the path after stripping Label
Studio's prefixes (``/data/upload/<n>/<hash>-``, ``/data/local-files/?d=``, a host, a bucket),
then by unique file name. Refused (kept in the quarantine): a rotated box, ``x + width > 100``,
negative or zero sizes, ``original_*`` that disagree with the file, more than one box, a box on
an image that was not chosen. Boxes come back in pixels rounded to 1e-6: a ledger box survives
the round trip to that precision.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from curalog.errors import ConfigError
from curalog.interop.intake import (
    Importer,
    Intake,
    Refused,
    Skipped,
    hashes_to_paths,
    json_number,
    load_json,
    local_path,
    matched,
    number_of,
    settled,
)  # fmt: skip
from curalog.interop.items import Exported, Item, export_folder, items_of
from curalog.ledger.admission import Admitted
from curalog.progress import Progress
from curalog.project import Project

LOCAL_FILES = "/data/local-files/?d="
RECTANGLES = ("rectangle", "rectanglelabels")
EDGE = 1e-6  # percent: what float noise may put past an edge


# -- export ----------------------------------------------------------------------------------------
def labeling_config(n: int) -> str:
    images = "\n".join(
        f'  <Image name="image{i}" value="$image{i}"/>\n  <Rectangle name="box{i}" toName="image{i}"/>'
        for i in range(n)
    )
    choices = "\n".join(f'    <Choice value="image{i}"/>' for i in range(n))
    return (
        f"<!-- curalog: pick the best of {n} variants and crop it -->\n<View>\n"
        '  <Header value="Pick the best variant, then draw its crop on it"/>\n'
        '  <Choices name="chosen" toName="image0" choice="single" required="true" showInline="true">\n'
        f"{choices}\n  </Choices>\n{images}\n</View>\n"
    )


def percent(box: tuple[float, float, float, float], width: int, height: int) -> dict[str, float]:
    x, y, x2, y2 = box
    return {"x": x / width * 100, "y": y / height * 100, "width": (x2 - x) / width * 100,
            "height": (y2 - y) / height * 100, "rotation": 0}  # fmt: skip


def task_of(item: Item, number: int, n: int, prefix: str) -> dict[str, Any]:
    idx = item.chosen_index
    data: dict[str, Any] = {f"image{i}": "" for i in range(n)}
    for i, c in enumerate(item.candidates):
        data[f"image{i}"] = prefix + quote(c.path, safe="/")
    data["curalog"] = item.block()
    result: list[dict[str, Any]] = [{
        "id": f"chosen{number}", "type": "choices", "from_name": "chosen", "to_name": "image0",
        "origin": "manual", "value": {"choices": [f"image{idx}"]},
    }]  # fmt: skip
    if item.kind == "crop" and item.box is not None:
        c = item.chosen
        result.append({
            "id": f"box{number}", "type": "rectangle", "from_name": f"box{idx}", "to_name": f"image{idx}",
            "original_width": c.width, "original_height": c.height, "image_rotation": 0,
            "origin": "manual", "value": percent(item.box, c.width, c.height),
        })  # fmt: skip
    annotation = {"id": number, "result": result, "was_cancelled": False, "ground_truth": False,
                  "created_at": item.created_at, "lead_time": 0, "task": number}  # fmt: skip
    return {"id": number, "data": data, "annotations": [annotation], "predictions": []}


def labelstudio_files(items: list[Item], result: Exported, prefix: str = LOCAL_FILES) -> dict[str, str]:
    """``config.xml`` and ``tasks.json`` for ``items`` (every one is carried: a selection is a
    choice without a box); ``result`` counts them."""
    n = max((len(d.candidates) for d in items), default=1)
    tasks = [task_of(d, k, n, prefix) for k, d in enumerate(items, start=1)]
    result.decisions = result.written = len(items)
    result.images = len({c.hash for d in items for c in d.candidates})
    return {
        "config.xml": labeling_config(n),
        "tasks.json": json.dumps(tasks, indent=1, ensure_ascii=False) + "\n",
    }


def export_labelstudio(project: Project, folder: str | os.PathLike[str], *, url_prefix: str = LOCAL_FILES,
                       force: bool = False) -> Exported:  # fmt: skip
    """Write the live decisions as a Label Studio labeling config and task export (see the module)."""
    result = Exported(Path(folder).expanduser(), "labelstudio")
    files = labelstudio_files(items_of(project.ledger.decisions()), result, url_prefix)
    result.check()
    export_folder(project, folder, files, result, force=force)
    return result


# -- import ----------------------------------------------------------------------------------------
def _number(v: object) -> bool:
    return json_number(v) and math.isfinite(v)  # type: ignore[arg-type]


class Task:
    """One Label Studio task: its image keys in order, each with the project path it names."""

    def __init__(self, project: Project, task: dict[str, Any], n: int, by_hash: dict[str, list[str]]) -> None:
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        self.block = data.get("curalog") if isinstance(data.get("curalog"), dict) else {}
        self.keys = [k for k, v in data.items() if k != "curalog" and isinstance(v, str) and _image_like(v)]
        self.keys.sort(key=_key_order)
        digests = self.block.get("candidates") if isinstance(self.block.get("candidates"), list) else []
        self.paths = []
        for i, key in enumerate(self.keys):
            digest = digests[i] if i < len(digests) else None
            self.paths.append(matched(project, local_path(data[key]), digest, by_hash))
        own = task.get("id") if isinstance(task.get("id"), int) else n
        self.set_id = (
            self.block.get("set_id") if isinstance(self.block.get("set_id"), str) else f"labelstudio:{own}"
        )


def _image_like(value: str) -> bool:
    path = urlsplit(value).path.lower() if "://" in value else value.lower()
    return value.startswith(("/data/", "http", "s3://", "gs://", "azure-blob://")) or path.endswith(
        (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic")
    )


def _key_order(key: str) -> tuple[str, int]:
    m = re.match(r"^(.*?)(\d+)$", key)
    return (m.group(1), int(m.group(2))) if m else (key, -1)


def _listed(value: object) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _choice(task: Task, results: list[dict[str, Any]], boxes: list[dict[str, Any]]) -> int:
    chosen = [v for r in results if r.get("type") == "choices" and isinstance(r.get("value"), dict)
              for v in _listed(r["value"].get("choices"))]  # fmt: skip
    if len(chosen) > 1:
        raise Refused(
            "row.malformed", f"{len(chosen)} choices ({', '.join(map(str, chosen))}); one image is chosen"
        )
    if chosen:
        if chosen[0] not in task.keys:
            raise Refused("row.malformed", f"the choice {chosen[0]!r} names no image of the task")
        return task.keys.index(chosen[0])
    targets = {t for b in boxes if isinstance(t := b.get("to_name"), str)}
    if len(boxes) == 1 and len(targets & set(task.keys)) == 1:
        return task.keys.index(boxes[0]["to_name"])
    if len(task.keys) == 1 and boxes:
        return 0
    raise Skipped("no choice made")


def _box(
    task: Task, idx: int, boxes: list[dict[str, Any]]
) -> tuple[tuple[float, ...], tuple[int, int] | None]:
    """The percent box of the one rectangle on the chosen image, checked; and its original size."""
    if len(boxes) > 1:
        raise Refused("row.malformed", f"{len(boxes)} boxes; a crop decision has one")
    [r] = boxes
    if r.get("to_name") not in (task.keys[idx], None) and len(task.keys) > 1:
        raise Refused(
            "row.malformed", f"the box is drawn on {r.get('to_name')!r}, not on the chosen {task.keys[idx]!r}"
        )
    v = r.get("value") if isinstance(r.get("value"), dict) else {}
    turned = [t for t in (v.get("rotation"), r.get("image_rotation")) if t not in (None, 0, 0.0)]
    if turned:
        raise Refused(
            "crop.invalid_box", f"the box is rotated ({turned[0]} degrees); curalog keeps axis-aligned crops"
        )
    x, y, w, h = (v.get(k) for k in ("x", "y", "width", "height"))
    if not all(_number(t) for t in (x, y, w, h)):
        raise Refused("crop.invalid_box", f"x/y/width/height {[x, y, w, h]!r} are not four numbers")
    if w <= 0 or h <= 0:
        raise Refused("crop.invalid_box", f"width {w}% and height {h}% must be positive")
    if x < -EDGE or y < -EDGE or x + w > 100 + EDGE or y + h > 100 + EDGE:
        raise Refused(
            "crop.out_of_bounds", f"x {x} + width {w} and y {y} + height {h} must stay within 0..100%"
        )
    ow, oh = r.get("original_width"), r.get("original_height")
    if ow is None and oh is None:
        return (x, y, w, h), None
    if not all(isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in (ow, oh)):
        raise Refused(
            "crop.invalid_box", f"original_width/height {ow!r}x{oh!r} are not positive whole numbers"
        )
    return (x, y, w, h), (ow, oh)


def _results(ann: dict[str, Any]) -> list[dict[str, Any]]:
    raw = ann.get("result")
    return [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []


def _boxes(ann: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _results(ann) if r.get("type") in RECTANGLES]


def _propose(project: Project, task: Task, ann: dict[str, Any]) -> Admitted:
    if ann.get("was_cancelled") is True:
        raise Skipped("cancelled in Label Studio")
    results, boxes = _results(ann), _boxes(ann)
    if not task.keys:
        raise Refused("row.malformed", "the task names no image")
    idx = _choice(task, results, boxes)
    block = task.block
    directory = (
        block.get("directory")
        if isinstance(block.get("directory"), str)
        else task.paths[idx].rpartition("/")[0]
    )
    given = isinstance(block.get("directory"), str)
    if not boxes:
        return settled(project.ledger.admission.admit("selection", task.set_id, directory, task.paths, idx),
                       folder=not given)  # fmt: skip
    return settled(_crop(project, task, idx, directory, boxes), folder=not given)


def _crop(project: Project, task: Task, idx: int, directory: str, boxes: list[dict[str, Any]]) -> Admitted:
    admit = project.ledger.admission.admit
    (x, y, w, h), size = _box(task, idx, boxes)
    sizes: list[tuple[int, int] | None] = [None] * len(task.paths)
    if size is None:  # the file's own size places the percent box
        seen = admit("selection", task.set_id, directory, task.paths, idx).chosen
        size = (seen.width, seen.height)
    sizes[idx] = size
    W, H = size
    box = tuple(round(v, 6) for v in (x * W / 100, y * H / 100, (x + w) * W / 100, (y + h) * H / 100))
    return admit("crop", task.set_id, directory, task.paths, idx, crop_coords=box, image_sizes=sizes)


def _annotations(task: object) -> list:
    """A task's annotations (``completions`` in older exports)."""
    found = task.get("annotations", task.get("completions")) if isinstance(task, dict) else None
    return found if isinstance(found, list) else []


def _tasks(path: Path) -> list[Any]:
    doc = load_json(path, "Label Studio")
    if isinstance(doc, dict) and "data" in doc:
        return [doc]
    if not isinstance(doc, list):
        raise ConfigError(f"{path} is not a Label Studio task export: a list of tasks was expected")
    return doc


def import_labelstudio(project: Project, file: str | os.PathLike[str], *, dry_run: bool = False,
                       progress: Progress | None = None) -> Intake:  # fmt: skip
    """Every annotation of a Label Studio JSON task export becomes a decision through the ledger's
    checks, is refused into the quarantine with its codes, or is skipped with its reason."""
    path = Path(file).expanduser()
    tasks = _tasks(path)
    by_hash = hashes_to_paths(project)
    n = 0
    annotations = [_annotations(raw) for raw in tasks]
    importer = Importer(project, path, dry_run=dry_run, tool="Label Studio", tolerance=1e-6,
                        total=sum(map(len, annotations)), progress=progress)  # fmt: skip
    with importer.run() as run:
        for t, (raw, anns) in enumerate(zip(tasks, annotations, strict=True), start=1):
            task = raw if isinstance(raw, dict) else {}
            seen = Task(project, task, t, by_hash) if anns else None
            for ann in anns:
                n += 1
                ann = ann if isinstance(ann, dict) else {}
                kind = "crop" if _boxes(ann) else "selection"
                item = {"data": task.get("data"), "annotation": ann}
                run.take(number_of(ann, n), item, kind, lambda a=ann, s=seen: _propose(project, s, a))
    return run.result

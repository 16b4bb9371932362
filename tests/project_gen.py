"""Small random legacy projects with every path convention of docs/legacy-formats.md and the seed,
mixed with every defect, for property tests against the reference validator.

``generate(root, rng)`` writes images, both CSV logs, the JSONL index and the vector files under
``root``. Everything is drawn from ``rng`` (a ``random.Random``; hypothesis's ``st.randoms()``
shrinks it). Conventions planted, in index lines and log rows alike:

- root-relative, absolute from two different machines, absolute under this machine's root,
  Windows separators, directory-relative (bare name with the row's ``directory``);
- the seed's own drift: project folder + file name without the subfolder (``mojo2/x.png`` for
  ``mojo2/selected/x.png``), absolute or not; bare file names in the index;
- the same file name in ``selected/`` and ``crop/`` (the cropped output), and across projects;
- moved images (the index names an old folder; the same bytes live at a new path);
- index lines whose image is gone, whose vector is gone, corrupt, all zeros, of the wrong
  length; several lines for one image; orphan vectors; malformed lines in every file;
- crop defects: 0x0 sizes, placeholder boxes, inverted and out-of-bounds boxes, size mismatch
  (EXIF-rotated JPEGs too), normalized boxes; repeated rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SEL = "data/training/selection_only_log.csv"
CROP = "data/training/select_crop_log.csv"
INDEX = "data/ai_data/cache/processed_images.jsonl"
EMB = "data/ai_data/cache/embeddings"
DIM = 8
MACHINE_A = "/Users/someone/projects/curation"
MACHINE_B = "/home/other/work/curation"
SEL_HEADER = ["timestamp", "session_id", "set_id", "directory", "chosen_path", "negative_paths"]
CROP_HEADER = [
    "timestamp", "session_id", "set_id", "directory", "image_count", "chosen_index", "chosen_path",
    "crop_x1", "crop_y1", "crop_x2", "crop_y2",
    *(c for i in range(4) for c in (f"image_{i}_path", f"image_{i}_stage", f"width_{i}", f"height_{i}")),
]  # fmt: skip

INDEX_STYLES = ["exact", "machine_a", "machine_b", "no_subfolder", "machine_a_no_subfolder", "bare",
                "windows", "here", "moved"]  # fmt: skip
ROW_STYLES = ["exact", "machine_a", "machine_b", "directory", "directory_abs", "no_subfolder",
              "windows", "here", "ghost"]  # fmt: skip
VECTOR_STATES = ["sound"] * 6 + ["missing", "nan", "zeros", "wrong_length", "truncated", "none"]


@dataclass
class Img:
    rel: str  # where the file is (or was, for a deleted image)
    digest: str
    size: tuple[int, int]  # as seen (EXIF applied)
    deleted: bool = False


@dataclass
class Generated:
    images: list[Img] = field(default_factory=list)
    selections: int = 0
    crops: int = 0
    conventions: set[str] = field(default_factory=set)


def _written(rel: str, style: str, root: Path) -> str:
    project, *_middle, name = rel.split("/")
    if style == "exact":
        return rel
    if style == "machine_a":
        return f"{MACHINE_A}/{rel}"
    if style == "machine_b":
        return f"{MACHINE_B}/{rel}"
    if style == "no_subfolder":
        return f"{project}/{name}"
    if style == "machine_a_no_subfolder":
        return f"{MACHINE_A}/{project}/{name}"
    if style == "bare":
        return name
    if style == "windows":
        return "C:\\Users\\someone\\curation\\" + rel.replace("/", "\\")
    if style == "here":
        return f"{root.resolve()}/{rel}"
    if style == "moved":
        return f"{project}/old_layout/{name}"
    raise ValueError(style)


def _csv_line(fields: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def generate(
    root: Path, rng: random.Random, *, max_images: int = 10, max_rows: int = 12, flat: bool = True
) -> Generated:
    """``flat`` puts some images straight in a project folder (``mojo2/b.png``), so an index line
    written without the subfolder (``mojo2/b.png`` for ``mojo2/selected/b.png``) can name an
    existing, different file: the rule takes it at its word (``--deep`` reports it stale)."""
    out = Generated()
    emb = root / EMB
    emb.mkdir(parents=True)
    (root / "data/training").mkdir(parents=True)
    names = ["a.png", "b.png", "c.jpg", "img_0049_stage0.png", "x.png"]
    folders = ["mojo1/selected", "mojo1/crop", "mojo2/selected", "mojo2/crop", "mojo1/selected/deep"]
    folders += ["mojo2", "mojo1", "mojo2"] if flat else []
    taken: set[str] = set()
    colour = 0
    for _ in range(rng.randint(1, max_images)):
        rel = f"{rng.choice(folders)}/{rng.choice(names)}"
        if rel in taken:
            continue
        taken.add(rel)
        colour += 1
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.choice([(16, 12), (12, 16), (20, 20)])
        im = Image.new("RGB", size, (colour * 37 % 256, colour * 11 % 256, 7))
        if rel.endswith(".jpg") and rng.random() < 0.5:
            exif = Image.Exif()
            exif[0x0112] = 6
            im.save(path, exif=exif.tobytes())
            size = (size[1], size[0])  # seen rotated
        else:
            im.save(path)
        out.images.append(Img(rel, hashlib.sha256(path.read_bytes()).hexdigest(), size))

    # identical copies: the same bytes under the same name in another folder (a backup, say)
    for img in list(out.images):
        if rng.random() < 0.1:
            folder = rng.choice(folders)
            rel = f"{folder}/{img.rel.rsplit('/', 1)[1]}"
            if rel not in taken:
                taken.add(rel)
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes((root / img.rel).read_bytes())
                out.images.append(Img(rel, img.digest, img.size))

    # the index and the vectors
    lines: list[str] = []
    for img in out.images:
        for _copy in range(rng.choice([1, 1, 1, 2])):
            state = rng.choice(VECTOR_STATES)
            if state == "none":
                continue
            style = rng.choice(INDEX_STYLES)
            out.conventions.add(f"index:{style}")
            written = _written(img.rel, style, root)
            dim = DIM
            lines.append(json.dumps({"image_path": written, "hash": img.digest, "embedding_dim": dim,
                                     "model": "openai/clip-vit-base-patch32"}))  # fmt: skip
            vec = np.arange(1, DIM + 1, dtype=np.float32) + len(lines)
            target = emb / f"{img.digest}.npy"
            if state == "missing":
                continue
            if state == "nan":
                vec[0] = np.nan
            elif state == "zeros":
                vec[:] = 0
            elif state == "wrong_length":
                vec = np.ones(DIM + 3, dtype=np.float32)
            np.save(target, vec)
            if state == "truncated":
                target.write_bytes(target.read_bytes()[:-5])
    for img in out.images:
        if rng.random() < 0.12:
            (root / img.rel).unlink()
            img.deleted = True
    for k in range(rng.choice([0, 0, 1, 2])):
        np.save(emb / f"{hashlib.sha256(f'orphan{k}'.encode()).hexdigest()}.npy", np.ones(DIM, np.float32))
    if rng.random() < 0.2:
        lines.insert(rng.randint(0, len(lines)), "{broken json")
    if rng.random() < 0.1:
        lines.append(json.dumps({"image_path": "mojo1/a.png", "hash": "XYZ"}))
    (root / INDEX).write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def pick() -> Img | None:
        return rng.choice(out.images) if out.images else None

    def row_path(img: Img | None) -> tuple[str, str]:
        """(chosen_path, directory) written in a random convention."""
        style = rng.choice(ROW_STYLES) if img is not None else "ghost"
        out.conventions.add(f"row:{style}")
        if style == "ghost" or img is None:
            return "mojo1/selected/ghost_never_there.png", "mojo1/selected"
        folder, name = img.rel.rsplit("/", 1)
        if style == "directory":
            return name, folder
        if style == "directory_abs":
            return name, f"{MACHINE_B}/{folder}"
        return _written(img.rel, style, root), rng.choice([folder, "", f"{MACHINE_A}/{folder}"])

    # selections
    sel: list[str] = [",".join(SEL_HEADER)]
    for i in range(rng.randint(0, max_rows)):
        if rng.random() < 0.08:
            sel.append(f"2025-10-02T14:03:11,s{i},broken")
            continue
        if sel[1:] and rng.random() < 0.12:
            sel.append(rng.choice(sel[1:]))  # a repeated line
            continue
        chosen, directory = row_path(pick())
        negatives = [row_path(pick())[0] for _ in range(rng.randint(0, 2))]
        negative_text = json.dumps(negatives) if rng.random() > 0.05 else "[not json"
        session = rng.choice(["20251002_140233", "20251003_090000"])
        sel.append(_csv_line(["2025-10-02T14:03:11", session, f"set_{rng.randint(0, 3)}", directory,
                              chosen, negative_text]))  # fmt: skip
    out.selections = len(sel) - 1
    (root / SEL).write_text("".join(line + "\n" for line in sel), encoding="utf-8")

    # crops
    crop: list[str] = [",".join(CROP_HEADER)]
    for i in range(rng.randint(0, max_rows)):
        if rng.random() < 0.06:
            crop.append(
                f"2025-10-02T14:03:11,s{i},c,mojo1,1,0,mojo1/a.png,abc,1,2,3,mojo1/a.png,s,10,10" + "," * 12
            )
            continue
        if crop[1:] and rng.random() < 0.1:
            crop.append(rng.choice(crop[1:]))
            continue
        count = rng.randint(1, 4)
        shown = [pick() for _ in range(count)]
        chosen_index = rng.randrange(count)
        img = shown[chosen_index]
        chosen, directory = row_path(img)
        w, h = img.size if img is not None else (20, 20)
        size_defect = rng.choice(["ok"] * 6 + ["zero", "mismatch"])
        lw, lh = {"ok": (w, h), "zero": (0, 0), "mismatch": (w + 5, h)}[size_defect]
        box_kind = rng.choice(
            ["pixels"] * 4 + ["normalized", "placeholder", "full", "inverted", "outside", "nan"]
        )
        box: tuple[float, float, float, float] = {
            "pixels": (1, 1, max(2, w - 2), max(2, h - 3)),
            "normalized": (0.1, 0.2, 0.5, 0.75),
            "placeholder": (0.0, 0.0, 1.0, 1.0),
            "full": (0, 0, w, h),
            "inverted": (8, 2, 3, 6),
            "outside": (1, 1, w + 40, h),
            "nan": (float("nan"), 1, 3, 4),
        }[box_kind]
        cells: list[str] = []
        for j in range(4):
            if j < count:
                other = shown[j]
                path = chosen if j == chosen_index else row_path(other)[0]
                size = (lw, lh) if j == chosen_index else (other.size if other else (20, 20))
                cells += [path, f"stage{j + 1}", _num(size[0]), _num(size[1])]
            else:
                cells += ["", "", "", ""]
        session = rng.choice(["20251002_140233", "20251003_090000"])
        crop.append(_csv_line(["2025-10-02T15:00:00", session, f"crop_{rng.randint(0, 3)}", directory, count,
                               chosen_index, chosen, *map(_num, box), *cells]))  # fmt: skip
    out.crops = len(crop) - 1
    (root / CROP).write_text("".join(line + "\n" for line in crop), encoding="utf-8")
    return out

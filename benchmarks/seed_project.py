"""A seed-scale synthetic legacy project (docs/legacy-formats.md) with known planted defects.

~21k selections, ~7k crops, ~77k index lines and vector files, ~77k images, and a known number
of each defect, so a validator run can be checked against exactly what was planted.

Every path convention of docs/legacy-formats.md and the seed is planted, in the index and the logs:
root-relative, absolute from two different machines, Windows separators, directory-relative
bare names, and the seed's own drift: the index writes ``mojo2/img.png`` (project + file name,
without the subfolder) for an image at ``mojo2/selected/img.png``, absolute or not; bare file
names; moved images (the index names an old folder). Some selected images have a cropped output
of the same name in ``crop/`` (different bytes), some names are shared across projects: index
lines for those are settled by content hash. Images deleted since they were indexed give
``image.missing``. Defects are drawn independently of the conventions, so each meets each.

    .venv/bin/python benchmarks/seed_project.py DIR [--scale 1.0]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

SEL = "data/training/selection_only_log.csv"
CROP = "data/training/select_crop_log.csv"
INDEX = "data/ai_data/cache/processed_images.jsonl"
EMB = "data/ai_data/cache/embeddings"
DIM = 512
PREFIX = "/Users/someone/projects/curation"
PREFIX_B = "/home/other/work/curation"
WINDOWS = "C:\\Users\\someone\\curation"
CROP_HEADER = (
    "timestamp,session_id,set_id,directory,image_count,chosen_index,chosen_path,"
    "crop_x1,crop_y1,crop_x2,crop_y2,"
    + ",".join(f"image_{i}_path,image_{i}_stage,width_{i},height_{i}" for i in range(4))
)
SEL_HEADER = "timestamp,session_id,set_id,directory,chosen_path,negative_paths"


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _csv(fields: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def generate(root: Path, scale: float = 1.0, seed: int = 0, defects: float = 1.0) -> Counter:
    """Write the project; returns the planted findings as a Counter of codes. ``defects``
    multiplies every planted defect (8: a findings-heavy project, ~7k findings at scale 1)."""
    rng = random.Random(seed)
    k_ = scale * defects  # how many of each defect
    n_images = int(77_000 * scale)
    n_sel = int(21_250 * scale)
    n_crop = int(7_189 * scale)
    emb = root / EMB
    emb.mkdir(parents=True)
    (root / "data/training").mkdir(parents=True)
    planted: Counter = Counter()
    # Images: unique bytes per file (a counter in a PNG text chunk) so hashes are distinct.
    template = _png((1024, 768), (120, 130, 140))
    images: list[str] = []
    hashes: dict[str, str] = {}
    serial = 0

    def write_image(rel: str, keep: bool = True) -> None:
        nonlocal serial
        serial += 1
        data = template[:-12] + serial.to_bytes(4, "big") + template[-12:]  # before IEND: still decodes
        if keep:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        hashes[rel] = hashlib.sha256(data).hexdigest()

    for i in range(n_images):
        project = ("mojo1", "mojo2", "mojo3")[i % 3]
        rel = f"{project}/{'crop' if i % 4 == 0 else 'selected'}/img_{i:06d}_stage{i % 3 + 1}.png"
        write_image(rel)
        images.append(rel)
    # the cropped output of some selected images, under the same file name in crop/
    twins = [rel for rel in images if "/selected/" in rel][::40][: int(1000 * scale)]
    for rel in twins:
        twin = rel.replace("/selected/", "/crop/")
        write_image(twin)
        images.append(twin)
    # names shared across two projects: mojo3/shared/xN.png and mojo1/shared/xN.png
    for k in range(int(200 * scale)):
        for project in ("mojo1", "mojo3"):
            rel = f"{project}/shared/x{k:05d}.png"
            write_image(rel)
            images.append(rel)
    # images deleted since they were indexed (their vector is still there)
    deleted = [f"mojo{1 + k % 3}/selected/deleted_{k:05d}.png" for k in range(int(60 * k_))]
    for rel in deleted:
        write_image(rel, keep=False)
    contested = (
        {rel for rel in images if "/shared/" in rel}
        | set(twins)
        | {t.replace("/selected/", "/crop/") for t in twins}
    )

    def index_as(rel: str) -> str:
        """How an index line writes an image's path: every convention, the seed's drift often."""
        project, _folder, name = rel.split("/", 2)
        style = rng.random()
        if style < 0.30:
            return rel
        if style < 0.55:
            return f"{PREFIX}/{rel}"
        if style < 0.62:
            return f"{PREFIX_B}/{rel}"
        if style < 0.70:
            return WINDOWS + "\\" + rel.replace("/", "\\")
        if style < 0.85:
            return f"{project}/{name}"  # the seed: project + file name, no subfolder
        if style < 0.90:
            return f"{PREFIX}/{project}/{name}"
        if style < 0.95:
            return name if rel not in contested else f"{project}/{name}"  # bare file name
        return f"{project}/old_layout/{name}"  # moved since: the same bytes live at rel now

    # Index lines and vectors: every image; paths in mixed conventions.
    vec = np.linspace(0.1, 1.0, DIM, dtype=np.float32)
    npy = io.BytesIO()
    np.save(npy, vec)
    npy_bytes = npy.getvalue()
    missing_vec = set(rng.sample(images, int(300 * k_)))
    corrupt_vec = set(rng.sample(sorted(set(images) - missing_vec), int(20 * k_)))
    lines = []
    for rel in [*images, *deleted]:
        shown = rel if rel in deleted else index_as(rel)
        entry = {"image_path": shown, "hash": hashes[rel], "embedding_dim": DIM,
                 "model": "openai/clip-vit-base-patch32", "timestamp": "2025-10-02T14:05:00"}  # fmt: skip
        lines.append(json.dumps(entry))
        if rel in missing_vec:
            planted["embedding.file_missing"] += 1
            continue
        data = npy_bytes if rel not in corrupt_vec else npy_bytes[: -DIM * 2]  # truncated
        (emb / f"{hashes[rel]}.npy").write_bytes(data)
    planted["embedding.corrupt"] += len(corrupt_vec)
    for k in range(int(50 * k_)):
        (emb / f"{hashlib.sha256(f'orphan{k}'.encode()).hexdigest()}.npy").write_bytes(npy_bytes)
        planted["embedding.orphan_file"] += 1
    bad_index = int(10 * k_)
    lines += ["{broken json"] * bad_index
    planted["row.malformed"] += bad_index
    (root / INDEX).write_text("\n".join(lines) + "\n")

    usable_pool = [p for p in images if p not in missing_vec and p not in corrupt_vec]

    def path_as(rel: str) -> tuple[str, str]:
        """How a log row writes its chosen path (and its directory column)."""
        project, _sub, name = rel.split("/", 2)
        folder = rel.rsplit("/", 1)[0]
        style = rng.random()
        if style < 0.30:
            return rel, folder
        if style < 0.55:
            return f"{PREFIX}/{rel}", f"{PREFIX}/{folder}"
        if style < 0.65:
            return f"{PREFIX_B}/{rel}", ""
        if style < 0.72:
            return WINDOWS + "\\" + rel.replace("/", "\\"), folder
        if style < 0.80 and rel not in contested:
            return f"{PREFIX}/{project}/{name}", project  # the seed's drift in the log too
        return name, folder if rng.random() < 0.5 else f"{PREFIX_B}/{folder}"

    # Selections
    out = [SEL_HEADER]
    no_emb = rng.sample(sorted(missing_vec | corrupt_vec), min(len(missing_vec | corrupt_vec), int(150 * k_)))
    for i in range(n_sel):
        if i < len(no_emb):
            chosen = no_emb[i]
            planted["decision.no_embedding"] += 1
        else:
            chosen = rng.choice(usable_pool)
        shown, folder = path_as(chosen)
        out.append(_csv([f"2025-10-{1 + i % 28:02d}T14:03:11", f"2025100{i % 9}_1402", f"set_{i:06d}",
                         folder, shown, json.dumps([rng.choice(images)])]))  # fmt: skip
    for _ in range(int(20 * k_)):
        out.append(out[rng.randrange(len(no_emb) + 1, len(out))])  # exact duplicates of clean lines
        planted["row.duplicate"] += 1
    for k in range(int(25 * k_)):  # a shared file name written where neither image is
        twin = twins[k % len(twins)]
        out.append(_csv(["2025-10-03T10:00:00", "x", f"amb_{k}", "elsewhere", twin.rsplit("/", 1)[1], "[]"]))
        planted["path.ambiguous"] += 1
    for k, rel in enumerate(deleted):  # chosen images deleted since: the vector is still sound
        shown, folder = path_as(rel)
        out.append(_csv(["2025-10-03T11:00:00", "y", f"del_{k}", folder, shown, "[]"]))
        planted["image.missing"] += 1
    for k in range(int(30 * k_)):
        out.append(_csv(["2025-10-03T10:00:00", "x", f"ghost_{k}", "mojo1/selected",
                         f"mojo1/selected/ghost_{k}.png", "[]"]))  # fmt: skip
        planted["path.unresolved"] += 1
    for _ in range(int(15 * k_)):
        out.append("2025-10-03T10:00:00,x,broken")
        planted["row.malformed"] += 1
    (root / SEL).write_text("\n".join(out) + "\n")

    # Crops
    out = [CROP_HEADER]
    plan = {
        "crop.zero_dimensions": 120,
        "crop.placeholder": 90,
        "crop.invalid_box": 30,
        "crop.out_of_bounds": 30,
    }
    defects = [code for code, n in plan.items() for _ in range(int(n * k_))]
    for i in range(n_crop):
        chosen = rng.choice(usable_pool)
        shown, folder = path_as(chosen)
        w, h = 1024, 768
        box: tuple[float, ...] = (
            rng.randint(0, 300),
            rng.randint(0, 200),
            rng.randint(400, 1024),
            rng.randint(300, 768),
        )
        if i % 7 == 3:
            box = (round(box[0] / w, 4), round(box[1] / h, 4), round(box[2] / w, 4), round(box[3] / h, 4))
        defect = defects[i] if i < len(defects) else None
        if defect == "crop.zero_dimensions":
            w, h = 0, 0
            box = (10, 10, 1787, 900)
        elif defect == "crop.placeholder":
            box = (0.0, 0.0, 1.0, 1.0)
        elif defect == "crop.invalid_box":
            box = (500, 10, 100, 300)
        elif defect == "crop.out_of_bounds":
            box = (10, 10, 1500, 300)
        if defect:
            planted[defect] += 1
        when = f"2025-10-{1 + i % 28:02d}T15:00:00"
        row = [when, "20251002_1500", f"crop_{i:06d}", folder, "1", "0", shown, *box, shown, "stage2", w, h]
        row += [""] * 12
        out.append(_csv(row))
    for _ in range(int(15 * k_)):
        out.append(_csv(["2025-10-03", "x", "c", "mojo1/crop", "1", "0", "mojo1/crop/x.png",
                         "abc", "1", "2", "3", "mojo1/crop/x.png", "s", "10", "10"] + [""] * 12))  # fmt: skip
        planted["row.malformed"] += 1
    (root / CROP).write_text("\n".join(out) + "\n")
    return planted


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--defects", type=float, default=1.0, help="multiply every planted defect")
    args = ap.parse_args()
    counts = generate(args.root, args.scale, defects=args.defects)
    print(json.dumps(dict(sorted(counts.items())), indent=2))

"""A legacy project with 1M logged decisions over a pool of images (the dataset build's scale
benchmark): 900k selections and 100k crops, each over 2 variants, 60k images with vectors.

    .venv/bin/python benchmarks/million_project.py DIR [--decisions 1000000] [--images 60000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
from pathlib import Path

import numpy as np
from PIL import Image

SEL = "data/training/selection_only_log.csv"
CROP = "data/training/select_crop_log.csv"
INDEX = "data/ai_data/cache/processed_images.jsonl"
EMB = "data/ai_data/cache/embeddings"
DIM = 512


def generate(root: Path, decisions: int = 1_000_000, images: int = 60_000, seed: int = 0) -> dict:
    import hashlib

    rng = random.Random(seed)
    (root / EMB).mkdir(parents=True, exist_ok=True)
    (root / "data/training").mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    paths, digests = [], []
    header = np.lib.format.header_data_from_array_1_0(np.zeros(DIM, np.float32))
    index = []
    for i in range(images):
        rel = f"mojo{i % 3 + 1}/selected/img_{i:06d}_stage{i % 2 + 1}.png"
        buf.seek(0)
        buf.truncate()
        Image.new("RGB", (64, 48), (i % 251, i // 251 % 251, 7)).save(buf, format="PNG")
        data = buf.getvalue()
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        vec = np.random.default_rng(i).standard_normal(DIM).astype(np.float32)
        with open(root / EMB / f"{digest}.npy", "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            fh.write(vec.tobytes())
        paths.append(rel)
        digests.append(digest)
        index.append(json.dumps({"image_path": rel, "hash": digest, "embedding_dim": DIM,
                                 "model": "openai/clip-vit-base-patch32"}))  # fmt: skip
    (root / INDEX).write_text("\n".join(index) + "\n")
    n_crop = decisions // 10
    with open(root / SEL, "w") as fh:
        fh.write("timestamp,session_id,set_id,directory,chosen_path,negative_paths\n")
        for d in range(decisions - n_crop):
            a, b = rng.randrange(images), rng.randrange(images)
            fh.write(
                f'2025-10-01T10:00:00,s{d // 500},set_{d},mojo1/selected,{paths[a]},"[""{paths[b]}""]"\n'
            )
    with open(root / CROP, "w") as fh:
        cols = ",".join(f"image_{i}_path,image_{i}_stage,width_{i},height_{i}" for i in range(4))
        fh.write(f"timestamp,session_id,set_id,directory,image_count,chosen_index,chosen_path,"
                 f"crop_x1,crop_y1,crop_x2,crop_y2,{cols}\n")  # fmt: skip
        for d in range(n_crop):
            a, b = rng.randrange(images), rng.randrange(images)
            fh.write(f"2025-10-01T10:00:00,c{d // 500},crop_{d},mojo1/selected,2,0,{paths[a]},4,4,60,40,"
                     f"{paths[a]},stage1,64,48,{paths[b]},stage2,64,48,,,,,,,,\n")  # fmt: skip
    os.sync()
    return {"decisions": decisions, "images": images}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--decisions", type=int, default=1_000_000)
    ap.add_argument("--images", type=int, default=60_000)
    a = ap.parse_args()
    print(generate(a.root, a.decisions, a.images))

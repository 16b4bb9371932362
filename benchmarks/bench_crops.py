"""Crop recovery: `curalog.repair.locate_crop` on generated natural-looking images.

Exact PNG crops, crops resized x0.5-x2, crops re-encoded as JPEG q=85, and non-matching pairs
(a crop of one image against another image). Targets: exact >= 99% within 1 px; resized and
JPEG >= 95% with IoU >= 0.95; 0 false accepts on the negatives.

    .venv/bin/python benchmarks/bench_crops.py [--n 500] [--threshold 0.9]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from curalog.demo import natural_image as natural
from curalog.repair.matcher import box_iou as iou

sys.path.insert(0, str(Path(__file__).resolve().parent))


def cases(root: Path, n: int, seed: int = 0) -> dict[str, list[tuple[Path, Path, tuple | None]]]:
    rng = random.Random(seed)
    n_orig = max(4, n // 5)
    originals = []
    for i in range(n_orig):
        size = rng.choice([(1024, 768), (768, 1024), (900, 900), (1280, 720)])
        p = root / f"orig_{i}.png"
        natural(rng, size).save(p)
        originals.append(p)
    out: dict[str, list] = {"exact": [], "resized": [], "jpeg": [], "negative": []}
    for kind in out:
        for j in range(n):
            src = originals[j % n_orig]
            im = Image.open(src)
            w, h = im.size
            cw, ch = rng.randint(w // 5, int(w * 0.8)), rng.randint(h // 5, int(h * 0.8))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            box = (x, y, x + cw, y + ch)
            piece = im.crop(box)
            p = root / f"{kind}_{j}.png"
            if kind == "resized":
                s = rng.uniform(0.5, 2.0)
                piece = piece.resize((max(8, round(cw * s)), max(8, round(ch * s))), Image.Resampling.LANCZOS)
            if kind == "jpeg":
                p = p.with_suffix(".jpg")
                piece.save(p, quality=85)
            else:
                piece.save(p)
            if kind == "negative":  # the crop against a different original
                src = originals[(j + 1 + rng.randrange(n_orig - 1)) % n_orig]
                box = None
            out[kind].append((src, p, box))
    return out


def run(n: int = 500, threshold: float = 0.9) -> dict:
    from curalog.repair.matcher import locate_crop

    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-crops-"))
    try:
        all_cases = cases(tmp, n)
        res: dict = {}
        for kind, items in all_cases.items():
            ok = accepted = 0
            times, ious = [], []
            for orig, crop, truth in items:
                t = time.perf_counter()
                found = locate_crop(orig, crop, min_confidence=threshold)
                times.append(time.perf_counter() - t)
                if found is None:
                    continue
                accepted += 1
                if truth is None:
                    continue
                if kind == "exact":
                    ok += max(abs(a - b) for a, b in zip(found[:4], truth, strict=True)) <= 1
                else:
                    v = iou(found[:4], truth)
                    ious.append(v)
                    ok += v >= 0.95
            p95 = sorted(times)[int(0.95 * len(times)) - 1]
            res[kind] = {"n": len(items), "ok": ok, "accepted": accepted,
                         "median_ms": 1000 * statistics.median(times), "p95_ms": 1000 * p95}  # fmt: skip
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict, threshold: float = 0.9) -> None:
    print(f"crop recovery (locate_crop, accept at confidence >= {threshold}):")
    for kind, target in (("exact", "within 1 px, target >= 99%"), ("resized", "IoU >= 0.95, target >= 95%"),
                         ("jpeg", "IoU >= 0.95, target >= 95%")):  # fmt: skip
        x = r[kind]
        print(f"  {kind:9s} {x['ok']:4d}/{x['n']} = {100 * x['ok'] / x['n']:5.1f}%  ({target})   "
              f"median {x['median_ms']:.0f} ms, p95 {x['p95_ms']:.0f} ms per image")  # fmt: skip
    neg = r["negative"]
    ms = neg["median_ms"]
    print(f"  negative  {neg['accepted']:4d}/{neg['n']} false accepts (target 0)   median {ms:.0f} ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--threshold", type=float, default=0.9)
    a = ap.parse_args()
    report(run(a.n, a.threshold), a.threshold)

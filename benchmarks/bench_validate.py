"""`curalog validate` against the I/O floor on a seed-scale legacy project.

The floor: read every .npy once, parse both logs, list the image folders (warm page cache).
Targets: a full run (no validator cache) within 2x the floor; a repeat run with nothing changed
within 0.5x. Each measurement runs in its own process (timed inside it, imports excluded) so
peak memory (VmHWM, the process's own high-water RSS) is per run; the full run also reports its
forked vector-check child's peak (RUSAGE_CHILDREN). One more full run, untimed, measures the
memory of the run and its forked children together (the peak sum of their PSS, ``footprint``).
Also checks that the findings equal what was planted.

    .venv/bin/python benchmarks/bench_validate.py [--scale 1.0] [--keep DIR] [--defects 8 --format json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from curalog.validate.cache import CACHE_NAME, MEMO_NAME
from footprint import peak_footprint
from seed_project import generate

FLOOR = r"""
import csv, json, os, resource, sys, time
root = sys.argv[1]
t = time.perf_counter()
emb = os.path.join(root, "data/ai_data/cache/embeddings")
for e in os.scandir(emb):
    with open(e.path, "rb") as fh:
        fh.read()
for log in ("data/training/selection_only_log.csv", "data/training/select_crop_log.csv"):
    with open(os.path.join(root, log), newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            pass
n = 0
for dirpath, dirnames, filenames in os.walk(root):
    n += len(filenames)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
peak = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - t, "max_rss_mb": peak}))
"""

RUN = r"""
import json, os, resource, sys, tempfile, time
from curalog.validate import validate
from curalog.validate.render import render_json, render_text
render = {"json": render_json, "text": render_text}[sys.argv[2]]
t = time.perf_counter()
report = validate(sys.argv[1])
with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".report") as fh:  # as --output FILE does
    fh.write(render(report))
seconds = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
peak = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the forked vector check
print(json.dumps({"seconds": seconds, "by_code": report.by_code, "max_rss_mb": peak, "child_rss_mb": child,
                  "findings": len(report.findings)}))
"""


def _run(script: str, root: Path, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, str(root), *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def run(scale: float = 1.0, repeats: int = 3, keep: Path | None = None, defects: float = 1.0,
        fmt: str = "text") -> dict:  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-validate-"))
    root = keep or tmp / "seed"
    try:
        if not (root / "data").exists():
            planted = generate(root, scale, defects=defects)
            (root / "planted.json").write_text(json.dumps(planted))
            os.sync()  # let the writeback of the generated files finish before anything is timed
        planted = json.loads((root / "planted.json").read_text())
        caches = [root / "data" / CACHE_NAME, root / "data" / MEMO_NAME]  # the per-file verdicts, the memo
        _run(FLOOR, root)  # warm the page cache
        floors, fulls, repeats_ = [], [], []
        for _ in range(repeats):
            floors.append(_run(FLOOR, root))
            for cache in caches:
                cache.unlink(missing_ok=True)
            fulls.append(_run(RUN, root, fmt))
            repeats_.append(_run(RUN, root, fmt))
        for cache in caches:
            cache.unlink(missing_ok=True)
        footprint, status = peak_footprint([sys.executable, "-c", RUN, str(root), fmt])
        assert status == 0, "the untimed full run failed"
        floor = statistics.median(r["seconds"] for r in floors)
        full = statistics.median(r["seconds"] for r in fulls)
        repeat = statistics.median(r["seconds"] for r in repeats_)
        return {
            "scale": scale,
            "format": fmt,
            "findings": fulls[-1]["findings"],
            "floor_s": floor,
            "full_s": full,
            "repeat_s": repeat,
            "full_ratio": full / floor,
            "repeat_ratio": repeat / floor,
            "full_rss_mb": max(r["max_rss_mb"] for r in fulls),
            "full_child_rss_mb": max(r["child_rss_mb"] for r in fulls),
            "full_footprint_mb": footprint,
            "repeat_rss_mb": max(r["max_rss_mb"] for r in repeats_),
            "floor_rss_mb": max(r["max_rss_mb"] for r in floors),
            "planted": planted,
            "found": fulls[-1]["by_code"],
        }
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> None:
    print(f"validate: seed-scale legacy project (scale {r['scale']}, {r['findings']:,} findings, "
          f"--format {r['format']} to a file), medians of runs in fresh processes")  # fmt: skip
    print(f"  I/O floor (read .npy, parse logs, list folders)  {r['floor_s']:7.3f} s   "
          f"peak {r['floor_rss_mb']:.0f} MB")  # fmt: skip
    print(f"  full run, no validator cache                     {r['full_s']:7.3f} s   "
          f"{r['full_ratio']:.2f}x floor (target <= 2x)   peak {r['full_rss_mb']:.0f} MB"
          f" (+ its children {r['full_child_rss_mb']:.0f} MB)")  # fmt: skip
    print(f"  full run, memory of it and its forked children together (peak sum of PSS): "
          f"{r['full_footprint_mb']:.0f} MB")  # fmt: skip
    print(f"  repeat run, nothing changed                      {r['repeat_s']:7.3f} s   "
          f"{r['repeat_ratio']:.2f}x floor (target <= 0.5x)   peak {r['repeat_rss_mb']:.0f} MB")  # fmt: skip
    same = r["planted"] == r["found"]
    print(f"  findings equal the planted defects: {'yes' if same else 'NO'}")
    if not same:
        print(f"    planted {r['planted']}\n    found   {r['found']}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    ap.add_argument(
        "--defects", type=float, default=1.0, help="multiply every planted defect (8: ~7k findings)"
    )
    ap.add_argument("--format", choices=["text", "json"], default="text")
    args = ap.parse_args()
    report(run(args.scale, args.repeats, args.keep, args.defects, args.format))

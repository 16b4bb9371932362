"""`curalog verify` against the I/O floor on a seed-scale project (issue 18).

The floor: read every .npy once (warm page cache). A first run (no validator cache: every file
read, the verdicts written to the cache) and a repeat run with nothing changed (a file the cache
proves sound is only stat'ed). Target: the repeat within 0.5x the floor. The seed project is made
a curalog project (an empty curalog.toml: the legacy layout) so that ``verify`` may create the
cache; in a bare legacy folder it only updates one ``validate`` made. Each run in its own process,
timed inside it (imports excluded); the reports of all runs must be equal.

    .venv/bin/python benchmarks/bench_verify.py [--scale 1.0] [--keep DIR]
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

from curalog.validate.cache import CACHE_NAME
from seed_project import generate

FLOOR = r"""
import json, os, sys, time
t = time.perf_counter()
for e in os.scandir(os.path.join(sys.argv[1], "data/ai_data/cache/embeddings")):
    with open(e.path, "rb") as fh:
        fh.read()
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

RUN = r"""
import hashlib, json, sys, time
from curalog import open_project
from curalog.cli.embeddings import _report_json
from curalog.validate.verdicts import verify_project
t = time.perf_counter()
with open_project(sys.argv[1]) as proj:
    report = verify_project(proj)
seconds = time.perf_counter() - t
digest = hashlib.sha256(_report_json(report).encode()).hexdigest()
print(json.dumps({"seconds": seconds, "report": digest, "files": report.vector_files}))
"""


def _run(script: str, root: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def run(scale: float = 1.0, repeats: int = 3, keep: Path | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-verify-"))
    root = keep or tmp / "seed"
    try:
        if not (root / "data").exists():
            generate(root, scale)
            os.sync()
        (root / "curalog.toml").touch()  # a project: verify may create its cache
        cache = root / "data" / CACHE_NAME
        _run(FLOOR, root)  # warm the page cache
        floors, firsts, repeats_ = [], [], []
        for _ in range(repeats):
            floors.append(_run(FLOOR, root))
            cache.unlink(missing_ok=True)
            firsts.append(_run(RUN, root))
            repeats_.append(_run(RUN, root))
        floor = statistics.median(r["seconds"] for r in floors)
        first = statistics.median(r["seconds"] for r in firsts)
        repeat = statistics.median(r["seconds"] for r in repeats_)
        return {
            "scale": scale, "files": firsts[0]["files"], "floor_s": floor, "first_s": first,
            "repeat_s": repeat, "first_ratio": first / floor, "repeat_ratio": repeat / floor,
            "same": len({r["report"] for r in firsts + repeats_}) == 1,
        }  # fmt: skip
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> None:
    print(f"verify: seed-scale project (scale {r['scale']}, {r['files']:,} vector files), medians of runs "
          "in fresh processes")  # fmt: skip
    print(f"  I/O floor (read every .npy once)     {r['floor_s']:7.3f} s")
    print(f"  first run, no validator cache        {r['first_s']:7.3f} s   {r['first_ratio']:.2f}x floor")
    print(f"  repeat run, nothing changed          {r['repeat_s']:7.3f} s   {r['repeat_ratio']:.2f}x floor"
          " (target <= 0.5x)")  # fmt: skip
    print(f"  every run's report the same: {'yes' if r['same'] else 'NO'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    args = ap.parse_args()
    report(run(args.scale, args.repeats, args.keep))

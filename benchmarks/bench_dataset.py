"""`curalog dataset build` on the seed-scale legacy project: time and memory, first and warm.

    .venv/bin/python benchmarks/bench_dataset.py [--keep DIR] [--million DIR]

``--million DIR`` also builds from a 1M-decision project (generated there by
``million_project.py`` when DIR is empty; ~600 MB): target < 10 s.

"first": no validator cache (every vector file read twice: judged, then copied into the
matrix); "warm": the validator's cache holds the verdicts. Each run in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from curalog.validate.cache import CACHE_NAME, MEMO_NAME
from seed_project import generate

RUN = r"""
import json, sys, time
from curalog.dataset import build
t = time.perf_counter()
r = build(sys.argv[1], sys.argv[2], force=True)
seconds = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
print(json.dumps({"seconds": seconds, "counts": r.manifest["counts"], "reconciliation": r.reconciliation,
                  "max_rss_mb": int(hwm[0].split()[1]) / 1024 if hwm else 0}))
"""


def _run(root: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(root), str(out)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def run(keep: Path | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-dataset-"))
    root = keep or tmp / "seed"
    try:
        if not (root / "data").exists():
            (root / "planted.json").parent.mkdir(parents=True, exist_ok=True)
            planted = generate(root, 1.0)
            (root / "planted.json").write_text(json.dumps(planted))
            os.sync()
        for name in (CACHE_NAME, MEMO_NAME):
            (root / "data" / name).unlink(missing_ok=True)
        first = _run(root, tmp / "ds")
        warm = _run(root, tmp / "ds")
        return {"first": first, "warm": warm}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> None:
    c, rec = r["warm"]["counts"], r["warm"]["reconciliation"]
    print(f"dataset build: seed-scale legacy project -> {c['crops']:,} crops, {c['pairs']:,} pairs, "
          f"{c['images']:,} images x {c['dim']}")  # fmt: skip
    for name, x in rec.items():
        print(
            f"  {name}: logged {x['logged']:,} = used {x['used']:,} + dropped {sum(x['dropped'].values()):,}"
        )
    for label, key in (
        ("first build (no validator cache)", "first"),
        ("warm build (validator cache)", "warm"),
    ):
        print(f"  {label:34s} {r[key]['seconds']:6.2f} s   peak {r[key]['max_rss_mb']:.0f} MB")


def million(root: Path) -> None:
    from million_project import generate as generate_million

    if not (root / "data").exists():
        generate_million(root)
    out = root / "data" / "dataset"
    _run(root, out)  # first build: vector verdicts cached
    r = _run(root, out)
    print(f"dataset build, 1M decisions ({r['counts']['crops']:,} crops, {r['counts']['pairs']:,} pairs): "
          f"{r['seconds']:.2f} s (target < 10 s), peak {r['max_rss_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    ap.add_argument("--million", type=Path, help="also build from a 1M-decision project in this folder")
    args = ap.parse_args()
    report(run(args.keep))
    if args.million:
        million(args.million)

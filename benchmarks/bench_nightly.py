"""The nightly job's real case (issue 18): the logs grew by a day's lines. A seed-scale project
is validated once (cache and memo warm), then 1 % new lines are appended to both logs (copies of
existing rows with new set ids and a new day's timestamp: new decisions), and `validate` +
the JSON report is timed in a fresh process against the I/O floor. The result must equal a full
run's (no cache), findings compared after sorting. Target: <= 0.5x the floor.

    .venv/bin/python benchmarks/bench_nightly.py [--keep DIR] [--defects 8]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validate import FLOOR, RUN, _run
from seed_project import CROP, SEL, generate

# the findings (sorted) and counts a run reports: argv[2] "full" runs without the cache, "last"
# asks again with it (the nightly run's memo: what it reported, without recomputing)
REPORTED = r"""
import json, sys
from curalog.validate import validate
r = validate(sys.argv[1], use_cache=sys.argv[2] == "last")
key = lambda f: (f.code, f.source, f.line or 0, f.path, f.message)
print(json.dumps({"findings": sorted(map(list, map(key, r.findings))), "counts": [r.selections, r.crops,
      r.usable_selections, r.usable_crops, r.index_entries, r.embedding_files]}))
"""


def append_day(root: Path, fraction: float = 0.01, seed: int = 1) -> int:
    """Append ``fraction`` new lines to both logs; returns how many were appended."""
    rng = random.Random(seed)
    added = 0
    for log in (SEL, CROP):
        path = root / log
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))[1:]
        good = [r for r in rows if len(r) > 4]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for k, row in enumerate(rng.sample(good, max(1, int(len(rows) * fraction)))):
            writer.writerow(["2025-11-01T09:00:00", "20251101_0900", f"nightly_{k:06d}", *row[3:]])
            added += 1
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(out.getvalue())
    return added


def run(keep: Path | None = None, defects: float = 1.0, repeats: int = 3) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-nightly-"))
    base = keep or tmp / "seed"
    try:
        if not (base / "data").exists():
            generate(base, 1.0, defects=defects)
        nightly, floors, equal = [], [], True
        for i in range(repeats):
            root = tmp / f"run{i}"
            subprocess.run(["cp", "-a", str(base), str(root)], check=True)
            _run(RUN, root, "json")  # yesterday's run: cache and memo warm
            appended = append_day(root)
            floors.append(_run(FLOOR, root)["seconds"])
            nightly.append(_run(RUN, root, "json"))
            equal &= _run(REPORTED, root, "last") == _run(REPORTED, root, "full")
            shutil.rmtree(root, ignore_errors=True)
        floor = statistics.median(floors)
        seconds = statistics.median(r["seconds"] for r in nightly)
        return {"floor_s": floor, "nightly_s": seconds, "ratio": seconds / floor, "appended": appended,
                "rss_mb": max(r["max_rss_mb"] for r in nightly), "equal": equal,
                "findings": nightly[-1]["findings"]}  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> None:
    print(f"nightly: seed-scale project, {r['appended']:,} lines appended to the logs (1 %), "
          f"{r['findings']:,} findings, --format json to a file")  # fmt: skip
    print(f"  I/O floor {r['floor_s']:.3f} s; validate after the append {r['nightly_s']:.3f} s = "
          f"{r['ratio']:.2f}x floor (target <= 0.5x), peak {r['rss_mb']:.0f} MB; "
          f"equal to a full run: {'yes' if r['equal'] else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="a generated seed project to copy (never modified)")
    ap.add_argument("--defects", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    report(run(args.keep, args.defects, args.repeats))

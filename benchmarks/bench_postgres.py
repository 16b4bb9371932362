"""The ledger on PostgreSQL against SQLite, on a throwaway local server (Unix socket,
``synchronous_commit=on``, fsync on), started and removed by this script.

1. Write-time check + durable insert latency of ``Session.log_crop`` on each backend (median,
   p99; target on PostgreSQL: p99 < 5 ms).
2. Throughput with 1, 4 and 8 concurrent writer processes (decisions per second, every decision
   counted afterwards).
3. ``validate`` on a seed-shaped project (``--scale``) with its legacy logs imported into the
   ledger on each backend: median seconds and the ratio PostgreSQL / SQLite.

    .venv/bin/python benchmarks/bench_postgres.py [--crops 2000] [--per-writer 500] [--scale 0.1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from tests.pg_server import PgServer, available  # noqa: E402

import bench_ledger  # noqa: E402
import curalog  # noqa: E402
from bench_validate import generate  # noqa: E402
from curalog.legacy.importer import import_legacy  # noqa: E402
from curalog.validate import validate  # noqa: E402

WRITER = """
import sys, curalog
root, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with curalog.open_project(root) as p, p.session(tool=f"w{worker}") as s:
    sets = [[f"mojo1/selected/set{k:05d}_stage{i + 1}.png" for i in range(4)] for k in range(40)]
    for i in range(n):
        s.log_crop(f"w{worker}_{i}", "mojo1/selected", sets[i % 40], i % 4, (10, 20, 500, 600),
                   image_sizes=[(1024, 768)] * 4)
"""


def _use(url: str | None) -> None:
    if url:
        os.environ["CURALOG_DATABASE_URL"] = url
    else:
        os.environ.pop("CURALOG_DATABASE_URL", None)


def latency(root: Path, sets: list[list[str]], n: int, url: str | None) -> dict[str, float]:
    _use(url)
    with curalog.open_project(root) as proj:
        times, total = bench_ledger._log_all(proj, sets, n, f"lat{'pg' if url else 'sq'}")
    return {"median_ms": statistics.median(times), "p99_ms": bench_ledger.percentile(times, 99),
            "per_s": n / total}  # fmt: skip


def throughput(root: Path, writers: int, per_writer: int, url: str | None) -> float:
    _use(url)
    with curalog.open_project(root) as proj:
        before = proj.ledger.count()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "src"))
    started = time.perf_counter()
    cmd = [sys.executable, "-c", WRITER, str(root)]
    procs = [subprocess.Popen([*cmd, f"{writers}_{w}", str(per_writer)], env=env) for w in range(writers)]
    for p in procs:
        assert p.wait() == 0
    seconds = time.perf_counter() - started
    with curalog.open_project(root) as proj:
        assert proj.ledger.count() - before == writers * per_writer, "a decision was lost or doubled"
    return writers * per_writer / seconds


def validate_seconds(project: Path, url: str | None, repeats: int) -> float:
    _use(url)
    with curalog.open_project(project) as proj:
        summary = import_legacy(proj)
        assert summary.reconciles
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        validate(project, use_cache=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crops", type=int, default=2000)
    ap.add_argument("--per-writer", type=int, default=500)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    why = available()
    if why:
        sys.exit(f"cannot start a PostgreSQL server here: {why}")
    server = PgServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="curalog-bench-pg-") as tmp:
            root = Path(tmp) / "proj"
            sets = bench_ledger.build(root, 500)
            curalog.init_project(root)
            pg = server.new_database()
            for url in (None, pg):
                _use(url)
                with curalog.open_project(root) as proj:
                    assert proj.embed([p for s in sets for p in s]).ok
            print("ledger on PostgreSQL vs SQLite (local server, Unix socket, synchronous_commit=on)")
            for name, url in (("SQLite", None), ("PostgreSQL", pg)):
                r = latency(root, sets, args.crops, url)
                print(f"  log_crop latency {name:<10} median {r['median_ms']:.3f} ms"
                      f"   p99 {r['p99_ms']:.3f} ms   ({r['per_s']:,.0f}/s, one writer)")  # fmt: skip
            for name, url in (("SQLite", None), ("PostgreSQL", pg)):
                rates = [throughput(root, w, args.per_writer, url) for w in (1, 4, 8)]
                print(f"  concurrent writers {name:<10} 1: {rates[0]:,.0f}/s   4: {rates[1]:,.0f}/s"
                      f"   8: {rates[2]:,.0f}/s   (every decision counted after)")  # fmt: skip
            project = Path(tmp) / "seed"
            generate(project, args.scale)
            sq = validate_seconds(project, None, args.repeats)
            pq = validate_seconds(project, server.new_database(), args.repeats)
            print(f"  validate, seed scale {args.scale:g}, logs imported: SQLite {sq:.3f} s"
                  f"   PostgreSQL {pq:.3f} s   ratio {pq / sq:.2f}")  # fmt: skip
    finally:
        _use(None)
        server.stop()


if __name__ == "__main__":
    main()

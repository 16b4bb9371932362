"""Run every benchmark once and print its figures: `make bench`."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_embed
import bench_ledger
import bench_postgres
import bench_validate
import bench_verify
import bench_web
import embed_throughput

if __name__ == "__main__":
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    bench_web.report(bench_web.run(20, (2048, 1536), think=1.0), (2048, 1536), think=1.0)
    print()
    bench_ledger.report(bench_ledger.run())
    print()
    bench_embed.report(bench_embed.run())
    print()
    bench_validate.report(bench_validate.run())
    print()
    bench_validate.report(bench_validate.run(defects=8, fmt="json"))  # findings-heavy, the nightly's JSON
    print()
    bench_verify.report(bench_verify.run())
    print()
    sys.argv = [sys.argv[0]]
    bench_postgres.main()
    print()
    embed_throughput.report(embed_throughput.run(n_images=128, batch=32, device="auto"))

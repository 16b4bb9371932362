"""Run every benchmark once and print its figures: `make bench`."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_embed
import bench_ledger
import bench_nightly
import bench_postgres
import bench_validate
import bench_verify
import bench_web
import embed_throughput


def print_targets(heavy: dict, nightly: dict, verify: dict, ten: dict | None) -> None:
    """Issue 18's table: each case, its target, and what this run measured."""

    def peak_of(r: dict) -> str:  # the parent's own peak, and the sampled sum of PSS with its children
        return f"{r['full_rss_mb']:.0f} MB, {r['full_footprint_mb']:.0f} MB with its children"

    peak = peak_of(heavy)
    rows = [
        ("full run, seed scale, findings-heavy, --format json", "<= 2x floor", f"{heavy['full_ratio']:.2f}x",
         peak),
        ("repeat run, nothing changed, same project", "<= 0.5x floor", f"{heavy['repeat_ratio']:.2f}x",
         f"{heavy['repeat_rss_mb']:.0f} MB"),
        ("nightly run after appending 1 % to both logs", "<= 0.5x floor, equal to a full run",
         f"{nightly['ratio']:.2f}x, {'equal' if nightly['equal'] else 'NOT EQUAL'}",
         f"{nightly['rss_mb']:.0f} MB"),
        ("full run at 10x seed scale", "<= 2x floor, peak <= 1.5 GB",
         f"{ten['full_ratio']:.2f}x" if ten else "not run (CURALOG_BENCH_10X=1: 6.4 GB, minutes)",
         peak_of(ten) if ten else "-"),
        ("curalog verify repeat run", "<= 0.5x floor", f"{verify['repeat_ratio']:.2f}x", "-"),
    ]  # fmt: skip
    print("issue 18 targets (this run):")
    for case, target, got, mem in rows:
        print(f"  {case:<52} {target:<36} {got:<28} peak {mem}")


if __name__ == "__main__":
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    bench_web.report(bench_web.run(20, (2048, 1536), think=1.0), (2048, 1536), think=1.0)
    print()
    bench_web.report_suggestions(bench_web.run_suggestions(20, 1.0, 2.0), 20, 1.0, 2.0)  # issue 19
    print()
    bench_ledger.report(bench_ledger.run())
    print()
    bench_embed.report(bench_embed.run())
    print()
    bench_validate.report(bench_validate.run())
    print()
    heavy = bench_validate.run(defects=8, fmt="json")  # findings-heavy, the nightly's JSON
    bench_validate.report(heavy)
    print()
    nightly = bench_nightly.run(defects=8)
    bench_nightly.report(nightly)
    print()
    verify = bench_verify.run()
    bench_verify.report(verify)
    print()
    ten = bench_validate.run(scale=10, repeats=1) if os.environ.get("CURALOG_BENCH_10X") else None
    if ten:
        bench_validate.report(ten)
        print()
    print_targets(heavy, nightly, verify, ten)
    print()
    sys.argv = [sys.argv[0]]
    bench_postgres.main()
    print()
    embed_throughput.report(embed_throughput.run(n_images=128, batch=32, device="auto"))

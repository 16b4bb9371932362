"""Usable counts of every consumer of the path rule on one project, side by side: `validate`,
`dataset build`, `import-legacy` (decisions with a sound vector, and what it quarantined), and
`validate` again after the import. Works on a copy (the project is not touched).

    .venv/bin/python benchmarks/seed_project.py /tmp/seed          # the drift project
    .venv/bin/python benchmarks/consumers_agree.py /tmp/seed

To compare with an older commit, run the same command with that commit's ``src`` first on
``PYTHONPATH`` (e.g. from ``git worktree add /tmp/old <commit>``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import curalog
from curalog import dataset
from curalog.legacy.importer import import_legacy
from curalog.validate import validate


def measure(src: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="curalog-agree-"))
    work = tmp / "p"
    try:
        shutil.copytree(src, work, ignore=shutil.ignore_patterns("curalog.db*", "*.npz"))
        report = validate(work, use_cache=False)
        out: dict = {
            "validate_usable": [report.usable_selections, report.usable_crops],
            "by_code": dict(sorted(report.by_code.items())),
        }
        rec = dataset.build(work, tmp / "ds").manifest["reconciliation"]
        out["dataset_used"] = [rec["selections"]["used"], rec["crops"]["used"]]
        t = time.perf_counter()
        with curalog.open_project(work) as p:
            summary = import_legacy(p)
            out["import_lines"] = {f.source: [f.imported, f.quarantined] for f in summary.files}
            rows = p.db.query("SELECT codes, count(*) AS n FROM quarantine GROUP BY codes")
            out["quarantined_by_codes"] = {r["codes"]: r["n"] for r in rows}
            with_vector = {"selection": 0, "crop": 0}
            for d in p.ledger.decisions():
                if p.embeddings.vector_problem(d.chosen.hash) is None:
                    with_vector[d.kind] += 1
            out["import_decisions_with_vector"] = with_vector
        out["import_seconds"] = round(time.perf_counter() - t, 1)
        again = validate(work, use_cache=False)
        out["validate_usable_after_import"] = [again.usable_selections, again.usable_crops]
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    print(json.dumps(measure(ap.parse_args().root), indent=2))

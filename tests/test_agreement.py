"""Every consumer of the path rule agrees on one project: ``validate``'s usable counts, the
dataset's ``used``, ``health`` (the dashboard's figures) and the decisions ``import-legacy`` takes
in, line by line. Run on the legacy test project (which plants the seed's path drift) and on
generated projects with random mixes of conventions and defects."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

import curalog
from curalog import dataset
from curalog.legacy.importer import LEAVE_OUT, import_legacy
from curalog.legacy.index import read_index
from curalog.legacy.logs import read_crop_log, read_selection_log
from curalog.monitor.health import take_snapshot
from curalog.validate import validate
from tests.legacy_project import CROP, INDEX, SEL, build
from tests.project_gen import generate

STRICTER_AT_WRITE = {"image.missing", "crop.dimension_mismatch"}
NOT_USABLE = {"path.unresolved", "path.ambiguous", "row.duplicate", "decision.no_embedding"}


def _data_lines(root: Path, rel: str) -> set[int]:
    text = (root / rel).read_text(encoding="utf-8").split("\n")
    return {n for n, line in enumerate(text, start=1) if n > 1 and line.strip()}


def _usable_lines(report) -> dict[str, set[int]]:
    """Per log, the lines validate counts usable (read back from its findings)."""
    root = Path(report.root)
    spoiled: dict[str, set[int]] = {SEL: set(), CROP: set()}
    for f in report.findings:
        if f.source in spoiled and (f.severity == "error" or f.code in NOT_USABLE):
            spoiled[f.source].add(f.line)
    return {rel: _data_lines(root, rel) - spoiled[rel] for rel in (SEL, CROP)}


def _check_agreement(root: Path, tmp: Path) -> None:
    report = validate(root, use_cache=False)
    usable = _usable_lines(report)
    assert (len(usable[SEL]), len(usable[CROP])) == (report.usable_selections, report.usable_crops)

    rec = dataset.build(root, tmp / "ds").manifest["reconciliation"]
    assert (rec["selections"]["used"], rec["crops"]["used"]) == (
        report.usable_selections,
        report.usable_crops,
    )

    with curalog.open_project(root) as p:
        figures = take_snapshot(p, record=False).figures
        assert (figures.usable_selections, figures.usable_crops) == (
            report.usable_selections,
            report.usable_crops,
        )
        import_legacy(p)
        # each usable line became a decision whose chosen image has a sound vector in the ledger,
        # or waits in quarantine for a reason the ledger is stricter about than the validator
        # (NOTES.md, "Write-time rules"): the chosen image is not on disk to be measured, or its
        # logged size differs from the file
        imported = {
            (r["source"], r["line"]): r["decision_id"]
            for r in p.db.query(
                "SELECT source, line, decision_id FROM legacy_lines WHERE decision_id IS NOT NULL"
            )
        }
        waiting = {(r["source"], r["line"]): r["codes"] for r in p.db.query("SELECT * FROM quarantine")}
        chosen_hash = {
            d.id: d.chosen.hash
            for d in p.ledger.decisions()
            if p.embeddings.vector_problem(d.chosen.hash) is None
        }
        # The one other difference: validate trusts the path an index line names (exact or by
        # unique file name) without hashing the image, the ledger links by content hash. Where the
        # image's bytes are not what the line says, `validate --deep` must name it stale.
        stale = {
            f.path for f in validate(root, use_cache=False, deep=True).findings if f.code == "embedding.stale"
        }
        rows = {
            (read.source, r.line): r
            for read in (read_selection_log(root / SEL, SEL), read_crop_log(root / CROP, CROP))
            for r in read.rows
        }
        for rel, lines in usable.items():
            for line in lines:
                key = (rel, line)
                codes = set(waiting.get(key, "-").split(","))
                # (the codes of other candidates, which import leaves out, may come along)
                stricter = bool(codes & STRICTER_AT_WRITE) and codes <= STRICTER_AT_WRITE | LEAVE_OUT
                if imported.get(key) in chosen_hash or stricter:
                    continue
                row = rows[key]
                canonical = p.paths.resolve(row.chosen_path, row.directory).canonical
                assert canonical in stale, (key, waiting.get(key), canonical)
        # and every imported decision with a sound vector is a usable line (or a repeat of one)
        firsts = {d for key, d in imported.items() if key[1] in usable[key[0]]}
        # (a repeat whose first copy the ledger refused as stricter takes that copy's place)
        repeats = {
            (f.source, f.line): int(f.message.split("line ")[1].split(" ")[0])
            for f in report.findings
            if f.code == "row.duplicate"
        }
        for key, d in imported.items():
            first = repeats.get(key)
            if first is not None and first in usable[key[0]] and (key[0], first) in waiting:
                firsts.add(d)
        # (and validate may refuse what the ledger links by content where the image's own index
        # line has a stale hash: --deep names it, or its vector file is gone too)
        paths = {d.id: d.chosen.path for d in p.ledger.decisions()}
        lines = {r.line: r.hash for r in read_index(root / INDEX, INDEX).rows}
        for line, where in p.legacy_index_placements().items():
            content = (
                hashlib.sha256((root / where.canonical).read_bytes()).hexdigest()
                if where and where.on_disk
                else ""
            )
            if content and content != lines[line]:
                stale.add(where.canonical)  # type: ignore[union-attr]
        firsts |= {d for d in imported.values() if paths[d] in stale}
        assert {d for d in imported.values() if d in chosen_hash} <= firsts
    again = validate(root, use_cache=False)
    assert (again.usable_selections, again.usable_crops) == (report.usable_selections, report.usable_crops)


def test_consumers_agree_on_the_legacy_project(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    planted = build(root)
    report = validate(root, use_cache=False)
    assert (report.usable_selections, report.usable_crops) == (
        planted.usable_selections,
        planted.usable_crops,
    )
    _check_agreement(root, tmp_path)


@pytest.mark.parametrize("seed", range(int(os.environ.get("AGREEMENT_SEEDS", "40"))))
def test_consumers_agree_on_generated_projects(tmp_path: Path, seed: int) -> None:
    root = tmp_path / "gen"
    size = int(os.environ.get("AGREEMENT_SIZE", "14"))
    generate(root, random.Random(seed), max_images=size, max_rows=size + 2)
    _check_agreement(root, tmp_path)

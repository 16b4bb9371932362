from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import curalog
from curalog.legacy.exporter import export_legacy
from curalog.legacy.importer import import_legacy
from curalog.validate import validate
from tests.conftest import make_image
from tests.legacy_project import CROP, INDEX, SEL, build

pytestmark = pytest.mark.usefixtures("both_backends")

QUARANTINED = {
    INDEX: {16: "embedding.file_missing", 17: "embedding.corrupt", 26: "embedding.file_missing",
            28: "row.malformed"},
    SEL: {6: "row.malformed", 7: "row.malformed", 8: "path.unresolved", 9: "path.ambiguous",
          12: "image.missing", 16: "path.ambiguous", 20: "image.missing"},
    CROP: {5: "crop.zero_dimensions", 6: "crop.placeholder", 7: "crop.invalid_box", 8: "crop.out_of_bounds",
           9: "crop.dimension_mismatch", 10: "decision.no_embedding", 11: "decision.no_embedding",
           12: "row.malformed", 15: "crop.zero_dimensions", 16: "decision.no_embedding"},
}  # fmt: skip


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    root = tmp_path / "legacy"
    build(root)
    return root


def _decisions(p) -> list[tuple]:
    return sorted(
        (d.kind, d.set_id, d.chosen.path, tuple(c.path for c in d.candidates), d.box)
        for d in p.ledger.decisions()
    )


def test_every_line_is_imported_or_quarantined(legacy: Path) -> None:
    with curalog.open_project(legacy) as p:
        summary = import_legacy(p)
        assert summary.reconciles
        by_file = {f.source: f for f in summary.files}
        # the index lines written without their subfolder, with another machine's prefix, as a
        # bare or shared file name or with Windows separators are adopted for the image they name
        assert (by_file[INDEX].imported, by_file[INDEX].quarantined) == (24, 4)
        assert (by_file[SEL].imported, by_file[SEL].quarantined) == (12, 7)
        assert (by_file[CROP].imported, by_file[CROP].quarantined) == (5, 10)
        quarantined = {(s, line): codes for s, line, codes, _ in summary.quarantine}
        assert quarantined == {
            (s, line): code for s, lines in QUARANTINED.items() for line, code in lines.items()
        }
        rows = p.db.conn.execute("SELECT source, line, codes, raw FROM quarantine").fetchall()
        assert len(rows) == 21 and all(r["raw"] for r in rows)
        # a selection whose rejected variant was deleted keeps the choice and says what it left out
        assert summary.notes and summary.notes[0][:2] == (SEL, 2) and "a_stage2.png" in summary.notes[0][2]
        # 12 selection lines became 11 decisions: line 11 repeats line 2 and maps to the same decision
        assert p.ledger.count("selection") == 11 and p.ledger.count("crop") == 5
        ids = p.db.conn.execute(
            f"SELECT decision_id FROM legacy_lines WHERE source = '{SEL}' AND line IN (2, 11)"
        )
        assert len({r[0] for r in ids}) == 1
        lost = p.embeddings.lookup("mojo2/gone/lost.png")  # a sound vector adopted in place, no copy
        assert lost is not None and p.embeddings.vector_problem(lost.hash) is None
        assert len(list((legacy / "data/ai_data/cache/embeddings").glob("*.npy"))) == 26
        # the seed's `mojo2/<name>` index line is adopted under the image's real path
        drift = p.embeddings.lookup("mojo2/selected/img_0049_stage0.png")
        assert drift is not None and p.embeddings.lookup("mojo2/img_0049_stage0.png") is None
        shared = p.embeddings.lookup("mojo1/selected/shared.png")  # settled by content hash
        assert shared is not None and shared.hash != p.embeddings.lookup("mojo1/crop/shared.png").hash


def test_import_is_idempotent_and_retries_quarantine(legacy: Path) -> None:
    with curalog.open_project(legacy) as p:
        import_legacy(p)
        before = _decisions(p)
        again = import_legacy(p)
        assert again.reconciles and _decisions(p) == before
        assert [f.imported for f in again.files] == [0, 0, 0]
        assert [f.already for f in again.files] == [24, 12, 5]
        # the missing image appears: its quarantined line gets in on the next run
        make_image(legacy / "mojo1/selected/ghost.png", (64, 48), "white")
        p.paths.forget()
        third = import_legacy(p)
        assert {f.source: f.imported for f in third.files}[SEL] == 1
        left = p.db.conn.execute(f"SELECT line FROM quarantine WHERE source = '{SEL}'").fetchall()
        assert 8 not in {r[0] for r in left}


def test_dry_run_keeps_nothing(legacy: Path) -> None:
    before = {q: q.read_bytes() for q in legacy.rglob("*") if q.is_file()}
    with curalog.open_project(legacy) as p:
        dry = import_legacy(p, dry_run=True)
    assert {q: q.read_bytes() for q in legacy.rglob("*") if q.is_file()} == before
    assert not (legacy / "data" / "curalog.db").exists()
    with curalog.open_project(legacy) as p:
        real = import_legacy(p)
    assert [(f.source, f.imported, f.quarantined) for f in dry.files] == [
        (f.source, f.imported, f.quarantined) for f in real.files
    ]


def test_validate_does_not_count_imported_decisions_twice(legacy: Path) -> None:
    first = validate(legacy, use_cache=False)
    with curalog.open_project(legacy) as p:
        import_legacy(p)
    after = validate(legacy, use_cache=False)
    assert (after.selections, after.crops, after.index_entries) == (
        first.selections,
        first.crops,
        first.index_entries,
    )
    assert (after.usable_selections, after.usable_crops) == (first.usable_selections, first.usable_crops)


def test_import_export_import_round_trips(legacy: Path, tmp_path: Path) -> None:
    with curalog.open_project(legacy) as p:
        import_legacy(p)
        first = _decisions(p)
        first_index = sorted((e.path, e.hash, e.dim, e.model) for e in p.embeddings.entries())
        out = tmp_path / "exported"
        summary = export_legacy(p, out)
        assert not summary.refused and set(summary.files.values()) >= {11, 5}
    again = tmp_path / "again"
    shutil.copytree(legacy, again, ignore=shutil.ignore_patterns("curalog.db*", "*.npz"))
    for rel in (SEL, CROP, INDEX):
        shutil.copy(out / rel, again / rel)
    with curalog.open_project(again) as q:
        summary = import_legacy(q)
        assert summary.reconciles and not summary.quarantine
        assert _decisions(q) == first
        assert sorted((e.path, e.hash, e.dim, e.model) for e in q.embeddings.entries()) == first_index


def test_export_refuses_to_overwrite(legacy: Path, tmp_path: Path) -> None:
    with curalog.open_project(legacy) as p:
        import_legacy(p)
        with pytest.raises(curalog.ConfigError, match="project's own"):
            export_legacy(p, legacy)
        export_legacy(p, tmp_path / "e")
        with pytest.raises(curalog.ConfigError, match="--force"):
            export_legacy(p, tmp_path / "e")
        assert export_legacy(p, tmp_path / "e", force=True).files


def test_an_imported_line_stays_linked_when_its_file_name_becomes_shared(legacy: Path) -> None:
    """Line 5 names `old/layout/unique_name.png`, found by its unique file name. A same-named
    image appears later (a cropped output): the line is ambiguous by name, but the ledger linked
    it by content hash when it was imported, so validate keeps it; a line never imported does
    not get that benefit."""
    before = validate(legacy, use_cache=False)
    with curalog.open_project(legacy) as p:
        import_legacy(p)
    make_image(legacy / "mojo2/crop/unique_name.png", (64, 48), "white")
    after = validate(legacy, use_cache=False)
    assert (after.usable_selections, after.usable_crops) == (before.usable_selections, before.usable_crops)
    assert not [f for f in after.findings if (f.source, f.line) == (SEL, 5)]
    # the same text on a new line was never imported: ambiguous, naming both images
    with open(legacy / SEL, "a", encoding="utf-8") as fh:
        fh.write("2025-10-02T14:03:11,20251002_140233,s99,mojo1/selected,old/layout/unique_name.png,[]\n")
    last = len((legacy / SEL).read_text().splitlines())
    found = [f for f in validate(legacy, use_cache=False).findings if (f.source, f.line) == (SEL, last)]
    assert [f.code for f in found] == ["path.ambiguous"]
    assert (
        "mojo1/archive/unique_name.png" in found[0].message
        and "mojo2/crop/unique_name.png" in found[0].message
    )

"""`curalog repair sizes`: re-measured, never guessed; dry run changes nothing; applying keeps the
old values with provenance and the validator then sees the repaired decision."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import curalog
from curalog.legacy.importer import import_legacy
from curalog.repair import apply_sizes, plan_sizes
from curalog.validate import validate
from tests.conftest import ledger_dump
from tests.legacy_project import CROP, Builder, selection

pytestmark = pytest.mark.usefixtures("both_backends")


def _project(root: Path) -> dict[str, int]:
    """A legacy project whose crop log has the dimension-logging bug in four flavours."""
    b = Builder(root)
    b.embedded("mojo1/crop/ok.png", size=(64, 48))
    b.embedded("mojo1/crop/zero.png", size=(80, 60))
    b.embedded("mojo1/crop/rotated.jpg", size=(48, 64), exif_orientation=6)  # seen as 64x48
    b.embedded("mojo1/crop/too_small.png", size=(40, 30))
    b.sel(selection("mojo1/crop/ok.png"))
    lines = {
        "ok": b.crop("mojo1/crop/ok.png", (4, 5, 60, 40), set_id="k1"),
        "zero": b.crop("mojo1/crop/zero.png", (10, 10, 70, 50), sizes=(0, 0), set_id="k2"),
        "rotated": b.crop("mojo1/crop/rotated.jpg", (1, 1, 60, 40), sizes=(0, 0), set_id="k3"),
        "box_too_big": b.crop("mojo1/crop/too_small.png", (10, 10, 70, 50), sizes=(0, 0), set_id="k4"),
    }
    # an image deleted since, logged correctly once and with 0x0 once; and one never logged well
    gone = b.image("mojo1/crop/gone.png", size=(50, 40))
    b.vector(gone)
    b.index("mojo1/crop/gone.png", gone)
    lines["gone_known"] = b.crop("mojo1/crop/gone.png", (1, 2, 30, 20), sizes=(50, 40), set_id="k5")
    lines["gone_zero"] = b.crop("mojo1/crop/gone.png", (2, 2, 40, 30), sizes=(0, 0), set_id="k6")
    lost = b.image("mojo1/crop/lost.png", size=(50, 40))
    b.vector(lost)
    b.index("mojo1/crop/lost.png", lost)
    lines["lost_zero"] = b.crop("mojo1/crop/lost.png", (2, 2, 40, 30), sizes=(0, 0), set_id="k7")
    b.write()
    (root / "mojo1/crop/gone.png").unlink()
    (root / "mojo1/crop/lost.png").unlink()
    return lines


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and "file_operations_logs" not in p.parts
        and "curalog-validate-cache" not in p.name
        and not p.name.endswith(("-wal", "-shm"))  # SQLite's own runtime files: the dump compares content
    }


@pytest.fixture
def legacy(tmp_path: Path):
    root = tmp_path / "proj"
    lines = _project(root)
    curalog.init_project(root)
    with curalog.open_project(root) as p:
        import_legacy(p)  # the zero rows are quarantined; the index is now in the ledger
    return root, lines


def test_plan_measures_from_the_header_or_another_record_and_never_guesses(legacy) -> None:
    root, lines = legacy
    with curalog.open_project(root) as p:
        plan = plan_sizes(p)
    by_line = {f.line: f for f in plan.fixes}
    assert set(by_line) == {lines[k] for k in ("zero", "rotated", "box_too_big", "gone_zero", "lost_zero")}
    zero = by_line[lines["zero"]]
    assert zero.fixable and zero.new == [(80, 60)] and zero.methods == ["header"]
    assert by_line[lines["rotated"]].new == [(64, 48)]  # EXIF orientation applied
    gone = by_line[lines["gone_zero"]]
    assert gone.fixable and gone.new == [(50, 40)] and gone.methods == ["other-row"]
    assert gone.evidence == [f"{CROP}:{lines['gone_known']}"]
    lost = by_line[lines["lost_zero"]]
    assert (
        not lost.fixable
        and lost.new is None
        and "no other row or ledger entry records its size" in lost.why_not
    )
    too_big = by_line[lines["box_too_big"]]
    assert not too_big.fixable and "crop.out_of_bounds" in too_big.why_not  # refused even in the dry run


def test_dry_run_changes_nothing(legacy) -> None:
    root, _ = legacy
    before = _snapshot(root)
    dump_before = ledger_dump(root)
    out = subprocess.run([sys.executable, "-m", "curalog", "repair", "sizes", "--root", str(root)],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 1 and "3 crop rows can be repaired, 2 left" in out.stdout.replace("\n", " ")
    assert "Dry run: nothing changed" in out.stdout.replace("\n", " ")
    assert _snapshot(root) == before
    assert ledger_dump(root) == dump_before


def test_apply_keeps_old_values_with_provenance_and_validation_sees_it(legacy) -> None:
    root, lines = legacy
    csv_before = (root / CROP).read_bytes()
    report = validate(root, use_cache=False)
    zero_before = {f.line for f in report.findings if f.code == "crop.zero_dimensions"}
    assert lines["zero"] in zero_before
    with curalog.open_project(root) as p:
        plan = apply_sizes(p, plan_sizes(p))
        applied = {f.line: f.applied for f in plan.fixes if f.applied}
        assert set(applied) == {lines["zero"], lines["rotated"], lines["gone_zero"]}
        d = p.ledger.decision(applied[lines["zero"]])
        assert (d.chosen.width, d.chosen.height) == (80, 60) and d.box == (10, 10, 70, 50)
        rows = p.db.query("SELECT * FROM repairs WHERE decision_id = ?", (applied[lines["zero"]],))
        assert len(rows) == 1
        r = rows[0]
        assert (r["what"], r["method"], r["source"], r["line"]) == ("sizes", "header", CROP, lines["zero"])
        assert json.loads(r["old_value"]) == [[0, 0]] and json.loads(r["new_value"]) == [[80, 60]]
        assert r["confidence"] == 1.0 and r["applied_at"]
        again = plan_sizes(p)
        assert again.already == 3 and {f.line for f in again.fixes} == {
            lines["box_too_big"],
            lines["lost_zero"],
        }
    assert (root / CROP).read_bytes() == csv_before  # the legacy log is never edited
    after = validate(root, use_cache=False)
    zero_after = {f.line for f in after.findings if f.code == "crop.zero_dimensions"}
    assert zero_after == zero_before - {lines["zero"], lines["rotated"], lines["gone_zero"]}
    assert after.crops == report.crops  # a repaired line is counted once
    assert after.usable_crops == report.usable_crops + 3


# -- repair crops ---------------------------------------------------------------------------------


def _crop_project(root: Path) -> tuple[dict[str, int], Path]:
    """Placeholder and lost boxes, with their cropped outputs saved in outputs/."""
    import random

    from PIL import Image

    from curalog.demo import natural_image

    rng = random.Random(5)
    b = Builder(root)
    outputs = root.parent / "outputs"
    outputs.mkdir()
    truth = {}
    for name in ("exact", "resized", "jpeg", "nomatch", "missing"):
        rel = f"mojo1/crop/{name}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        natural_image(rng, (400, 300)).save(root / rel)
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        b.vector(digest)
        b.index(rel, digest)
        truth[name] = (60, 40, 300, 240)
        piece = Image.open(root / rel).crop(truth[name])
        if name == "resized":
            piece = piece.resize((120, 100))
        if name == "jpeg":
            piece.save(outputs / f"{name}.jpg", quality=85)
        elif name == "nomatch":  # an output that is a crop of some other picture
            natural_image(rng, (400, 300)).crop((10, 10, 200, 150)).save(outputs / f"{name}.png")
        elif name != "missing":
            piece.save(outputs / f"{name}.png")
    lines = {
        "exact": b.crop("mojo1/crop/exact.png", (0.0, 0.0, 1.0, 1.0), sizes=(400, 300), set_id="p1"),
        "resized": b.crop("mojo1/crop/resized.png", (0, 0, 1, 1), sizes=(0, 0), set_id="p2"),  # also 0x0
        "jpeg": b.crop("mojo1/crop/jpeg.png", (200, 10, 50, 40), sizes=(400, 300), set_id="p3"),  # inverted
        "nomatch": b.crop("mojo1/crop/nomatch.png", (0, 0, 1, 1), sizes=(400, 300), set_id="p4"),
        "missing": b.crop("mojo1/crop/missing.png", (0, 0, 1, 1), sizes=(400, 300), set_id="p5"),
    }
    b.write()
    return lines, outputs


def test_repair_crops_recovers_boxes_and_says_why_not(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="OpenCV comes with the dev install (curalog[repair])")
    from curalog.repair.crops import apply_crops, plan_crops
    from curalog.repair.matcher import box_iou

    root = tmp_path / "proj"
    lines, outputs = _crop_project(root)
    curalog.init_project(root)
    with curalog.open_project(root) as p:
        import_legacy(p)
        before = _snapshot(root)
        plan = plan_crops(p, outputs)
        assert _snapshot(root) == before  # the dry run changes nothing
        by_line = {f.line: f for f in plan.fixes}
        for name in ("exact", "resized", "jpeg"):
            f = by_line[lines[name]]
            assert f.fixable and box_iou(f.new, (60, 40, 300, 240)) >= 0.95 and f.confidence >= 0.9, (name, f)
        assert by_line[lines["exact"]].new == (60, 40, 300, 240)
        nomatch = by_line[lines["nomatch"]]
        assert not nomatch.fixable and ("confidence" in nomatch.why_not or "not found" in nomatch.why_not)
        assert "no cropped output named missing.*" in by_line[lines["missing"]].why_not
        apply_crops(p, plan)
        rows = {r["line"]: r for r in p.db.query("SELECT * FROM repairs WHERE what = 'box'")}
        assert set(rows) == {lines["exact"], lines["resized"], lines["jpeg"]}
        r = rows[lines["resized"]]
        assert json.loads(r["old_value"]) == [0, 0, 1, 1] and r["method"] == "locate_crop"
        assert r["evidence"].endswith("resized.png; sizes measured from the files") and r["confidence"] >= 0.9
        d = p.ledger.decision(next(f.applied for f in plan.fixes if f.line == lines["resized"]))
        assert (d.chosen.width, d.chosen.height) == (400, 300)
    report = validate(root, use_cache=False)
    codes = {(f.code, f.line) for f in report.findings}
    assert ("crop.placeholder", lines["exact"]) not in codes and (
        "crop.invalid_box",
        lines["jpeg"],
    ) not in codes
    assert ("crop.placeholder", lines["nomatch"]) in codes  # left as it was, with its finding


# -- extract-history ------------------------------------------------------------------------------
def test_extract_history_rebuilds_choices_and_crops(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="OpenCV comes with the dev install (curalog[repair])")
    import random

    from PIL import Image

    from curalog.demo import natural_image, stages_of
    from curalog.repair.history import apply_history, extract_history

    root = tmp_path / "proj"
    folder = root / "mojo9"
    rng = random.Random(2)
    expected = {}
    for s in range(3):
        stages = stages_of(natural_image(rng, (360, 270)))
        for i, im in enumerate(stages, start=1):
            (folder / "raw").mkdir(parents=True, exist_ok=True)
            im.save(folder / "raw" / f"set{s}_stage{i}.png")
        chosen = s % 3
        if s < 2:  # a crop of the chosen variant
            box = (40 + 10 * s, 30, 300, 220)
            (folder / "crop").mkdir(exist_ok=True)
            stages[chosen].crop(box).save(folder / "crop" / f"set{s}_stage{chosen + 1}.png")
            expected[f"set{s}"] = ("crop", chosen, box)
        else:  # a plain copy of the chosen variant
            (folder / "selected").mkdir(exist_ok=True)
            (folder / "selected" / f"set{s}_stage{chosen + 1}.png").write_bytes(
                (folder / "raw" / f"set{s}_stage{chosen + 1}.png").read_bytes()
            )
            expected[f"set{s}"] = ("selection", chosen, None)
    natural_image(rng, (200, 150)).save(folder / "crop" / "stray_stage1.png")  # no variants
    Image.new("RGB", (50, 50), "red").save(folder / "crop" / "set0_stage9.png")  # found nowhere
    curalog.init_project(root)
    with curalog.open_project(root) as p:
        p.embed([f"mojo9/raw/set{s}_stage{i}.png" for s in range(3) for i in (1, 2, 3)])
        history = extract_history(p, folder)
        got = {r.set_id: (r.kind, r.chosen, r.box) for r in history.decisions}
        assert got == expected
        reasons = {r.output.rsplit("/", 1)[-1]: r.why_not for r in history.unmatched}
        assert "no variants of set 'stray'" in reasons["stray_stage1.png"]
        assert "found in no variant" in reasons["set0_stage9.png"]
        assert p.ledger.count("crop") == 0  # the dry run logged nothing
        apply_history(p, history)
        assert p.ledger.count("crop") == 2 and p.ledger.count("selection") == 1
        d = p.ledger.decision(next(r.applied for r in history.decisions if r.set_id == "set0"))
        assert d.chosen.path == "mojo9/raw/set0_stage1.png" and d.box == (40, 30, 300, 220)
        prov = p.db.query("SELECT * FROM repairs WHERE what = 'history'")
        assert len(prov) == 3 and all(r["evidence"].startswith("mojo9/") for r in prov)

"""COCO export, checked by validators no one here wrote: panlabel (a Rust CLI that validates COCO)
and pycocotools (COCO's reference loader)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curalog.interop.coco import coco_bbox, export_coco
from curalog.interop.items import pixel
from curalog.project import Project
from tests.conftest import SET0, SET1, rotated_jpeg

pytestmark = pytest.mark.usefixtures("both_backends")
PANLABEL = shutil.which("panlabel") or str(Path(sys.executable).parent / "panlabel")


def _decide(p: Project) -> dict[str, int]:
    with p.session(tool="t") as s:
        return {
            "crop": s.log_crop("set0", "mojo1/selected", SET0, 1, (10.4, 20.5, 300.5, 200.49)),
            "selection": s.log_selection("set1", "mojo1/selected", SET1, 2),
            "undone": (u := s.log_crop("set1", "mojo1/selected", SET1, 0, (5, 5, 100, 100))),
            "_": s.undo(u, "wrong") or 0,
        }


def test_the_export_is_valid_coco_and_reconciles(embedded: Project, tmp_path: Path) -> None:
    ids = _decide(embedded)
    out = export_coco(embedded, tmp_path / "crops.json")
    assert (out.decisions, out.written, out.images) == (2, 1, 1) and out.reconciles
    assert out.left_out == [(ids["selection"], "a selection has no box")]  # the undone one is not read
    doc = json.loads((tmp_path / "crops.json").read_text())
    [ann] = doc["annotations"]
    assert ann["bbox"] == [10, 21, 291, 179]  # corners to the nearest pixel (halves up), then w, h
    assert ann["curalog"]["decision"] == ids["crop"] and len(ann["curalog"]["candidates"]) == 3
    [img] = doc["images"]
    assert (img["file_name"], img["width"], img["height"]) == (SET0[1], 640, 480)
    checked = subprocess.run([PANLABEL, "validate", "--format", "coco", str(tmp_path / "crops.json")],
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    from pycocotools.coco import COCO

    coco = COCO(str(tmp_path / "crops.json"))
    assert coco.getCatIds(catNms=["crop"]) == [1] and len(coco.getAnnIds()) == 1


def test_an_exif_rotated_portrait_has_its_seen_size(project: Project, tmp_path: Path) -> None:
    rel = "mojo1/selected/portrait_stage1.jpg"
    rotated_jpeg(project.root / rel, stored=(80, 40), orientation=6)  # stored 80x40, seen 40x80
    project.paths.forget()
    assert project.embed([rel]).ok
    with project.session() as s:
        s.log_crop("portrait", "mojo1/selected", [rel], 0, (5, 10, 35, 70))
    export_coco(project, tmp_path / "p.json")
    [img] = json.loads((tmp_path / "p.json").read_text())["images"]
    assert (img["width"], img["height"]) == (40, 80)


def test_the_export_never_writes_over_the_project_or_an_existing_file(
    embedded: Project, tmp_path: Path
) -> None:
    from curalog.errors import ConfigError

    with pytest.raises(ConfigError):
        export_coco(embedded, embedded.config.path("crop_log"), force=True)
    (tmp_path / "kept.json").write_text("mine")
    with pytest.raises(ConfigError):
        export_coco(embedded, tmp_path / "kept.json")
    assert (tmp_path / "kept.json").read_text() == "mine"
    cli = subprocess.run([sys.executable, "-m", "curalog", "export", "coco", str(tmp_path / "kept.json"),
                          "--root", str(embedded.root)], capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 4000), st.floats(0, 4000), st.floats(0.5, 4000), st.floats(0.5, 4000))
def test_the_rounding_rule_keeps_each_corner_to_the_nearest_pixel(
    x: float, y: float, w: float, h: float
) -> None:
    box = (x, y, x + w, y + h)
    bx, by, bw, bh = coco_bbox(box)
    assert (bx, by, bx + bw, by + bh) == tuple(pixel(v) for v in box)
    assert all(abs(a - b) <= 0.5 for a, b in zip((bx, by, bx + bw, by + bh), box, strict=True))


def test_ledger_to_coco_to_ledger_gives_the_same_decisions(
    embedded: Project, tmp_path: Path, both_backends: str, request, monkeypatch
) -> None:
    """Boxes equal to the pixel (after the rounding rule), the set, the candidates and the choice."""
    import curalog
    from curalog.interop.coco import import_coco

    _decide(embedded)
    export_coco(embedded, tmp_path / "out.json")
    other = tmp_path / "other"
    shutil.copytree(embedded.root / "mojo1", other / "mojo1")
    curalog.init_project(other)
    if both_backends == "postgres":  # the other project has a ledger of its own
        monkeypatch.setenv("CURALOG_DATABASE_URL", request.getfixturevalue("pg_server").new_database())
    with curalog.open_project(other) as q:
        assert q.embed(SET0 + SET1).ok
        dry = import_coco(q, tmp_path / "out.json", dry_run=True)
        assert (dry.imported, q.ledger.count()) == (1, 0)
        got = import_coco(q, tmp_path / "out.json")
        assert (got.items, got.imported, got.refused) == (1, 1, []) and got.reconciles
        again = import_coco(q, tmp_path / "out.json")
        assert (again.imported, again.already) == (0, 1) and q.ledger.count() == 1
        [d] = list(q.ledger.decisions())
    [src] = [d for d in embedded.ledger.decisions() if d.kind == "crop"]
    assert (d.set_id, d.directory, d.chosen_idx) == (src.set_id, src.directory, src.chosen_idx)
    assert [c.hash for c in d.candidates] == [c.hash for c in src.candidates]
    assert d.box == tuple(float(pixel(v)) for v in src.box)  # type: ignore[union-attr]


def test_bad_annotations_are_refused_with_their_codes_and_kept(embedded: Project, tmp_path: Path) -> None:
    from curalog.interop.coco import import_coco

    doc = {
        "images": [{"id": 1, "file_name": SET0[0], "width": 640, "height": 480}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 640, 480]},  # the whole image
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [600, 10, 100, 100]},  # past the right edge
            {"id": 3, "image_id": 9, "category_id": 1, "bbox": [1, 1, 5, 5]},  # no such image
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [10, 10, "w", 5]},
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 50]},  # a good one
        ],
        "categories": [{"id": 1, "name": "crop"}],
    }
    (tmp_path / "in.json").write_text(json.dumps(doc))
    result = import_coco(embedded, tmp_path / "in.json")
    assert result.imported == 1 and result.reconciles
    codes = {n: why.split(":")[0] for n, why in result.refused}
    assert codes == {
        1: "crop.placeholder",
        2: "crop.out_of_bounds",
        3: "row.malformed",
        4: "crop.invalid_box",
    }
    kept = embedded.db.query("SELECT line, codes FROM quarantine ORDER BY line")
    assert [(r["line"], r["codes"]) for r in kept] == sorted(codes.items())
    cli = subprocess.run([sys.executable, "-m", "curalog", "import", "coco", str(tmp_path / "in.json"),
                          "--root", str(embedded.root)], capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 1 and "already in the ledger 1" in cli.stdout and "Traceback" not in cli.stderr


_x = st.integers(0, 64_000).map(lambda v: v / 100)  # hundredths of a pixel, edges included
_y = st.integers(0, 48_000).map(lambda v: v / 100)
boxes = st.tuples(_x, _y, _x, _y).filter(
    lambda b: b[0] + 2 <= b[2] and b[1] + 2 <= b[3] and (b[0], b[1], b[2], b[3]) != (0, 0, 640, 480)
)


@settings(max_examples=10, deadline=None)
@given(boxes_=st.lists(boxes, min_size=1, max_size=12, unique=True))
def test_any_crop_the_ledger_takes_survives_export_and_import(
    tmp_path_factory, pg_server, boxes_: list
) -> None:
    import os

    on_server = bool(os.environ.get("CURALOG_DATABASE_URL"))
    import curalog
    from curalog.interop.coco import import_coco

    base = tmp_path_factory.mktemp("prop")
    src, dst = base / "src", base / "dst"
    for i, c in enumerate(["#aa0000", "#00aa00", "#0000aa"]):
        from tests.conftest import make_image

        make_image(src / "mojo1" / "selected" / f"set0_stage{i + 1}.png", (640, 480), c)
    shutil.copytree(src, dst)
    for root in (src, dst):
        curalog.init_project(root)
    if on_server:  # each example, and each of its two projects, gets a ledger of its own
        os.environ["CURALOG_DATABASE_URL"] = pg_server.new_database()
    with curalog.open_project(src) as p:
        assert p.embed(SET0).ok
        with p.session() as s:
            for k, box in enumerate(boxes_):
                s.log_crop(f"set{k}", "mojo1/selected", SET0, k % 3, box)
        out = export_coco(p, base / "x.json")
        left = {ref for ref, _why in out.left_out}
        assert all(
            why.startswith("the box rounded") or why.startswith("the box rounds") for _, why in out.left_out
        )
        before = sorted((d.set_id, d.chosen.hash, tuple(float(pixel(v)) for v in d.box))
                        for d in p.ledger.decisions() if d.id not in left)  # fmt: skip
    if on_server:
        os.environ["CURALOG_DATABASE_URL"] = pg_server.new_database()
    with curalog.open_project(dst) as q:
        assert q.embed(SET0).ok
        got = import_coco(q, base / "x.json")
        assert (got.imported, got.refused) == (out.written, [])  # what is exported comes back, all of it
        after = sorted((d.set_id, d.chosen.hash, d.box) for d in q.ledger.decisions())
    assert after == before

"""Files written by the other tools themselves, taken in by curalog: Label Studio's own COCO
converter (the SDK's ``Converter``, as its COCO export button runs it: file names keep Label
Studio's URLs, ids start at 0, sizes are what the browser reported) and panlabel's Label Studio
writer (single-image ``rectanglelabels`` tasks)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from curalog.interop.coco import export_coco, import_coco
from curalog.interop.items import pixel
from curalog.interop.labelstudio import import_labelstudio
from curalog.project import Project
from tests.conftest import SET0, SET1, make_image, rotated_jpeg
from tests.test_coco import PANLABEL
from tests.test_labelstudio import SDK_PYTHON, _ann, _rect, _task

pytestmark = pytest.mark.usefixtures("both_backends")
ROOT = Path(__file__).resolve().parents[1]
CONFIG = (
    '<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
    '<Label value="crop"/></RectangleLabels></View>'
)


def test_label_studios_own_coco_export_is_taken_in(project: Project, tmp_path: Path) -> None:
    root = project.root
    for i, c in enumerate(["#aa0000", "#00aa00", "#0000aa"]):
        make_image(root / "mojo1" / "selected" / f"set0_stage{i + 1}.png", (640, 480), c)
    rotated_jpeg(root / "mojo2" / "portrait.jpg", stored=(80, 40), orientation=6)  # seen 40x80
    project.paths.forget()
    assert project.embed([*SET0, "mojo2/portrait.jpg"]).ok
    tasks = [
        _task(
            1, {"image": "/data/upload/3/8f2a1c0d-set0_stage2.png"}, _ann(11, _rect("image", 10, 10, 50, 40))
        ),
        _task(
            2,
            {"image": "/data/local-files/?d=mojo2/portrait.jpg"},
            _ann(12, _rect("image", 10, 10, 50, 50, size=(40, 80))),
        ),  # the size as seen
        _task(
            3,
            {"image": "/data/local-files/?d=mojo2/portrait.jpg"},
            _ann(13, _rect("image", 10, 10, 50, 50, size=(80, 40))),
        ),  # label-studio #6608: not rotated
    ]
    (tmp_path / "config.xml").write_text(CONFIG)
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    made = subprocess.run(
        [
            str(SDK_PYTHON),
            str(ROOT / "tests" / "labelstudio_to_coco.py"),
            str(tmp_path / "config.xml"),
            str(tmp_path / "export.json"),
            str(tmp_path / "coco"),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    coco = json.loads((tmp_path / "coco" / "result.json").read_text())
    assert (
        coco["images"][0]["file_name"] == "/data/upload/3/8f2a1c0d-set0_stage2.png"
    )  # the shape it really has
    got = import_coco(project, tmp_path / "coco" / "result.json")
    assert got.reconciles and got.imported == 2
    assert [why.split(":")[0] for _, why in got.refused] == ["crop.dimension_mismatch"]
    boxes = sorted((d.chosen.path, d.box) for d in project.ledger.decisions())
    assert boxes == [(SET0[1], (64.0, 48.0, 384.0, 240.0)), ("mojo2/portrait.jpg", (4.0, 8.0, 24.0, 48.0))]


def test_panlabels_label_studio_file_is_taken_in(
    embedded: Project, tmp_path: Path, request, monkeypatch, both_backends: str
) -> None:
    """curalog's COCO -> panlabel's Label Studio writer -> curalog: the same chosen images and boxes."""
    from tests.test_labelstudio import _other

    with embedded.session() as s:
        s.log_crop("set0", "mojo1/selected", SET0, 1, (10, 20, 300, 200))
        s.log_crop("set1", "mojo1/selected", SET1, 2, (100, 50, 500, 400))
    export_coco(embedded, tmp_path / "crops.json")
    made = subprocess.run(
        [
            PANLABEL,
            "convert",
            "--from",
            "coco",
            "--to",
            "label-studio",
            "--allow-lossy",
            "--input",
            str(tmp_path / "crops.json"),
            "--output",
            str(tmp_path / "ls.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    written = json.loads((tmp_path / "ls.json").read_text())
    assert {r["type"] for t in written for a in t["annotations"] for r in a["result"]} == {"rectanglelabels"}
    with _other(tmp_path, embedded, request, both_backends, monkeypatch) as q:
        assert q.embed(SET0 + SET1).ok
        got = import_labelstudio(q, tmp_path / "ls.json")
        assert (got.imported, got.refused, got.skipped) == (2, [], []) and got.reconciles
        after = sorted((d.chosen.hash, tuple(pixel(v) for v in d.box)) for d in q.ledger.decisions())
    before = sorted((d.chosen.hash, tuple(pixel(v) for v in d.box)) for d in embedded.ledger.decisions())
    assert after == before

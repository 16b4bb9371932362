"""FiftyOne export, read back the way FiftyOne's own importer reads it. curalog cannot install
``fiftyone`` in the tests (it starts a MongoDB server), so ``fiftyone_load`` below follows
``FiftyOneImageDetectionDatasetImporter.setup`` and ``_load_data_map`` (fiftyone 1.22, read from
its source): labels.json's ``labels`` keys are uuids; with no ``data/`` folder the media come from
``data.json`` (uuid -> path joined onto the folder, extensions dropped from the keys); each
detection becomes ``Detection(label=classes[label] or str(label), bounding_box, **attributes)``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from curalog.errors import ConfigError
from curalog.interop.fiftyone import export_fiftyone
from curalog.project import Project
from tests.conftest import SET0, SET1, rotated_jpeg

pytestmark = pytest.mark.usefixtures("both_backends")


def fiftyone_load(folder: Path) -> list[tuple[str, list[dict]]]:
    labels = json.loads((folder / "labels.json").read_text())
    if (folder / "data").is_dir():
        raise AssertionError("curalog writes no data/ folder: the manifest names the media")
    data_map = json.loads((folder / "data.json").read_text())
    paths = {os.path.splitext(k)[0]: os.path.normpath(os.path.join(folder, v)) for k, v in data_map.items()}
    classes = labels.get("classes")
    samples = []
    for uuid in sorted(labels.get("labels", {})):
        image_path = uuid if os.path.isabs(uuid) else paths[uuid]
        detections = []
        for obj in labels["labels"][uuid]:
            try:
                label = classes[obj["label"]]
            except (TypeError, IndexError, KeyError):
                label = str(obj["label"])
            x, y, w, h = obj["bounding_box"]
            assert all(0 <= v <= 1 for v in (x, y, w, h)) and x + w <= 1 + 1e-12 and y + h <= 1 + 1e-12
            detections.append({"label": label, "bounding_box": [x, y, w, h], **obj.get("attributes", {})})
        samples.append((image_path, detections))
    return samples


def _decide(p: Project) -> int:
    with p.session(tool="t") as s:
        s.log_crop("set0", "mojo1/selected", SET0, 1, (10.5, 20, 300.25, 200))
        s.log_crop("set0b", "mojo1/selected", SET0, 1, (0, 0, 320, 240))  # same image, a second crop
        return s.log_selection("set1", "mojo1/selected", SET1, 2)


@pytest.mark.parametrize("relative", [False, True])
def test_fiftyone_reads_every_crop_back_in_pixels(embedded: Project, tmp_path: Path, relative: bool) -> None:
    _decide(embedded)
    out = export_fiftyone(embedded, tmp_path / "fo", relative=relative)
    assert (out.decisions, out.written, out.images, out.reasons()) == (
        3, 2, 1, {"a selection has no box": 1})  # fmt: skip
    [(image_path, detections)] = fiftyone_load(tmp_path / "fo")
    assert Path(image_path) == (embedded.root / SET0[1]).resolve() and Path(image_path).is_file()
    with Image.open(image_path) as im:
        w, h = ImageOps.exif_transpose(im).size
    got = sorted(tuple(round(v, 9) for v in (d["bounding_box"][0] * w, d["bounding_box"][1] * h,
                                               (d["bounding_box"][0] + d["bounding_box"][2]) * w,
                                               (d["bounding_box"][1] + d["bounding_box"][3]) * h))
                 for d in detections)  # fmt: skip
    assert got == [(0, 0, 320, 240), (10.5, 20, 300.25, 200)]
    assert {d["label"] for d in detections} == {"crop"}
    assert {d["curalog_set_id"] for d in detections} == {"set0", "set0b"}
    assert all(len(d["curalog_candidates"]) == 3 for d in detections)


def test_an_exif_rotated_portrait_is_relative_to_its_seen_size(project: Project, tmp_path: Path) -> None:
    rel = "mojo1/selected/portrait_stage1.jpg"
    rotated_jpeg(project.root / rel, stored=(80, 40), orientation=6)  # seen 40x80
    project.paths.forget()
    assert project.embed([rel]).ok
    with project.session() as s:
        s.log_crop("portrait", "mojo1/selected", [rel], 0, (4, 8, 36, 72))
    export_fiftyone(project, tmp_path / "fo")
    [(_path, [d])] = fiftyone_load(tmp_path / "fo")
    assert d["bounding_box"] == pytest.approx([0.1, 0.1, 0.8, 0.8])


def test_the_folder_rules_hold_for_fiftyone_too(embedded: Project, tmp_path: Path) -> None:
    selection = _decide(embedded)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "labels.json").write_text("mine")
    with pytest.raises(ConfigError, match="holds no earlier fiftyone export"):
        export_fiftyone(embedded, tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "labels.json").read_text() == "mine"
    export_fiftyone(embedded, tmp_path / "fo")
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "curalog",
            "export",
            "fiftyone",
            str(tmp_path / "fo"),
            "--root",
            str(embedded.root),
            "--force",
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0 and "2 crops on 1 images" in cli.stdout, cli.stdout + cli.stderr
    manifest = json.loads((tmp_path / "fo" / "curalog-export.json").read_text())
    assert manifest["account"]["left_out"] == [{"decision": selection, "why": "a selection has no box"}]

"""``dataset build --format``: the dataset's crops also as COCO, Label Studio and FiftyOne, each
checked by a reader no one here wrote (panlabel and pycocotools; Label Studio's SDK; FiftyOne's
importer logic), with the same reconciliation as the Parquet set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from curalog.dataset import build, load
from curalog.dataset.formats import NOT_ON_DISK
from curalog.errors import ConfigError
from tests.legacy_project import build as build_legacy
from tests.test_coco import PANLABEL
from tests.test_fiftyone import fiftyone_load
from tests.test_labelstudio import sdk_check

pytestmark = pytest.mark.usefixtures("both_backends")


def test_every_format_carries_every_crop_of_the_dataset_or_says_why(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    build_legacy(root)
    first = load(build(root, tmp_path / "first").out).crops
    (root / first.chosen_path.iloc[0]).unlink()  # its vector stays: the crop can still train
    result = build(root, tmp_path / "ds", formats=["coco,labelstudio", "fiftyone", "coco"])
    out, formats = result.out, result.manifest["formats"]
    crops = load(out).crops
    assert sorted(formats) == ["coco", "fiftyone", "labelstudio"]
    for fmt, account in formats.items():
        assert account["decisions"] == len(crops), fmt
        assert account["decisions"] == account["written"] + len(account["left_out"]) and account["reconciles"]
        assert all((out / f).is_file() for f in account["files"])
    missing = {d["decision"] for d in formats["coco"]["left_out"] if d["why"] == NOT_ON_DISK}
    assert missing and all(not (root / p).exists() for p in crops[crops.decision.isin(missing)].chosen_path)
    exported = set(crops.decision) - {d["decision"] for d in formats["coco"]["left_out"]}

    coco = json.loads((out / "coco" / "annotations.json").read_text())
    assert {a["curalog"]["decision"] for a in coco["annotations"]} == exported
    checked = subprocess.run(
        [PANLABEL, "validate", "--format", "coco", str(out / "coco" / "annotations.json")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    from pycocotools.coco import COCO

    assert len(COCO(str(out / "coco" / "annotations.json")).getAnnIds()) == formats["coco"]["written"]

    ls = sdk_check(out / "labelstudio")
    assert ls.returncode == 0 and ls.stdout.strip() == f"ok {formats['labelstudio']['written']}", ls.stdout
    tasks = json.loads((out / "labelstudio" / "tasks.json").read_text())
    assert {t["data"]["curalog"]["decision"] for t in tasks} == exported

    samples = fiftyone_load(out / "fiftyone")
    assert {d["curalog_decision"] for _, ds in samples for d in ds} == exported
    assert all(Path(path).is_file() for path, _ in samples)

    # the boxes agree with crops.parquet: COCO to the pixel, FiftyOne exactly
    row = crops.set_index("decision")
    for a in coco["annotations"]:
        img = next(i for i in coco["images"] if i["id"] == a["image_id"])
        r = row.loc[a["curalog"]["decision"]]
        x, y, w, h = a["bbox"]
        assert abs(x - r.x1 * img["width"]) <= 0.5 and abs(x + w - r.x2 * img["width"]) <= 0.5
        assert abs(y - r.y1 * img["height"]) <= 0.5 and abs(y + h - r.y2 * img["height"]) <= 0.5
    for _, ds in samples:
        for d in ds:
            r = row.loc[d["curalog_decision"]]
            assert d["bounding_box"] == pytest.approx([r.x1, r.y1, r.x2 - r.x1, r.y2 - r.y1], abs=1e-12)

    again = build(root, out, formats=["labelstudio"], force=True)  # a set with format folders is replaced
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["crops.parquet", "pairs.parquet", "embeddings.npy", "manifest.json", "drops.csv", "labelstudio"]
    )
    assert list(again.manifest["formats"]) == ["labelstudio"]


def test_an_unknown_format_is_named_before_anything_is_done(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    build_legacy(root)
    with pytest.raises(ConfigError, match="parquet, yolo: unknown"):
        build(root, tmp_path / "ds", formats=["coco,yolo", "parquet"])
    assert not (tmp_path / "ds").exists()
    cli = _build_cli(root, tmp_path / "ds", "yolo")
    assert cli.returncode == 2 and "yolo: unknown" in cli.stderr and "Traceback" not in cli.stderr
    cli = _build_cli(root, tmp_path / "ds", "coco")
    assert cli.returncode == 0 and "coco: " in cli.stdout and "coco/annotations.json" in cli.stdout, (
        cli.stderr
    )


def _build_cli(root: Path, out: Path, fmt: str) -> subprocess.CompletedProcess:
    args = ["dataset", "build", "--root", str(root), "--out", str(out), "--format", fmt]
    return subprocess.run([sys.executable, "-m", "curalog", *args], capture_output=True, text=True)


def test_a_foreign_file_in_a_format_folder_stops_a_forced_rebuild(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    build_legacy(root)
    out = build(root, tmp_path / "ds", formats=["coco"]).out
    (out / "coco" / "my-notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="other files"):
        build(root, out, formats=["coco"], force=True)
    assert (out / "coco" / "my-notes.txt").read_text() == "mine"

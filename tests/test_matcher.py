"""`curalog.repair.locate_crop` on generated images: exact, resized, re-encoded, rotated, wrong."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("cv2", reason="OpenCV comes with the dev install (curalog[repair])")

from curalog.demo import natural_image as natural
from curalog.repair import locate_crop
from curalog.repair.matcher import box_iou as iou


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("orig")
    rng = random.Random(11)
    out = []
    for i, size in enumerate([(800, 600), (600, 800), (700, 700)]):
        p = folder / f"o{i}.png"
        natural(rng, size).save(p)
        out.append(p)
    return out


def test_exact_crop_to_the_pixel(originals, tmp_path: Path) -> None:
    box = (123, 77, 456, 390)
    Image.open(originals[0]).crop(box).save(tmp_path / "c.png")
    found = locate_crop(originals[0], tmp_path / "c.png")
    assert found is not None and found[:4] == box and found[4] > 0.99


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.3, 2.0])
def test_resized_crop(originals, tmp_path: Path, scale: float) -> None:
    box = (60, 200, 420, 520)
    piece = Image.open(originals[1]).crop(box)
    piece.resize((round(piece.width * scale), round(piece.height * scale)), Image.Resampling.LANCZOS).save(
        tmp_path / "c.png"
    )
    found = locate_crop(originals[1], tmp_path / "c.png")
    assert found is not None and iou(found[:4], box) >= 0.95 and found[4] > 0.9


def test_jpeg_reencoded_crop(originals, tmp_path: Path) -> None:
    box = (300, 250, 650, 690)
    Image.open(originals[2]).crop(box).save(tmp_path / "c.jpg", quality=85)
    found = locate_crop(originals[2], tmp_path / "c.jpg")
    assert found is not None and iou(found[:4], box) >= 0.95


def test_exif_rotated_original_gives_upright_pixels(originals, tmp_path: Path) -> None:
    upright = Image.open(originals[0])  # 800x600 as the person saw it
    stored = upright.rotate(90, expand=True)  # stored sideways; EXIF 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "rotated.jpg", quality=95, exif=exif.tobytes())
    box = (200, 100, 520, 400)
    upright.crop(box).save(tmp_path / "c.png")
    found = locate_crop(tmp_path / "rotated.jpg", tmp_path / "c.png")
    assert found is not None and iou(found[:4], box) >= 0.95


def test_a_crop_of_another_image_is_not_found(originals, tmp_path: Path) -> None:
    Image.open(originals[0]).crop((100, 100, 400, 350)).save(tmp_path / "c.png")
    assert locate_crop(originals[1], tmp_path / "c.png", min_confidence=0.9) is None
    assert locate_crop(originals[2], tmp_path / "c.png", min_confidence=0.9) is None

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from curalog.errors import ImageError
from curalog.images import image_size, load_image, sha256_file
from tests.conftest import make_image, png_header_only, rotated_jpeg


def test_size_from_header(tmp_path: Path) -> None:
    assert image_size(make_image(tmp_path / "a.png", (1920, 1080))) == (1920, 1080)


@pytest.mark.parametrize("orientation,expected", [(1, (80, 40)), (3, (80, 40)), (6, (40, 80)), (8, (40, 80))])
def test_exif_orientation_applied(tmp_path: Path, orientation: int, expected: tuple[int, int]) -> None:
    path = rotated_jpeg(tmp_path / "r.jpg", (80, 40), orientation)
    assert image_size(path) == expected
    assert load_image(path).size == expected


def test_decompression_bomb_refused(tmp_path: Path) -> None:
    bomb = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(ImageError, match="decompression bomb"):
        image_size(bomb)
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(bomb)


def test_truncated_file_refused_on_decode(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    path = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert image_size(path) == (200, 200)  # the header is intact
    with pytest.raises(ImageError, match="truncated"):
        load_image(path)


def test_header_only_png_is_truncated(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        load_image(png_header_only(tmp_path / "h.png", 10, 10))


def test_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "x.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(ImageError, match="not a readable image"):
        image_size(bad)
    with pytest.raises(ImageError, match="file not found"):
        image_size(tmp_path / "missing.png")


def test_sha256_streams_whole_file(tmp_path: Path) -> None:
    p = tmp_path / "big.bin"
    data = bytes(range(256)) * 20_000  # > several chunks
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()

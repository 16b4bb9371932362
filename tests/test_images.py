from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def _pillow_size(path: Path) -> tuple[int, int] | str:
    """What image_size said before the plain-PNG fast path: Pillow's answer, or its refusal."""
    from curalog import images

    try:
        with images.open_image(path) as im:
            w, h = im.size
            if images._orientation(im) in images._SWAPPING:
                w, h = h, w
        if w <= 0 or h <= 0:
            return "refused"
        return w, h
    except ImageError:
        return "refused"


def _png_variants(tmp_path: Path) -> list[Path]:
    import struct
    import zlib

    from PIL import Image, PngImagePlugin

    out: list[Path] = []
    for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        p = tmp_path / f"m-{mode.replace(';', '')}.png"
        Image.new(mode, (37, 23)).save(p)
        out.append(p)
    p = tmp_path / "interlaced.png"
    Image.new("RGB", (31, 17)).save(p, interlace=1)
    out.append(p)
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 5000)  # pushes IDAT past the first 4 KiB
    p = tmp_path / "long-text.png"
    Image.new("RGB", (40, 30)).save(p, pnginfo=info)
    out.append(p)
    for orientation in (1, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        p = tmp_path / f"exif-{orientation}.png"
        Image.new("RGB", (50, 20)).save(p, exif=exif.tobytes())
        out.append(p)
    good = (tmp_path / "m-RGB.png").read_bytes()
    p = tmp_path / "bad-crc.png"  # IHDR CRC broken
    p.write_bytes(good[:29] + bytes([good[29] ^ 0xFF]) + good[30:])
    out.append(p)
    p = tmp_path / "zero-width.png"
    ihdr = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    p.write_bytes(good[:8] + chunk + good[33:])
    out.append(p)
    p = tmp_path / "bad-filter.png"
    ihdr = struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 1, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    p.write_bytes(good[:8] + chunk + good[33:])
    out.append(p)
    out.append(png_header_only(tmp_path / "bomb.png", 100_000, 100_000))
    p = tmp_path / "cut.png"
    p.write_bytes(good[:20])
    out.append(p)
    return out


def test_plain_png_fast_path_agrees_with_pillow(tmp_path: Path) -> None:
    from curalog import images

    variants = _png_variants(tmp_path)
    fast_used = 0
    for path in variants:
        expected = _pillow_size(path)
        fast = images._plain_png_size(path)
        if fast is not None:
            fast_used += 1
            assert fast == expected, path.name
        try:
            got: tuple[int, int] | str = image_size(path)
        except ImageError:
            got = "refused"
        assert got == expected, path.name
    # the fast path answered the plain ones and left EXIF, long headers and damage to Pillow
    assert fast_used == 8
    assert images._plain_png_size(tmp_path / "exif-6.png") is None
    assert image_size(tmp_path / "exif-6.png") == (20, 50)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), limit=st.integers(-1, 3100), chunk=st.integers(1, 700))
def test_reading_by_chunks_is_reading_the_file(tmp_path: Path, data: bytes, limit: int, chunk: int) -> None:
    """``read_regular`` and ``sha256_file`` read by plain ``os.read`` calls (no file object):
    every byte up to the limit, whatever the chunk size, as reading the file whole gives."""
    import os

    from curalog.files import chunks_of, read_regular

    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert read_regular(p, limit) == (data if limit < 0 else data[:limit])
    with pytest.raises(ValueError, match="non-negative or -1"):
        read_regular(p, -2)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
    fd = os.open(p, os.O_RDONLY)
    try:
        pieces = list(chunks_of(fd, limit, chunk))
    finally:
        os.close(fd)
    assert b"".join(pieces) == (data if limit < 0 else data[:limit])
    assert all(0 < len(piece) <= chunk for piece in pieces)

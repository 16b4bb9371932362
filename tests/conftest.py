from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import curalog
from curalog.project import Project

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine notes say: without the background-networking flags Chromium tries to reach
# Google's hosts at every start.
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def make_image(path: Path, size: tuple[int, int] = (64, 48), colour: object = "red", **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, **save)
    return path


def rotated_jpeg(path: Path, stored: tuple[int, int] = (80, 40), orientation: int = 6) -> Path:
    """A JPEG stored ``stored`` (w, h) whose EXIF says to rotate it (so it is seen h x w)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new("RGB", stored, "blue").save(path, exif=exif.tobytes())
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that is only a signature and an IHDR chunk claiming ``width`` x ``height``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + iend)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project with two sets of three variants each (distinct colours) and curalog.toml."""
    r = tmp_path / "proj"
    colours = ["#aa0000", "#00aa00", "#0000aa", "#aaaa00", "#00aaaa", "#aa00aa"]
    for i, c in enumerate(colours):
        s = i // 3
        make_image(r / "mojo1" / "selected" / f"set{s}_stage{i % 3 + 1}.png", (640, 480), c)
    curalog.init_project(r)
    return r


@pytest.fixture
def project(root: Path):
    with curalog.open_project(root) as p:
        yield p


SET0 = [f"mojo1/selected/set0_stage{i}.png" for i in (1, 2, 3)]
SET1 = [f"mojo1/selected/set1_stage{i}.png" for i in (1, 2, 3)]


@pytest.fixture
def embedded(project: Project) -> Project:
    result = project.embed(SET0 + SET1)
    assert result.ok, result
    return project


@pytest.fixture
def count_rows() -> Callable[[Project], tuple[int, int]]:
    def count(p: Project) -> tuple[int, int]:
        d = p.db.conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
        c = p.db.conn.execute("SELECT count(*) FROM candidates").fetchone()[0]
        return d, c

    return count


@pytest.fixture(autouse=True, scope="session")
def _no_tqdm_monitor_thread():
    """transformers' progress bars (saving the tiny test model) start tqdm's monitor thread,
    which outlives them; a process with an extra thread rightly never forks its vector check,
    which tests/test_vectors.py exercises. Tests do not need the monitor."""
    try:
        import tqdm
    except ImportError:
        yield
        return
    tqdm.tqdm.monitor_interval = 0
    yield

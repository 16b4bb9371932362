from __future__ import annotations

import random
import shutil
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from PIL import Image

import curalog
from curalog.demo import landscape, stages_of
from curalog.project import Project

#: what a refused row raises, on either backend
INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)

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


def make_curation_project(r: Path) -> Path:
    """Sets to curate: a (3 PNG stages), b (2 EXIF-rotated JPEGs, stored 600x300, seen 300x600),
    c (5 stages: one past the fourth), other/x (another project); plus a file of no set, an
    output folder and a truncated image whose header is fine."""
    (r / "shoot" / "raw").mkdir(parents=True)
    for i, im in enumerate(stages_of(landscape(random.Random(3), (640, 480))), start=1):
        im.save(r / "shoot" / "raw" / f"a_stage{i}.png")
    for i in (1, 2):
        rotated_jpeg(r / "shoot" / "raw" / f"b_stage{i}.jpg", stored=(600, 300))
    for i in range(1, 6):
        make_image(r / "shoot" / "raw" / f"c_stage{i}.png", (200, 100), (40 * i, 10, 10))
    make_image(r / "other" / "x_stage1.png", (320, 240), "white")
    make_image(r / "other" / "x_stage2.png", (320, 240), "black")
    make_image(r / "shoot" / "raw" / "notes.png", (50, 50))
    make_image(r / "shoot" / "crop" / "a_stage1.png", (100, 100))
    full = make_image(r / "broken" / "d_stage1.jpg", (800, 600), "gray", quality=95)
    data = full.read_bytes()
    full.write_bytes(data[: len(data) // 3])  # header intact, pixels cut off
    make_image(r / "broken" / "d_stage2.png", (800, 600), "olive")
    curalog.init_project(r)
    return r


@pytest.fixture
def croot(tmp_path: Path) -> Path:
    return make_curation_project(tmp_path / "proj")


@pytest.fixture
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium (make test does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the whole run (tests/pg_server.py); skipped only where it
    cannot be started, which `make test` prevents by installing Debian's postgresql."""
    from tests.pg_server import PgServer, available

    why = available()
    if why is not None:
        pytest.skip(why)
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a fresh, empty database on the test server."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def both_backends(request, monkeypatch) -> str:
    """Runs a test module on both ledger backends: "postgres" points CURALOG_DATABASE_URL at a
    fresh database on the test server (subprocesses inherit it). Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("both_backends")``."""
    if request.param == "postgres":
        monkeypatch.setenv("CURALOG_DATABASE_URL", request.getfixturevalue("pg_url"))
    else:
        monkeypatch.delenv("CURALOG_DATABASE_URL", raising=False)
    return request.param


def ledger_dump(root: Path) -> list:
    """Every row of the project's ledger, on whichever backend holds it (CURALOG_DATABASE_URL or
    the SQLite file), in a form two dumps can be compared by: a dry run must leave it equal."""
    import os

    url = os.environ.get("CURALOG_DATABASE_URL")
    if url:
        with psycopg.connect(url) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]
            return [
                (t, sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall())))
                for t in sorted(tables)
            ]
    with sqlite3.connect(root / "data" / "curalog.db") as conn:
        return list(conn.iterdump())

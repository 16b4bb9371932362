"""Failure paths for real: kill -9 at random points of `curalog embed` and of a logging loop,
and four processes logging concurrently. Nothing partial may survive, and a rerun finishes."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

import curalog
from tests.conftest import make_image

pytestmark = pytest.mark.usefixtures("both_backends")

N_IMAGES = 160
EMBED_TRIALS = 24
LOG_TRIALS = 12


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    return env


def _images(root: Path, n: int) -> list[str]:
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        rel = f"mojo1/selected/img_{i:04d}_stage1.png"
        make_image(root / rel, (48, 48), tuple(int(v) for v in rng.integers(0, 255, 3)))
        paths.append(rel)
    return paths


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    """Poll a condition on real files (not a sleep standing in for one)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def _server() -> str | None:
    return os.environ.get("CURALOG_DATABASE_URL")


def _query(db: Path, sql: str) -> list | None:
    """Rows of ``sql`` on the ledger under test (the server, or the SQLite file ``db``), read by a
    client of its own while curalog processes write; None when there is no ledger yet."""
    url = _server()
    try:
        if url:
            with psycopg.connect(url) as c:
                return c.execute(sql).fetchall()
        if not db.exists():
            return None
        with sqlite3.connect(db, timeout=30) as c:
            return c.execute(sql).fetchall()
    except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
        return None


def _ledger_exists(db: Path) -> bool:
    return _query(db, "SELECT count(*) FROM decisions") is not None


def _integrity_ok(db: Path) -> bool:
    """SQLite's own check of the file; a server keeps its pages itself."""
    return _server() is not None or _query(db, "PRAGMA integrity_check") == [("ok",)]


def _index_rows(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM embedding_index")
    return rows[0][0] if rows else 0


def _reset(root: Path) -> None:
    """Back to a project with images and no ledger or vectors."""
    for f in (root / "data").glob("curalog.db*"):
        f.unlink()
    if _server():
        with psycopg.connect(_server(), autocommit=True) as c:
            c.execute("DROP SCHEMA public CASCADE")
            c.execute("CREATE SCHEMA public")
    shutil.rmtree(root / "data" / "ai_data", ignore_errors=True)


def test_kill_9_during_embed_never_leaves_an_index_row_without_its_file(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    paths = _images(root, N_IMAGES)
    curalog.init_project(root)
    db = root / "data" / "curalog.db"
    cmd = [sys.executable, "-m", "curalog", "embed", "--root", str(root), "--batch-size", "2", "mojo1"]
    # The kills are drawn over the length of a run: the shorter of two full runs, because a run
    # slowed by cold caches or a busy machine would put many kill times after typical runs end.
    runs = []
    for _ in range(2):
        _reset(root)
        started = time.monotonic()
        full = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
        runs.append(time.monotonic() - started)
        assert full.returncode == 0, full.stdout + full.stderr
    full_run = min(runs)
    rng = random.Random(1234)
    kills = orphans_seen = 0
    for trial in range(EMBED_TRIALS):
        _reset(root)
        for _strike in range(1 + trial % 2):  # odd trials: killed twice before the rerun
            proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, full_run))  # a random point of a run (fault injection)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
            if not _ledger_exists(db):
                continue
            with curalog.open_project(root) as p:
                report = p.verify()
                codes = [x.code for x in report.problems]
                assert "embedding.file_missing" not in codes, report.problems
                assert "embedding.corrupt" not in codes, report.problems
                orphans_seen += "embedding.orphan_file" in codes
                assert _integrity_ok(db)
        if trial % 4 == 3:  # the rerun finishes the job and leaves nothing behind
            done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
            with curalog.open_project(root) as p:
                report = p.verify()
                assert report.problems == [] and report.index_entries == N_IMAGES
                assert sorted(e.path for e in p.embeddings.entries()) == paths
            emb_dir = root / "data/ai_data/cache/embeddings"
            assert [f for f in emb_dir.iterdir() if f.name.startswith(".")] == []
    assert kills >= EMBED_TRIALS, f"only {kills} kills landed mid-run"
    print(f"embed kill -9: {kills} kills landed, {orphans_seen} left orphans that reruns recovered")


LOGGER = """
import sys, curalog
root = sys.argv[1]
paths = [f"mojo1/selected/img_{i:04d}_stage1.png" for i in range(4)]
with curalog.open_project(root) as p, p.session(tool="killtest") as s:
    for i in range(100000):
        s.log_crop(f"set_{sys.argv[2]}_{i}", "mojo1/selected", paths, i % 4, (1, 1, 20 + i % 20, 30))
"""


def _check_ledger(db: Path) -> int:
    assert _integrity_ok(db)
    bad = _query(
        db,
        "SELECT d.id FROM decisions d LEFT JOIN candidates c ON c.decision_id = d.id "
        "GROUP BY d.id, d.n_candidates HAVING count(c.idx) <> d.n_candidates",
    )
    assert bad == [], f"partial decisions: {bad}"
    orphans = _query(
        db, "SELECT count(*) FROM candidates WHERE decision_id NOT IN (SELECT id FROM decisions)"
    )
    assert orphans == [(0,)]
    return _query(db, "SELECT count(*) FROM decisions")[0][0]  # type: ignore[index]


def test_kill_9_during_logging_never_leaves_a_partial_decision(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    paths = _images(root, 4)
    curalog.init_project(root)
    with curalog.open_project(root) as p:
        assert p.embed(paths).ok
    db = root / "data" / "curalog.db"
    rng = random.Random(99)
    count = 0
    for trial in range(LOG_TRIALS):
        proc = subprocess.Popen([sys.executable, "-c", LOGGER, str(root), str(trial)], env=_env())
        _wait_for(lambda c=count: _check_count(db) > c)
        time.sleep(rng.uniform(0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        new_count = _check_ledger(db)
        assert new_count > count
        count = new_count
    print(f"logging kill -9: {LOG_TRIALS} kills, {count} whole decisions survived")


def _check_count(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM decisions")
    return rows[0][0] if rows else 0


CONCURRENT = """
import sys, curalog
root, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = [f"mojo1/selected/img_{i:04d}_stage1.png" for i in range(4)]
with curalog.open_project(root) as p, p.session(tool=f"worker{worker}") as s:
    for i in range(n):
        set_id = f"shared_{i // 2}" if i % 4 < 2 else f"set_{worker}_{i}"  # half on the sets all share
        if i % 2:
            s.log_selection(set_id, "mojo1/selected", paths, i % 4)
        else:
            s.log_crop(set_id, "mojo1/selected", paths, i % 4, (1, 2, 30, 40))
"""


@pytest.mark.parametrize("workers,per_worker", [(8, 2000)])
def test_concurrent_writers_lose_nothing(tmp_path: Path, workers: int, per_worker: int) -> None:
    root = tmp_path / "proj"
    paths = _images(root, 4)
    curalog.init_project(root)
    with curalog.open_project(root) as p:
        assert p.embed(paths).ok
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(root), str(w), str(per_worker)],
            env=_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    for proc in procs:
        _out, errors = proc.communicate(timeout=600)
        assert proc.returncode == 0, errors
    db = root / "data" / "curalog.db"
    assert _check_ledger(db) == workers * per_worker
    per_session = _query(
        db, "SELECT s.tool, count(*) FROM decisions d JOIN sessions s ON s.id = d.session_id GROUP BY s.tool"
    )
    sets = _query(db, "SELECT count(DISTINCT set_id) FROM decisions")
    assert sorted(map(tuple, per_session or [])) == [(f"worker{w}", per_worker) for w in range(workers)]
    shared = per_worker // 4  # set ids every worker decided (two decisions each)
    assert sets == [(workers * per_worker // 2 + shared,)]
    per_set = _query(db, "SELECT count(*) FROM decisions WHERE set_id LIKE 'shared%%' GROUP BY set_id")
    assert {n for (n,) in per_set or []} == {2 * workers}  # every worker's two decisions, once each

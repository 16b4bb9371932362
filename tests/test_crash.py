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


def _index_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=30) as c:
            return c.execute("SELECT count(*) FROM embedding_index").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _reset(root: Path) -> None:
    """Back to a project with images and no ledger or vectors."""
    for f in (root / "data").glob("curalog.db*"):
        f.unlink()
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
            if not db.exists():
                continue
            with curalog.open_project(root) as p:
                report = p.verify()
                codes = [x.code for x in report.problems]
                assert "embedding.file_missing" not in codes, report.problems
                assert "embedding.corrupt" not in codes, report.problems
                orphans_seen += "embedding.orphan_file" in codes
                assert p.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
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
    with sqlite3.connect(db, timeout=30) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        bad = c.execute(
            "SELECT d.id FROM decisions d LEFT JOIN candidates c ON c.decision_id = d.id "
            "GROUP BY d.id HAVING count(c.idx) <> d.n_candidates"
        ).fetchall()
        assert bad == [], f"partial decisions: {bad}"
        orphans = c.execute(
            "SELECT count(*) FROM candidates WHERE decision_id NOT IN (SELECT id FROM decisions)"
        ).fetchone()[0]
        assert orphans == 0
        return c.execute("SELECT count(*) FROM decisions").fetchone()[0]


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
    try:
        with sqlite3.connect(db, timeout=30) as c:
            return c.execute("SELECT count(*) FROM decisions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


CONCURRENT = """
import sys, curalog
root, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = [f"mojo1/selected/img_{i:04d}_stage1.png" for i in range(4)]
with curalog.open_project(root) as p, p.session(tool=f"worker{worker}") as s:
    for i in range(n):
        if i % 2:
            s.log_selection(f"set_{worker}_{i}", "mojo1/selected", paths, i % 4)
        else:
            s.log_crop(f"set_{worker}_{i}", "mojo1/selected", paths, i % 4, (1, 2, 30, 40))
"""


@pytest.mark.parametrize("workers,per_worker", [(4, 2000)])
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
    with sqlite3.connect(db) as c:
        per_session = c.execute(
            "SELECT s.tool, count(*) FROM decisions d JOIN sessions s ON s.id = d.session_id GROUP BY s.tool"
        ).fetchall()
        sets = c.execute("SELECT count(DISTINCT set_id) FROM decisions").fetchone()[0]
    assert sorted(per_session) == [(f"worker{w}", per_worker) for w in range(workers)]
    assert sets == workers * per_worker

"""`curalog ledger migrate`: a SQLite ledger copied to a real PostgreSQL server, reconciled,
idempotent, never merged into a different ledger."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import curalog
from curalog.config import load_config
from curalog.db.migrate import migrate_project
from curalog.errors import ConfigError
from curalog.project import Project
from tests.conftest import SET0, SET1


def _decide(project: Project) -> None:
    with project.session(tool="t") as s:
        s.log_crop("set0", "mojo1/selected", SET0, 1, (10, 20, 300, 200))
        s.log_selection("set1", "mojo1/selected", SET1, 2)
        undone = s.log_crop("set1", "mojo1/selected", SET1, 0, (5, 5, 100, 100))
        s.undo(undone, "wrong variant")


def _decisions(root: Path) -> list:
    with curalog.open_project(root) as p:
        return [(d.id, d.kind, d.set_id, d.chosen.path, d.box, d.created_at) for d in p.ledger.decisions()]


def test_migrate_copies_reconciles_and_a_second_run_changes_nothing(
    embedded: Project, pg_url, monkeypatch
) -> None:
    monkeypatch.delenv("CURALOG_DATABASE_URL", raising=False)
    _decide(embedded)
    root = embedded.root
    embedded.close()
    before = _decisions(root)
    config = load_config(root)
    dry = migrate_project(config, pg_url, dry_run=True)
    assert dry.action == "would copy" and not dry.reconciled
    with psycopg.connect(pg_url) as c:  # the dry run made the schema, copied nothing
        assert c.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
    done = migrate_project(config, pg_url)
    assert done.action == "copied" and done.reconciled and done.rows > 0
    counts = {t.table: t.target_rows for t in done.tables}
    assert counts["decisions"] == 3 and counts["retractions"] == 1 and counts["candidates"] == 9
    assert migrate_project(config, pg_url).action == "already there"
    monkeypatch.setenv("CURALOG_DATABASE_URL", pg_url)
    assert _decisions(root) == before  # the same live decisions, ids and all
    with curalog.open_project(root) as p, p.session(tool="after") as s:  # new ids after the copied ones
        new = s.log_selection("set0", "mojo1/selected", SET0, 2)
    assert new > max(d[0] for d in before)
    audit = "".join(f.read_text() for f in root.rglob("file_operations_*.log"))
    assert "ledger migrated" in audit and "postgresql" in audit


def test_a_server_holding_another_ledger_is_refused(embedded: Project, pg_url, monkeypatch) -> None:
    monkeypatch.setenv("CURALOG_DATABASE_URL", pg_url)
    other = embedded.root.parent / "other"
    (other / "mojo1" / "selected").mkdir(parents=True)
    for rel in SET0:
        (other / rel).write_bytes((embedded.root / rel).read_bytes())
    curalog.init_project(other)
    with curalog.open_project(other) as p:  # a decision straight into the server
        assert p.embed(SET0).ok
        with p.session() as s:
            s.log_selection("set0", "mojo1/selected", SET0, 0)
    monkeypatch.delenv("CURALOG_DATABASE_URL")
    _decide(embedded)
    with pytest.raises(ConfigError, match=r"already holds a different ledger .*never merges"):
        migrate_project(load_config(embedded.root), pg_url)


def test_the_command_line(embedded: Project, pg_url, monkeypatch) -> None:
    monkeypatch.delenv("CURALOG_DATABASE_URL", raising=False)
    _decide(embedded)
    root = str(embedded.root)
    embedded.close()
    run = [sys.executable, "-m", "curalog", "ledger", "migrate", "--root", root]
    out = subprocess.run([*run, "--to", pg_url], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "every table's count and content hash reconcile" in out.stdout.replace("\n", " ")
    again = subprocess.run([*run, "--to", pg_url], capture_output=True, text=True)
    assert again.returncode == 0 and "already holds this ledger" in again.stdout
    bad = subprocess.run([*run, "--to", "mysql://u:secret@h/db"], capture_output=True, text=True)
    assert (
        bad.returncode == 2 and "must start with postgresql://" in bad.stderr and "secret" not in bad.stderr
    )
    assert "Traceback" not in bad.stderr
    nowhere = subprocess.run(run, capture_output=True, text=True)
    assert nowhere.returncode == 2 and "--to postgresql://" in nowhere.stderr


def test_a_server_that_is_down_is_one_line(tmp_path, monkeypatch) -> None:
    root = tmp_path / "p"
    root.mkdir()
    curalog.init_project(root)
    monkeypatch.setenv(
        "CURALOG_DATABASE_URL", f"postgresql:///nowhere?host={tmp_path}&user=nobody&password=hush"
    )
    cmd = [sys.executable, "-m", "curalog", "validate", "--root", str(root)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 2 and "cannot reach the ledger's server" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "hush" not in out.stderr

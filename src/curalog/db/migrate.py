"""Moving a project's ledger from its SQLite file to a PostgreSQL server (``curalog ledger migrate``).

Every table is copied whole, in one transaction on the server (all or nothing), ids kept, and then
reconciled: each table's row count and a content hash (sha256 of its rows in a canonical form,
independent of row order and backend) must be equal on both sides before success is reported.
A second run finds the server already holding the same ledger and changes nothing; a server that
holds a different ledger is refused, never merged into. ``dry_run`` reads both sides and says
what a run would do. The SQLite file is only read (opened read-only) and stays where it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curalog.audit import AuditLog
from curalog.config import Config
from curalog.db.postgres import PgDatabase
from curalog.db.schema import SCHEMA_VERSION
from curalog.errors import ConfigError
from curalog.ledger_url import DATABASE_URL_ENV, redacted, url_problem

#: in the order foreign keys need; ledger_version is each database's own change counter
TABLES = (
    "sessions", "decisions", "candidates", "suggestions", "embedding_index", "embed_failures", "legacy_lines",
    "quarantine", "import_notes", "repairs", "retractions", "snapshots", "findings_seen", "file_facts",
)  # fmt: skip
IDENTITY = ("decisions", "repairs", "snapshots")  # tables whose id numbers new rows
BATCH = 2000


@dataclass
class TableCheck:
    table: str
    source_rows: int
    source_hash: str
    target_rows: int = 0
    target_hash: str = ""

    @property
    def equal(self) -> bool:
        return (self.source_rows, self.source_hash) == (self.target_rows, self.target_hash)


@dataclass
class Migration:
    source: Path
    target: str  # the URL, password hidden
    dry_run: bool
    action: str = ""  # "copied" | "already there" | "would copy" | "nothing to copy"
    tables: list[TableCheck] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    @property
    def reconciled(self) -> bool:
        return all(t.equal for t in self.tables)


def _canonical(value: Any) -> Any:
    """One form for a value read from either backend (a float 10.0 and an integer 10 stay apart)."""
    if isinstance(value, float):
        return ["f", value.hex()]
    if isinstance(value, bytes | memoryview):
        return ["b", bytes(value).hex()]
    return value


def _digest(rows: list[tuple]) -> str:
    lines = sorted(json.dumps([_canonical(v) for v in row], ensure_ascii=False) for row in rows)
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def _columns(source: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in source.execute(f'PRAGMA table_info("{table}")')]


def _read_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(f"there is no SQLite ledger to migrate at {path}")
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read the ledger {path}: {exc}") from exc
    if version != SCHEMA_VERSION:
        conn.close()
        raise ConfigError(
            f"{path} has schema version {version}, not {SCHEMA_VERSION}: run any curalog command on the "
            "project once (it brings the file up to date), then migrate"
        )
    return conn


def _target_rows(target: PgDatabase, table: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(f'"{c}"' for c in columns)
    return [tuple(r) for r in target.query(f'SELECT {cols} FROM "{table}"')]


def _copy(source: sqlite3.Connection, target: PgDatabase, checks: list[TableCheck]) -> None:
    """Every table's rows into the server, in one transaction, ids kept."""
    with target.write() as conn:
        for check in checks:
            columns = _columns(source, check.table)
            cols = ", ".join(f'"{c}"' for c in columns)
            marks = ",".join("?" * len(columns))
            cursor = source.execute(f'SELECT {cols} FROM "{check.table}"')
            while batch := cursor.fetchmany(BATCH):
                conn.executemany(f'INSERT INTO "{check.table}" ({cols}) VALUES ({marks})', batch)
        for table in IDENTITY:  # new rows numbered after the copied ones
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )


def migrate_ledger(source: Path, url: str, *, dry_run: bool = False) -> Migration:
    """Copy the SQLite ledger at ``source`` to the server at ``url`` and reconcile (see above)."""
    src = _read_source(source)
    target = PgDatabase(url)
    result = Migration(source, redacted(url), dry_run)
    try:
        for table in TABLES:
            rows = src.execute(f'SELECT {", ".join(_columns(src, table))} FROM "{table}"').fetchall()
            result.tables.append(TableCheck(table, len(rows), _digest(rows)))
        _fill_target(result, target, src)
        if all(t.equal for t in result.tables):
            result.action = "already there" if result.rows else "nothing to copy"
            return result
        if any(t.target_rows for t in result.tables):
            held = ", ".join(f"{t.table} {t.target_rows:,}" for t in result.tables if t.target_rows)
            raise ConfigError(
                f"{result.target} already holds a different ledger ({held} rows): curalog copies into an "
                "empty database only, never merges; point --to at a new database"
            )
        if dry_run:
            result.action = "would copy"
            return result
        _copy(src, target, result.tables)
        _fill_target(result, target, src)
        if not result.reconciled:
            bad = ", ".join(t.table for t in result.tables if not t.equal)
            raise ConfigError(f"the copy on {result.target} does not reconcile ({bad}); it was left there")
        result.action = "copied"
        return result
    finally:
        src.close()
        target.close()


def _fill_target(result: Migration, target: PgDatabase, src: sqlite3.Connection) -> None:
    for check in result.tables:
        rows = _target_rows(target, check.table, _columns(src, check.table))
        check.target_rows, check.target_hash = len(rows), _digest(rows)


def migrate_project(config: Config, url: str | None = None, *, dry_run: bool = False) -> Migration:
    """``migrate_ledger`` for a project: its SQLite file to ``url`` (default: CURALOG_DATABASE_URL),
    the copy recorded in the project's audit log."""
    url = url or os.environ.get(DATABASE_URL_ENV, "")
    if not url:
        raise ConfigError(f"say where to: --to postgresql://... (or set {DATABASE_URL_ENV})")
    why = url_problem(url, "--to", password_allowed=True)
    if why:
        raise ConfigError(why)
    audit = AuditLog(config.path("audit_dir"), script="curalog ledger migrate")
    if not dry_run:
        audit.require("migrate the ledger")
    result = migrate_ledger(config.path("database"), url, dry_run=dry_run)
    if result.action == "copied":
        notes = f"ledger migrated: {result.rows:,} rows in {len(result.tables)} tables, reconciled"
        audit.record("copy", [config.layout.database], dest_dir=result.target, notes=notes)
    return result

"""The ledger database: SQLite in WAL mode with durable (fsynced) commits.

A connection is opened lazily. Read-only callers on a project that has no database yet see an
empty ledger and create nothing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from curalog.audit import AuditLog
from curalog.db.schema import SCHEMA, SCHEMA_VERSION
from curalog.errors import ConfigError

BUSY_TIMEOUT_MS = 60_000


def _damaged(path: Path, exc: sqlite3.DatabaseError) -> ConfigError:
    return ConfigError(
        f"the ledger {path} cannot be read ({exc}): it is damaged or not a curalog database; "
        "restore it from a backup (curalog never repairs it by itself)"
    )


class Database:
    def __init__(self, path: Path, audit: AuditLog, root: Path) -> None:
        self.path = path
        self._audit = audit
        self._root = root
        self._conn: sqlite3.Connection | None = None
        #: why the ledger was opened read-only (a read-only mount, no write permission), or None
        self.read_only: str | None = None
        self._scratch: tempfile.TemporaryDirectory | None = None  # a read-only WAL ledger's copy

    def exists(self) -> bool:
        return self.path.is_file()

    def _not_writable(self) -> str | None:
        """Why this process cannot write the database (SQLite needs its folder too), or None."""
        folder = self.path.parent
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return f"no write permission on {self.path}"
        if folder.is_dir() and not os.access(folder, os.W_OK):
            return f"no write permission in {folder}"
        return None

    def _open(self) -> sqlite3.Connection:
        try:
            why = self._not_writable()
            if why is None:
                return self._open_rw()
        except sqlite3.OperationalError as exc:
            if not any(w in str(exc) for w in ("readonly", "read-only", "unable to open")):
                raise ConfigError(f"cannot open the ledger {self.path}: {exc}") from exc
            why = str(exc)
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from exc
        return self._open_ro(why)

    def _open_ro(self, why: str) -> sqlite3.Connection:
        """The ledger opened for reading only: read-only commands work on a read-only mount; any
        write says why it cannot happen (``write``)."""
        if not self.exists():
            raise ConfigError(f"cannot create the ledger {self.path}: {why}")
        uri = "file:" + quote(str(self.path)) + "?mode=ro"
        conn = None
        try:
            try:  # a WAL database needs its -shm file; on a read-only mount it is treated as unchanging
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                if conn is not None:
                    conn.close()
                conn = self._open_copy_or_immutable(uri)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from exc
        if version != SCHEMA_VERSION:
            conn.close()
            raise ConfigError(
                f"{self.path} has schema version {version}, this curalog needs {SCHEMA_VERSION}, and the "
                f"ledger cannot be changed ({why})"
            )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        self.read_only = why
        return conn

    def _open_copy_or_immutable(self, uri: str) -> sqlite3.Connection:
        """A WAL database whose ``-shm`` cannot be made (a read-only mount): with committed rows
        still in its ``-wal``, a private temp copy of both is read (``immutable`` would not see
        them); with no WAL, the file itself as unchanging."""
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            self._scratch = tempfile.TemporaryDirectory(prefix="curalog-ro-ledger-")
            copy = Path(self._scratch.name) / self.path.name
            shutil.copyfile(self.path, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            return sqlite3.connect(copy, isolation_level=None, check_same_thread=False)
        return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)

    def _open_rw(self) -> sqlite3.Connection:
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        if created:
            self._audit.record_created(self.path, self._root, "curalog ledger database")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} has schema version {version}, newer than this curalog "
                f"({SCHEMA_VERSION}); upgrade curalog"
            )
        if version < SCHEMA_VERSION:
            # The DDL is idempotent (IF NOT EXISTS), so processes racing to create the
            # database serialize on the write lock and the later ones change nothing.
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"
                )
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One durable write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
        conn = self.conn
        if self.read_only is not None:
            raise ConfigError(f"cannot write the ledger {self.path}: {self.read_only}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Rows of a read query; an empty list when no database exists yet."""
        if self._conn is None and not self.exists():
            return []
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def change_counter(path: Path) -> int | None:
    """The ledger tables' change counter (``ledger_version``, bumped by triggers on the tables a
    validation reads) of the database file at ``path``, read without opening it for writing when
    it cannot be; None when the file has no counter or cannot be read."""
    for mode in ("rw", "ro"):  # rw where it can: the last connection to close removes -wal and -shm
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True)
            try:
                row = conn.execute("SELECT n FROM ledger_version WHERE id = 1").fetchone()
            finally:
                conn.close()
            return None if row is None else int(row[0])
        except sqlite3.Error:
            continue
    return None

"""The ledger on a PostgreSQL server (``[ledger] url`` or ``CURALOG_DATABASE_URL``): the same
interface as the SQLite ``Database`` (``write``, ``query``, ``conn``, ``close``), so every owner of
a table writes one SQL text for both backends.

The owners' SQL is the portable subset both servers speak (``ON CONFLICT``, ``RETURNING``,
``IS NOT DISTINCT FROM``); this module only turns SQLite's ``?`` placeholders into psycopg's
``%s``. Rows answer ``row["name"]`` and ``row[0]`` like ``sqlite3.Row``. The schema is
``db.schema.PG_SCHEMA``, applied under an advisory lock so that two processes creating one
database do not race; its version lives in ``curalog_schema``.
"""

from __future__ import annotations

import functools
import os
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from curalog.db.schema import PG_SCHEMA, SCHEMA_VERSION
from curalog.errors import ConfigError
from curalog.ledger_url import redacted

#: pg_advisory_xact_lock key for creating and migrating the schema ("curalog" in ASCII)
MIGRATION_LOCK = 0x637572616C6F67
#: pg_advisory_xact_lock key every write transaction takes (one writer at a time per database)
WRITE_LOCK = MIGRATION_LOCK + 1


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled). The owners'
    SQL holds no ``?`` inside a string literal."""
    return sql.replace("%", "%%").replace("?", "%s")


class Row:
    """One result row, read by column name or by position, like ``sqlite3.Row``."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names, self._values = names, values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key] if isinstance(key, int) else self._values[self._names[key]]

    def keys(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)


def _row_factory(cursor: Any) -> Any:
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: Row(names, values)


def _text(value: Any) -> Any:
    """PostgreSQL text cannot hold a NUL (a broken legacy line can): it is stored as the four
    characters ``\\x00``, as the reports print it. Nothing compared after storing holds one (the
    ledger refuses NUL in decisions; a finding's key with a NUL is its hash)."""
    return value.replace("\x00", "\\x00") if isinstance(value, str) and "\x00" in value else value


def _params(params: Sequence[Any] | dict) -> Any:
    if isinstance(params, dict):
        return {k: _text(v) for k, v in params.items()}
    return tuple(_text(v) for v in params)


class Connection:
    """A psycopg connection that takes the owners' SQL as written for SQLite."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> Any:
        return self.raw.execute(to_psycopg(sql), _params(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(to_psycopg(sql), [_params(r) for r in rows])


def _connect(url: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(
            "the ledger is on PostgreSQL but psycopg is not installed: pip install 'curalog[postgres]'"
        ) from exc
    try:
        return psycopg.connect(url, autocommit=True, row_factory=_row_factory)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot reach the ledger's server {redacted(url)}: {first}") from exc


def change_counter(url: str) -> object:
    """The ledger tables' change counter on the server (the validator's memo key), or a value
    that never repeats when it cannot be read (so a stale report is never reused)."""
    db = PgDatabase(url)
    try:  # the schema is made on first contact (as any command would), so "no table" never shows
        row = db.query("SELECT n FROM ledger_version WHERE id = 1")
        return ("postgres", redacted(url), int(row[0][0]) if row else None)
    except Exception:  # an unreachable server, a dropped connection: never reuse a report
        return ("unreadable", time.time_ns(), os.getpid())
    finally:
        db.close()


class PgDatabase:
    """The ledger's tables on a PostgreSQL server; opened lazily, schema created or migrated."""

    backend = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Connection | None = None
        self.read_only: str | None = None  # a server decides itself; curalog never opens it read-only

    def __repr__(self) -> str:
        return f"PgDatabase({redacted(self.url)!r})"

    def exists(self) -> bool:
        return True  # a server is asked, never created: reads see an empty ledger on a new database

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            conn = Connection(_connect(self.url))
            try:
                self._migrate(conn)
            except BaseException:
                conn.raw.close()
                raise
            self._conn = conn
        return self._conn

    def _migrate(self, conn: Connection) -> None:
        with conn.raw.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            conn.raw.execute("CREATE TABLE IF NOT EXISTS curalog_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM curalog_schema").fetchone()
            version = row[0] or 0
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"the ledger on {redacted(self.url)} has schema version {version}, newer than this "
                    f"curalog ({SCHEMA_VERSION}); upgrade curalog"
                )
            if version < SCHEMA_VERSION:
                conn.raw.execute(PG_SCHEMA)
                conn.execute("DELETE FROM curalog_schema")
                conn.execute("INSERT INTO curalog_schema (version) VALUES (?)", (SCHEMA_VERSION,))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, committed (durably: ``synchronous_commit`` is the server's) or
        rolled back on error. Writers take turns on one advisory lock of this database, as SQLite's
        ``BEGIN IMMEDIATE`` makes them: a check-then-insert (the duplicate check, the adoption of
        a legacy index row) sees every earlier commit, and two writers can never deadlock."""
        conn = self.conn
        with conn.raw.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
            yield conn

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Everything written inside is undone at the end (a dry run): one outer transaction,
        in which every ``write`` is a savepoint."""
        with self.conn.raw.transaction(force_rollback=True):
            yield

    @contextmanager
    def exclusive(self, what: str, busy: str) -> Iterator[None]:
        """Only one holder of ``what`` at a time across every machine on this server (an advisory
        lock, released when the holder's connection ends however it ends); ConfigError(busy)."""
        key = zlib.crc32(what.encode())
        if not self.conn.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0]:
            raise ConfigError(busy)
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(?)", (key,))

    def query(self, sql: str, params: tuple | dict = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.raw.close()
            self._conn = None

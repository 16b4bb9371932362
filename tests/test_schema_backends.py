"""Defence in depth on both backends: the schema refuses the same bad rows in SQLite and in a real
PostgreSQL server, written by a client that bypasses curalog's Python checks entirely."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import psycopg
import pytest

from curalog.db.schema import PG_SCHEMA, SCHEMA

H = "a" * 64
H2 = "b" * 64
SESSION = (
    "INSERT INTO sessions(id, tool, started_at) VALUES (?, ?, ?)",
    ("s1", "test", "2026-01-01T00:00:00"),
)
DECISION_COLUMNS = (
    "session_id, kind, set_id, directory, project, n_candidates, chosen_idx, chosen_path, chosen_hash, "
    "chosen_width, chosen_height, crop_x1, crop_y1, crop_x2, crop_y2, norm_x1, norm_y1, norm_x2, norm_y2, "
    "created_at"
)
GOOD_CROP = {
    "session_id": "s1", "kind": "crop", "set_id": "set_1", "directory": "mojo1", "project": "mojo1",
    "n_candidates": 2, "chosen_idx": 1, "chosen_path": "mojo1/b.png", "chosen_hash": H,
    "chosen_width": 100, "chosen_height": 80, "crop_x1": 10.0, "crop_y1": 10.0, "crop_x2": 50.0,
    "crop_y2": 40.0, "norm_x1": 0.1, "norm_y1": 0.125, "norm_x2": 0.5, "norm_y2": 0.5,
    "created_at": "2026-01-01T00:00:01",
}  # fmt: skip


def _decision(**changes: object) -> tuple[str, tuple]:
    row = {**GOOD_CROP, **changes}
    marks = ",".join("?" * len(row))
    return f"INSERT INTO decisions({DECISION_COLUMNS}) VALUES ({marks})", tuple(row.values())


CANDIDATE = "INSERT INTO candidates(decision_id, idx, path, hash, width, height) VALUES "
INDEX_ROW = "INSERT INTO embedding_index(path, hash, dim, model, file_size, created_at) VALUES "
REPAIR = (
    "INSERT INTO repairs(decision_id, what, old_value, new_value, method, evidence, confidence, "
    "applied_at) VALUES "
)
LEGACY_LINE = "INSERT INTO legacy_lines(source, line, sha, kind, decision_id, imported_at) VALUES "
RETRACTION = "INSERT INTO retractions(decision_id, session_id, reason, retracted_at) VALUES "
NO_BOX = {f"{p}{a}": None for p in ("crop_", "norm_") for a in ("x1", "y1", "x2", "y2")}
PLACEHOLDER = {"crop_x1": 0.0, "crop_y1": 0.0, "crop_x2": 100.0, "crop_y2": 80.0,
               "norm_x1": 0.0, "norm_y1": 0.0, "norm_x2": 1.0, "norm_y2": 1.0}  # fmt: skip

# (what, statement): each must be refused by both backends
BAD_ROWS = [
    ("the 0,0,1,1 placeholder", _decision(**PLACEHOLDER)),
    ("a 0x0 image", _decision(chosen_width=0, chosen_height=0)),
    ("an inverted box", _decision(crop_x1=50.0, crop_x2=10.0)),
    ("a box outside the image", _decision(crop_x2=150.0)),
    ("a negative box", _decision(crop_x1=-1.0)),
    ("a crop without a box", _decision(crop_x1=None)),
    ("a selection with a box", _decision(kind="selection")),
    ("a chosen index out of range", _decision(chosen_idx=2)),
    ("a hash that is not 64 hex digits", _decision(chosen_hash="ABC")),
    ("an absolute chosen path", _decision(chosen_path="/home/x/b.png")),
    ("a path escaping the root", _decision(chosen_path="../b.png")),
    ("an empty set id", _decision(set_id="")),
    ("an unknown kind", _decision(kind="best")),
    ("an unknown session", _decision(session_id="nobody")),
    ("a candidate past n_candidates", (CANDIDATE + "(1, 5, 'mojo1/c.png', ?, 10, 10)", (H,))),
    ("a chosen candidate that disagrees", (CANDIDATE + "(1, 1, 'mojo1/other.png', ?, 100, 80)", (H2,))),
    ("an index row of 0 bytes", (INDEX_ROW + "('mojo1/b.png', ?, 512, 'm', 0, 't')", (H,))),
    ("a repair with invalid JSON", (REPAIR + "(1, 'box', '{oops', '[1]', 'm', '', 1, 't')", ())),
    ("a repair with confidence 2", (REPAIR + "(1, 'box', '[0]', '[1]', 'm', '', 2, 't')", ())),
    ("an index legacy line with a decision", (LEGACY_LINE + "('x.jsonl', 1, 's', 'index', 1, 't')", ())),
    ("a retraction without a reason", (RETRACTION + "(1, 's1', '', 't')", ())),
    ("a second ledger_version row", ("INSERT INTO ledger_version(id, n) VALUES (2, 0)", ())),
]


class Backend:
    def __init__(
        self, execute: Callable[[str, tuple], object], errors: tuple[type[BaseException], ...]
    ) -> None:
        self.execute, self.errors = execute, errors

    def run(self, sql: str, params: tuple) -> None:
        self.execute(sql, params)

    def value(self, sql: str) -> object:
        return self.execute(sql, ()).fetchone()[0]  # type: ignore[attr-defined]


def _sqlite(tmp_path) -> Iterator[Backend]:
    conn = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SCHEMA)
    yield Backend(conn.execute, (sqlite3.IntegrityError,))
    conn.close()


def _postgres(url: str) -> Iterator[Backend]:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(PG_SCHEMA)
    yield Backend(lambda sql, params: conn.execute(sql.replace("?", "%s"), params), (psycopg.DatabaseError,))
    conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> Iterator[Backend]:
    gen = _sqlite(tmp_path) if request.param == "sqlite" else _postgres(request.getfixturevalue("pg_url"))
    b = next(gen)
    b.run(*SESSION)
    b.run(*_decision())  # decision 1, the good crop
    b.run(CANDIDATE + "(1, 1, 'mojo1/b.png', ?, 100, 80)", (H,))
    yield b
    next(gen, None)


def test_the_good_rows_are_taken(backend: Backend) -> None:
    backend.run(*_decision(set_id="set_2"))
    backend.run(*_decision(kind="selection", **NO_BOX))
    backend.run(REPAIR + "(1, 'box', '[0, 0, 1, 1]', '[10, 10, 50, 40]', 'locate_crop', 'ok', 0.9, 't')", ())


@pytest.mark.parametrize("what,statement", BAD_ROWS, ids=[w for w, _ in BAD_ROWS])
def test_a_bad_row_is_refused_by_the_schema(
    backend: Backend, what: str, statement: tuple[str, tuple]
) -> None:
    with pytest.raises(backend.errors):
        backend.run(*statement)


def test_every_write_to_a_validated_table_moves_the_change_counter(backend: Backend) -> None:
    """The validator's memo relies on it (SQLite bumps per row, PostgreSQL per statement)."""
    before = backend.value("SELECT n FROM ledger_version WHERE id = 1")
    backend.run(RETRACTION + "(1, 's1', 'undo', 't')", ())
    middle = backend.value("SELECT n FROM ledger_version WHERE id = 1")
    backend.run("INSERT INTO snapshots(taken_at, figures) VALUES ('t', '{}')", ())  # not a validated table
    assert before < middle == backend.value("SELECT n FROM ledger_version WHERE id = 1")

"""Where a decision came from, stored in the same transaction as the decision itself.

The ledger owns these rows; the write path does not know what they mean. An import hands a
``LegacyLine`` (the log line a decision was read from), a repair hands a ``Repair`` (what was
changed, how, on what evidence); each records itself once the decision's id is known. The reads
and writes of the import's own bookkeeping (lines already imported, the quarantine, notes) and of
the repairs table live here too, so every statement on these tables is in one module.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from curalog.audit import local_iso, now_local
from curalog.db.connection import Database


@dataclass(frozen=True)
class LegacyLine:
    """A decision (or an index row) read from line ``line`` of the legacy file ``source``."""

    source: str
    line: int
    sha: str  # of the line's text: an edited line is a new line

    def record(self, conn: sqlite3.Connection, kind: str, decision_id: int | None = None,
               index_path: str | None = None) -> None:  # fmt: skip
        conn.execute(
            "INSERT INTO legacy_lines(source, line, sha, kind, decision_id, index_path, imported_at)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (self.source, self.line, self.sha, kind, decision_id, index_path, local_iso(now_local())),
        )
        conn.execute(
            "DELETE FROM quarantine WHERE source = ? AND line = ? AND sha = ?",
            (self.source, self.line, self.sha),
        )


@dataclass(frozen=True)
class Repair:
    """Provenance of a repaired decision, stored with it in one transaction."""

    what: str  # "sizes", "box", ...
    old: object  # JSON-able
    new: object
    method: str
    evidence: str
    confidence: float = 1.0

    def record(self, conn: sqlite3.Connection, decision_id: int, line: LegacyLine | None) -> None:
        source, n, sha = (line.source, line.line, line.sha) if line else (None, None, None)
        conn.execute(
            "INSERT INTO repairs(decision_id, source, line, sha, what, old_value, new_value, method,"
            " evidence, confidence, applied_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (decision_id, source, n, sha, self.what, json.dumps(self.old), json.dumps(self.new),
             self.method, self.evidence, self.confidence, local_iso(now_local())),
        )  # fmt: skip


@dataclass(frozen=True)
class Provenance:
    """What is recorded with a decision: the legacy line it came from and/or the repair made."""

    line: LegacyLine | None = None
    repair: Repair | None = None

    def record(self, conn: sqlite3.Connection, kind: str, decision_id: int) -> None:
        if self.line is not None:
            self.line.record(conn, kind, decision_id)
        if self.repair is not None:
            self.repair.record(conn, decision_id, self.line)


def indexed_by_legacy(conn: sqlite3.Connection, path: str) -> bool:
    """Whether a legacy index line put (or would have put) the index row of ``path``."""
    found = conn.execute(
        "SELECT 1 FROM legacy_lines WHERE kind = 'index' AND index_path = ? LIMIT 1", (path,)
    )
    return found.fetchone() is not None


def imported_lines(db: Database) -> set[tuple[str, int, str]]:
    """(source, line, sha) of every legacy line already taken into the ledger."""
    return {
        (r["source"], r["line"], r["sha"]) for r in db.query("SELECT source, line, sha FROM legacy_lines")
    }


def imported_decision_ids(db: Database, sources: list[str]) -> set[int]:
    """Ids of the decisions import-legacy made from lines of the legacy files ``sources``."""
    if not sources:
        return set()
    marks = ",".join("?" * len(sources))
    rows = db.query(
        f"SELECT decision_id FROM legacy_lines WHERE decision_id IS NOT NULL AND source IN ({marks})",
        tuple(sources),
    )
    return {r["decision_id"] for r in rows}


def imported_index_paths(db: Database, source: str) -> set[str]:
    """Canonical paths of the index rows import-legacy made from lines of the legacy index ``source``."""
    rows = db.query("SELECT index_path FROM legacy_lines WHERE kind = 'index' AND source = ?", (source,))
    return {r["index_path"] for r in rows}


def repaired_decisions(db: Database) -> list[tuple[str, int, str, int]]:
    """(source, line, sha, decision id) of every repair of a legacy line, once each."""
    rows = db.query("SELECT DISTINCT source, line, sha, decision_id FROM repairs WHERE source IS NOT NULL")
    return [(r["source"], r["line"], r["sha"], r["decision_id"]) for r in rows]


def linked_lines(db: Database) -> dict[str, int]:
    """Legacy source -> the last line of it any import or repair recorded (the validator
    judges a line with what the ledger made of it only up to there)."""
    rows = db.query(
        "SELECT source, MAX(line) AS line FROM legacy_lines GROUP BY source UNION ALL "
        "SELECT source, MAX(line) AS line FROM repairs WHERE source IS NOT NULL GROUP BY source"
    )
    last: dict[str, int] = {}
    for r in rows:
        last[r["source"]] = max(last.get(r["source"], 0), int(r["line"] or 0))
    return last


def repaired_lines(db: Database, what: str) -> set[tuple[str, int, str]]:
    """(source, line, sha) of every legacy line a ``what`` repair was stored for."""
    rows = db.query("SELECT source, line, sha FROM repairs WHERE what = ?", (what,))
    return {(r["source"], r["line"], r["sha"]) for r in rows}


def refusal(problems: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(codes, message) of a refusal as the quarantine keeps it: the distinct finding codes,
    sorted, comma-separated; every problem as ``code: message``, ``; ``-separated."""
    problems = list(problems)
    return ",".join(sorted({c for c, _ in problems})), "; ".join(f"{c}: {m}" for c, m in problems)


def quarantine(db: Database, line: LegacyLine, kind: str, codes: str, message: str, raw: str) -> None:
    """Keep a legacy line the ledger refused, with its finding codes (replacing an earlier refusal)."""
    with db.write() as conn:
        conn.execute(
            "INSERT INTO quarantine(source, line, sha, kind, codes, message, raw, quarantined_at) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(source, line, sha) DO UPDATE SET "
            "codes=excluded.codes, message=excluded.message, quarantined_at=excluded.quarantined_at",
            (line.source, line.line, line.sha, kind, codes, message, raw, local_iso(now_local())),
        )


def record_notes(db: Database, line: LegacyLine, notes: list[str]) -> None:
    """What an import left out of a decision it stored (images that could not be found)."""
    with db.write() as conn:
        conn.executemany(
            "INSERT INTO import_notes(source, line, sha, note) VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
            [(line.source, line.line, line.sha, n) for n in notes],
        )

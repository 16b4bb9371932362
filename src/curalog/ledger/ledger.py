"""Decisions: validated before the row exists, stored atomically, read back exactly.

``Session.log_selection`` / ``Session.log_crop`` collect *every* problem of a decision and raise
them together as ``DecisionRejected``; only a decision with no problem is written, in one
transaction with its candidate rows, so nothing partial is ever stored.
"""

from __future__ import annotations

import os
import secrets
import socket
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from curalog.audit import local_iso, now_local
from curalog.config import Policy
from curalog.db.connection import Database
from curalog.db.facts import FactCache
from curalog.errors import DecisionRejected, DecisionWarning, Problem
from curalog.ledger.admission import Admission, Admitted, Candidate, Vectors
from curalog.ledger.checks import Box
from curalog.ledger.provenance import Provenance
from curalog.ledger.suggestions import Shown, ShownRow, record_shown, shown_rows
from curalog.paths import PathResolver, project_of


class AlreadyDecided(DecisionRejected):
    """The set was decided meanwhile (by another curator, another server): nothing was stored."""

    def __init__(self, decision_id: int, set_id: str, directory: str, tool: str) -> None:
        self.decision_id = decision_id
        super().__init__([Problem(
            "row.duplicate",
            f"set {set_id!r} in {directory or '.'} was decided meanwhile ({tool}: decision {decision_id}); "
            "nothing was stored: go on with the next set, or undo that decision first",
        )])  # fmt: skip


# SQL condition: decision ``{d}`` is not retracted (undone).
LIVE = "{d}.id NOT IN (SELECT decision_id FROM retractions)"


@dataclass(frozen=True)
class Decision:
    id: int
    session_id: str
    kind: str  # "selection" | "crop"
    set_id: str
    directory: str
    project: str
    chosen_idx: int
    candidates: tuple[Candidate, ...]
    box: Box | None  # pixels of the chosen image
    box_normalized: Box | None
    created_at: str

    @property
    def chosen(self) -> Candidate:
        return self.candidates[self.chosen_idx]


def near(a: Box | None, b: Box | None, tolerance: float) -> bool:
    """Two boxes (or none) that are the same within ``tolerance`` pixels at each corner."""
    if a is None or b is None:
        return a is None and b is None
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def new_session_id(when: datetime | None = None) -> str:
    """``YYYYMMDD_HHMMSS`` like the legacy logs, plus a random suffix so ids never collide."""
    ts = when or now_local()
    return f"{ts:%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


class Ledger:
    def __init__(
        self,
        db: Database,
        resolver: PathResolver,
        facts: FactCache,
        vectors: Vectors,
        policy: Policy,
    ) -> None:
        self.db = db
        self.resolver = resolver
        self.facts = facts
        self.admission = Admission(resolver, facts, vectors, policy)

    # -- sessions ---------------------------------------------------------------------------
    def start_session(self, tool: str, session_id: str | None = None) -> Session:
        sid = session_id or new_session_id()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO sessions(id, tool, started_at, host, pid) VALUES (?,?,?,?,?) "
                "ON CONFLICT(id) DO NOTHING",
                (sid, tool, local_iso(now_local()), socket.gethostname(), os.getpid()),
            )
        return Session(self, sid, tool)

    def end_session(self, session_id: str) -> None:
        with self.db.write() as conn:
            ended = local_iso(now_local())
            conn.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (ended, session_id))

    # -- writes -----------------------------------------------------------------------------
    def log(
        self,
        session_id: str,
        kind: str,
        set_id: object,
        directory: object,
        image_paths: object,
        chosen_idx: object,
        *,
        crop_coords: object = None,
        image_stages: object = None,
        image_sizes: object = None,
    ) -> int:
        """Check and store one decision; returns its id. See Session.log_crop."""
        admitted = self.admission.admit(
            kind, set_id, directory, image_paths, chosen_idx,
            crop_coords=crop_coords, image_stages=image_stages, image_sizes=image_sizes,
        )  # fmt: skip
        return self.store(session_id, admitted)

    def store(
        self,
        session_id: str,
        admitted: Admitted,
        *,
        created_at: str | None = None,
        provenance: Provenance | None = None,
        once_per_set: bool = False,
        shown: Shown | None = None,
    ) -> int:
        """Store an admitted decision and its candidates in one transaction; returns its id.

        ``once_per_set``: refused (``AlreadyDecided``) when a live decision of the same set id in
        the same folder exists, checked in the same transaction, so two curators deciding one set
        at once (two servers, two machines) cannot both store it.

        ``created_at`` keeps an imported row's own time. ``provenance`` is recorded in the same
        transaction; when it names a legacy line, the same decision already stored is that line's
        decision (the line is linked to it, silently); otherwise a duplicate is warned about.
        Either way a duplicate is never stored twice. ``shown``: the suggestion the person saw
        (``suggestions``), stored with a new decision.
        """
        a, chosen, cands = admitted, admitted.chosen, admitted.candidates
        b = a.box or (None, None, None, None)
        nb = a.box_normalized or (None, None, None, None)
        with self.db.write() as conn:
            if once_per_set:
                self._refuse_if_decided(conn, a.set_id, a.directory)
            self.facts.write_pending(conn)
            dup = conn.execute(
                "SELECT id FROM decisions WHERE session_id = ? AND set_id = ? AND kind = ? "
                "AND chosen_hash = ? AND crop_x1 IS NOT DISTINCT FROM ? AND crop_y1 IS NOT DISTINCT FROM ? "
                "AND crop_x2 IS NOT DISTINCT FROM ? AND crop_y2 IS NOT DISTINCT FROM ? "
                f"AND {LIVE.format(d='decisions')}",
                (session_id, a.set_id, a.kind, chosen.hash, *b),
            ).fetchone()
            if dup is not None:
                if provenance is not None and provenance.line is not None:
                    provenance.record(conn, a.kind, int(dup["id"]))
                    return int(dup["id"])
                warnings.warn(
                    DecisionWarning(
                        f"row.duplicate: the same {a.kind} (session {session_id}, set {a.set_id}, "
                        f"{chosen.path}) is already decision {dup['id']}; not stored again"
                    ),
                    stacklevel=4,
                )
                return int(dup["id"])
            cur = conn.execute(
                "INSERT INTO decisions(session_id, kind, set_id, directory, project, n_candidates,"
                " chosen_idx, chosen_path, chosen_hash, chosen_width, chosen_height, crop_x1,"
                " crop_y1, crop_x2, crop_y2, norm_x1, norm_y1, norm_x2, norm_y2, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    session_id, a.kind, a.set_id, a.directory, project_of(chosen.path), len(cands),
                    chosen.idx, chosen.path, chosen.hash, chosen.width, chosen.height,
                    *b, *nb, created_at or local_iso(now_local()),
                ),
            )  # fmt: skip
            decision_id = int(cur.fetchone()[0])
            conn.executemany(
                "INSERT INTO candidates(decision_id, idx, path, hash, stage, width, height) "
                "VALUES (?,?,?,?,?,?,?)",
                [(decision_id, c.idx, c.path, c.hash, c.stage, c.width, c.height) for c in cands if c],
            )
            if provenance is not None:
                provenance.record(conn, a.kind, decision_id)
            if shown is not None:
                record_shown(conn, decision_id, shown)
        return decision_id

    @staticmethod
    def _refuse_if_decided(conn: Any, set_id: str, directory: str) -> None:
        found = conn.execute(
            "SELECT d.id, d.session_id, s.tool FROM decisions d JOIN sessions s ON s.id = d.session_id "
            f"WHERE d.set_id = ? AND d.directory = ? AND {LIVE.format(d='d')} ORDER BY d.id DESC LIMIT 1",
            (set_id, directory),
        ).fetchone()
        if found is not None:
            raise AlreadyDecided(found["id"], set_id, directory, found["tool"])

    def retract(self, decision_id: int, session_id: str, reason: str) -> None:
        """Undo a decision: a retraction row is added (the decision row stays, unchanged), and
        every reader leaves the decision out from now on. Retracting twice is an error."""
        if not reason.strip():
            raise ValueError("a retraction needs a reason")
        with self.db.write() as conn:
            found = conn.execute(
                "SELECT d.id, r.decision_id AS gone FROM decisions d "
                "LEFT JOIN retractions r ON r.decision_id = d.id WHERE d.id = ?",
                (decision_id,),
            ).fetchone()
            if found is None:
                raise KeyError(f"no decision {decision_id}")
            if found["gone"] is not None:
                raise ValueError(f"decision {decision_id} is already retracted")
            conn.execute(
                "INSERT INTO retractions(decision_id, session_id, reason, retracted_at) VALUES (?,?,?,?)",
                (decision_id, session_id, reason, local_iso(now_local())),
            )

    # -- reads ------------------------------------------------------------------------------
    def decisions(
        self, where: str = "", params: tuple = (), *, retracted: bool = False
    ) -> Iterator[Decision]:
        """Decisions in id order; retracted (undone) ones only with ``retracted=True``."""
        if not retracted:
            live = LIVE.format(d="d")
            cond = where.strip().removeprefix("WHERE")
            where = f"WHERE ({cond}) AND {live}" if cond.strip() else f"WHERE {live}"
        rows = self.db.query(f"SELECT * FROM decisions d {where} ORDER BY d.id", params)
        if not rows:
            return
        cand_rows = self.db.query(
            "SELECT c.* FROM candidates c JOIN decisions d ON d.id = c.decision_id "
            f"{where} ORDER BY c.decision_id, c.idx",
            params,
        )
        by_decision: dict[int, list[Candidate]] = {}
        for c in cand_rows:
            by_decision.setdefault(c["decision_id"], []).append(
                Candidate(c["idx"], c["path"], c["hash"], c["stage"], c["width"], c["height"])
            )
        for r in rows:
            box = norm = None
            if r["kind"] == "crop":
                box = (r["crop_x1"], r["crop_y1"], r["crop_x2"], r["crop_y2"])
                norm = (r["norm_x1"], r["norm_y1"], r["norm_x2"], r["norm_y2"])
            yield Decision(
                r["id"], r["session_id"], r["kind"], r["set_id"], r["directory"], r["project"],
                r["chosen_idx"], tuple(by_decision.get(r["id"], ())), box, norm, r["created_at"],
            )  # fmt: skip

    def same_decision(self, admitted: Admitted, tolerance: float = 0.0) -> int | None:
        """The id of a live decision equal to ``admitted`` (kind, set, folder, chosen content, and
        each box corner within ``tolerance`` pixels), from any session: what an import of another
        tool's copy of this ledger (its boxes rounded its way) must not add twice."""
        rows = self.db.query(
            "SELECT id, crop_x1, crop_y1, crop_x2, crop_y2 FROM decisions WHERE chosen_hash = ? "
            f"AND set_id = ? AND directory = ? AND kind = ? AND {LIVE.format(d='decisions')} ORDER BY id",
            (admitted.chosen.hash, admitted.set_id, admitted.directory, admitted.kind),
        )
        for r in rows:
            box = None if r["crop_x1"] is None else (r["crop_x1"], r["crop_y1"], r["crop_x2"], r["crop_y2"])
            if near(box, admitted.box, tolerance):
                return int(r["id"])
        return None

    def decision(self, decision_id: int) -> Decision:
        found = list(self.decisions("WHERE d.id = ?", (decision_id,), retracted=True))
        if not found:
            raise KeyError(f"no decision {decision_id}")
        return found[0]

    def referenced_images(self) -> list[str]:
        """Canonical paths of every image a decision names (chosen or not), sorted."""
        rows = self.db.query("SELECT DISTINCT path FROM candidates ORDER BY path")
        return [r["path"] for r in rows]

    def kinds(self, ids: set[int]) -> dict[int, str]:
        """{decision id: kind} of the given ids (retracted or not; unknown ids are left out)."""
        out: dict[int, str] = {}
        wanted = sorted(ids)
        for i in range(0, len(wanted), 500):  # within any backend's limit on parameters
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            out.update(
                (r["id"], r["kind"])
                for r in self.db.query(f"SELECT id, kind FROM decisions WHERE id IN ({marks})", tuple(chunk))
            )
        return out

    def imported_choices(self) -> dict[tuple[str, int], tuple[str, str]]:
        """{(legacy source, line): (the line's sha, the chosen image)} of every live decision
        import-legacy made from a legacy log line."""
        rows = self.db.query(
            "SELECT l.source, l.line, l.sha, d.chosen_path FROM legacy_lines l "
            "JOIN decisions d ON d.id = l.decision_id WHERE " + LIVE.format(d="d")
        )
        return {(r["source"], r["line"]): (r["sha"], r["chosen_path"]) for r in rows}

    def shown(self) -> list[ShownRow]:
        """Every live decision made with a suggestion shown, and what the person did with it."""
        return shown_rows(self.db, LIVE.format(d="d"))

    def candidate_paths(self) -> list[tuple[str, int]]:
        """(canonical path, decision id) of every image named by a live decision."""
        rows = self.db.query(
            "SELECT c.path, d.id FROM candidates c JOIN decisions d ON d.id = c.decision_id "
            f"WHERE {LIVE.format(d='d')}"
        )
        return [(r["path"], r["id"]) for r in rows]

    def candidate_sizes(self) -> list[tuple[str, int, int, int]]:
        """(canonical path, width, height, decision id) of every image any decision (retracted
        too) recorded, in table order."""
        rows = self.db.query("SELECT path, width, height, decision_id FROM candidates")
        return [(r["path"], r["width"], r["height"], r["decision_id"]) for r in rows]

    def count(self, kind: str | None = None) -> int:
        live = LIVE.format(d="decisions")
        if kind is None:
            rows = self.db.query(f"SELECT count(*) AS n FROM decisions WHERE {live}")
        else:
            rows = self.db.query(f"SELECT count(*) AS n FROM decisions WHERE kind = ? AND {live}", (kind,))
        return int(rows[0]["n"]) if rows else 0


class Session:
    """A run of a curation tool. Decisions logged through it carry its id."""

    def __init__(self, ledger: Ledger, session_id: str, tool: str) -> None:
        self._ledger = ledger
        self.id = session_id
        self.tool = tool

    def log_selection(
        self,
        set_id: str,
        directory: str,
        image_paths: Sequence[str],
        chosen_idx: int,
        image_stages: Sequence[str] | None = None,
    ) -> int:
        """Store a selection (the person chose ``image_paths[chosen_idx]``); returns its id."""
        return self._ledger.log(
            self.id, "selection", set_id, directory, image_paths, chosen_idx,
            image_stages=image_stages,
        )  # fmt: skip

    def log_crop(
        self,
        set_id: str,
        directory: str,
        image_paths: Sequence[str],
        chosen_idx: int,
        crop_coords: Sequence[float],
        image_stages: Sequence[str] | None = None,
        image_sizes: Sequence[tuple[int, int]] | None = None,
    ) -> int:
        """Store a crop: the chosen image and the box drawn on it, in its pixels.

        ``image_sizes`` (one ``(width, height)`` per image) are checked against the files; when
        None they are measured. Raises DecisionRejected listing every problem.
        """
        return self._ledger.log(
            self.id, "crop", set_id, directory, image_paths, chosen_idx,
            crop_coords=crop_coords, image_stages=image_stages, image_sizes=image_sizes,
        )  # fmt: skip

    def undo(self, decision_id: int, reason: str = "undone by the person who made it") -> None:
        """Retract a decision (see Ledger.retract): never a delete, always a new row."""
        self._ledger.retract(decision_id, self.id, reason)

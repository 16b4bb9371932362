"""Decisions: validated before the row exists, stored atomically, read back exactly.

``Session.log_selection`` / ``Session.log_crop`` collect *every* problem of a decision and raise
them together as ``DecisionRejected``; only a decision with no problem is written, in one
transaction with its candidate rows, so nothing partial is ever stored.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from curalog.audit import local_iso, now_local
from curalog.config import Policy
from curalog.db.connection import Database
from curalog.db.facts import FactCache
from curalog.embeddings.store import EmbeddingStore
from curalog.errors import (
    DecisionRejected,
    DecisionWarning,
    ImageError,
    PathError,
    Problem,
    shown,
)
from curalog.ledger.checks import Box, check_box, check_box_shape, check_size
from curalog.paths import NOT_UTF8, PathResolver, project_of, utf8

#: the longest set id (and other text fields) and path a decision may carry: a set id of megabytes
#: is a bug in the caller, never a set
MAX_TEXT = 1024
MAX_PATH_TEXT = 4096
# SQL condition: decision ``{d}`` is not retracted (undone).
LIVE = "{d}.id NOT IN (SELECT decision_id FROM retractions)"


@dataclass(frozen=True)
class Candidate:
    idx: int
    path: str
    hash: str
    stage: str | None
    width: int
    height: int


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


def new_session_id(when: datetime | None = None) -> str:
    """``YYYYMMDD_HHMMSS`` like the legacy logs, plus a random suffix so ids never collide."""
    ts = when or now_local()
    return f"{ts:%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


def _record_legacy(
    conn: sqlite3.Connection, legacy: tuple[str, int, str], kind: str, decision_id: int
) -> None:
    source, line, sha = legacy
    conn.execute(
        "INSERT OR IGNORE INTO legacy_lines(source, line, sha, kind, decision_id, imported_at) "
        "VALUES (?,?,?,?,?,?)",
        (source, line, sha, kind, decision_id, local_iso(now_local())),
    )
    conn.execute("DELETE FROM quarantine WHERE source = ? AND line = ? AND sha = ?", (source, line, sha))


@dataclass(frozen=True)
class Repair:
    """Provenance of a repaired decision, stored with it in one transaction."""

    what: str  # "sizes", "box", ...
    old: object  # JSON-able
    new: object
    method: str
    evidence: str
    confidence: float = 1.0


def _record_repair(conn: sqlite3.Connection, repair: Repair, decision_id: int,
                   legacy: tuple[str, int, str] | None) -> None:  # fmt: skip
    source, line, sha = legacy or (None, None, None)
    conn.execute(
        "INSERT INTO repairs(decision_id, source, line, sha, what, old_value, new_value, method, evidence,"
        " confidence, applied_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (decision_id, source, line, sha, repair.what, json.dumps(repair.old), json.dumps(repair.new),
         repair.method, repair.evidence, repair.confidence, local_iso(now_local())),
    )  # fmt: skip


def _per_image(value: object, name: str, kind: str, n: int, problems: list[Problem]) -> list[object] | None:
    """``value`` as a list with one entry per image, or None (a problem is recorded if wrong)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        problems.append(Problem("row.malformed", f"{name} must be {kind}"))
    elif len(value) != n:
        problems.append(Problem("row.malformed", f"{name} has {len(value)} entries for {n} image(s)"))
    else:
        return list(value)
    return None


class Ledger:
    def __init__(
        self,
        db: Database,
        resolver: PathResolver,
        facts: FactCache,
        store: EmbeddingStore,
        policy: Policy,
    ) -> None:
        self.db = db
        self.resolver = resolver
        self.facts = facts
        self.store = store
        self.policy = policy

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

    # -- checks -----------------------------------------------------------------------------
    def _candidates(
        self,
        kind: str,
        directory: str,
        image_paths: object,
        chosen_idx: object,
        image_stages: object,
        image_sizes: object,
        problems: list[Problem],
        by_image: dict[int, list[Problem]],
    ) -> list[Candidate | None]:
        if isinstance(image_paths, str | bytes) or not isinstance(image_paths, Sequence):
            problems.append(Problem("row.malformed", "image_paths must be a list of paths"))
            return []
        paths = list(image_paths)
        n = len(paths)
        if n == 0:
            problems.append(Problem("row.malformed", "image_paths is empty"))
        if isinstance(chosen_idx, bool) or not isinstance(chosen_idx, int):
            problems.append(Problem("row.malformed", f"chosen_idx {chosen_idx!r} is not an int"))
        elif not 0 <= chosen_idx < n:
            problems.append(
                Problem(
                    "row.malformed",
                    f"chosen_idx {chosen_idx} is out of range for {n} image(s) (0..{max(n - 1, 0)})",
                )
            )
        stages = _per_image(image_stages, "image_stages", "a list", n, problems) or [None] * n
        sizes = _per_image(image_sizes, "image_sizes", "a list of (w, h)", n, problems)

        out: list[Candidate | None] = []
        starts: list[int] = []
        for i, raw in enumerate(paths):
            starts.append(len(problems))
            label = f"image {i} ({shown(repr(raw))})"
            if not isinstance(raw, str | os.PathLike):
                problems.append(Problem("path.unresolved", f"{label}: not a path"))
                out.append(None)
                continue
            text = os.fspath(raw)
            why = (
                NOT_UTF8 if not utf8(text) else "holds a NUL character" if "\x00" in text
                else f"is {len(text):,} characters long (at most {MAX_PATH_TEXT:,})"
                if len(text) > MAX_PATH_TEXT else None
            )  # fmt: skip
            if why is not None:
                problems.append(Problem("path.unresolved", f"{label}: {why}"))
                out.append(None)
                continue
            try:
                res = self.resolver.resolve(text, directory)
            except PathError as exc:
                problems.append(Problem(exc.code, f"{label}: {shown(exc)}"))
                out.append(None)
                continue
            except (OSError, RuntimeError, ValueError) as exc:  # a name too long, a symlink loop
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                problems.append(Problem("path.unresolved", f"{label}: cannot be looked up ({shown(reason)})"))
                out.append(None)
                continue
            label = f"image {i} ({res.canonical})"
            logged = None
            if sizes is not None:
                checked = check_size(sizes[i], label)
                if isinstance(checked, Problem):
                    problems.append(checked)
                    out.append(None)
                    continue
                logged = checked
            if res.on_disk:
                try:
                    facts = self.facts.get(res.canonical, defer=True)
                except ImageError as exc:
                    problems.append(Problem("image.unreadable", f"{label}: {exc.reason}"))
                    out.append(None)
                    continue
                digest, measured = facts.sha256, (facts.width, facts.height)
                if logged is not None and logged != measured:
                    problems.append(
                        Problem(
                            "crop.dimension_mismatch",
                            f"{label}: logged size {logged[0]}x{logged[1]} differs from the "
                            f"file's {measured[0]}x{measured[1]} (EXIF orientation applied)",
                        )
                    )
                    out.append(None)
                    continue
            else:
                entry = self.store.lookup(res.canonical)
                if entry is None or logged is None:
                    problems.append(
                        Problem(
                            "image.missing",
                            f"{label}: the file is not on disk"
                            + ("" if logged else " and no size was given for it"),
                        )
                    )
                    out.append(None)
                    continue
                digest, measured = entry.hash, logged
            stage = stages[i]
            out.append(Candidate(i, res.canonical, digest, None if stage is None else str(stage), *measured))
        starts.append(len(problems))
        for i, cand in enumerate(out):
            if cand is None and starts[i + 1] > starts[i]:
                by_image[i] = problems[starts[i] : starts[i + 1]]
        return out

    def _check_embedding(self, kind: str, chosen: Candidate, problems: list[Problem]) -> None:
        policy = self.policy.require_embedding
        if policy == "off":
            return
        reason = self.store.vector_problem(chosen.hash)
        if reason is None:
            return
        message = (
            f"no embedding for the chosen image {chosen.path}: {reason}; run: curalog embed {chosen.path}"
        )
        if kind == "crop" or policy == "all":
            problems.append(Problem("decision.no_embedding", message))
        else:
            warnings.warn(DecisionWarning(f"decision.no_embedding: {message}"), stacklevel=4)

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
        created_at: str | None = None,
        legacy: tuple[str, int, str] | None = None,
        dry_run: bool = False,
        repair: Repair | None = None,
    ) -> int:
        """Validate and store one decision; returns its id. See Session.log_crop.

        ``created_at`` keeps an imported row's own time; ``legacy`` = (source, line, sha) records,
        in the same transaction, the legacy line the decision came from. ``dry_run`` validates
        only (returns 0).
        """
        problems: list[Problem] = []
        if not isinstance(set_id, str) or not set_id.strip():
            problems.append(
                Problem("row.malformed", f"set_id {shown(repr(set_id))} must be a non-empty text")
            )
        elif len(set_id) > MAX_TEXT or not utf8(set_id) or "\x00" in set_id:
            problems.append(Problem(
                "row.malformed",
                f"set_id {shown(repr(set_id))} is not UTF-8 text without NUL of at most {MAX_TEXT:,} chars",
            ))  # fmt: skip
        if directory is None:
            directory = ""
        if not isinstance(directory, str | os.PathLike):
            problems.append(Problem("row.malformed", f"directory {shown(repr(directory))} must be a path"))
            directory = ""
        directory = os.fspath(directory)
        if len(directory) > MAX_PATH_TEXT or not utf8(directory) or "\x00" in directory:
            problems.append(Problem(
                "row.malformed", f"directory {shown(repr(directory))} must be UTF-8 text of at most "
                f"{MAX_PATH_TEXT:,} characters without NUL"
            ))  # fmt: skip
            directory = ""
        by_image: dict[int, list[Problem]] = {}
        cands = self._candidates(
            kind, directory, image_paths, chosen_idx, image_stages, image_sizes, problems, by_image
        )
        chosen = cands[chosen_idx] if isinstance(chosen_idx, int) and 0 <= chosen_idx < len(cands) else None
        box = norm = None
        if chosen is not None:
            if kind == "crop":
                checked = check_box(crop_coords, chosen.width, chosen.height)
                if isinstance(checked, Problem):
                    problems.append(checked)
                else:
                    box, norm = checked
            self._check_embedding(kind, chosen, problems)
        elif kind == "crop":
            shape = check_box_shape(crop_coords)
            if shape is not None:
                problems.append(shape)
        if problems:
            raise DecisionRejected(problems, by_image)
        assert chosen is not None and isinstance(set_id, str)
        if dry_run:
            return 0
        return self._insert(
            session_id, kind, set_id, directory, cands, chosen, box, norm, created_at, legacy, repair
        )  # fmt: skip

    def _insert(
        self,
        session_id: str,
        kind: str,
        set_id: str,
        directory: str,
        cands: list[Candidate | None],
        chosen: Candidate,
        box: Box | None,
        norm: Box | None,
        created_at: str | None = None,
        legacy: tuple[str, int, str] | None = None,
        repair: Repair | None = None,
    ) -> int:
        b = box or (None, None, None, None)
        nb = norm or (None, None, None, None)
        with self.db.write() as conn:
            self.facts.write_pending(conn)
            dup = conn.execute(
                "SELECT id FROM decisions WHERE session_id = ? AND set_id = ? AND kind = ? "
                "AND chosen_hash = ? AND crop_x1 IS ? AND crop_y1 IS ? AND crop_x2 IS ? "
                f"AND crop_y2 IS ? AND {LIVE.format(d='decisions')}",
                (session_id, set_id, kind, chosen.hash, *b),
            ).fetchone()
            if dup is not None:
                if legacy is not None:
                    _record_legacy(conn, legacy, kind, int(dup["id"]))
                    if repair is not None:
                        _record_repair(conn, repair, int(dup["id"]), legacy)
                    return int(dup["id"])
                warnings.warn(
                    DecisionWarning(
                        f"row.duplicate: the same {kind} (session {session_id}, set {set_id}, "
                        f"{chosen.path}) is already decision {dup['id']}; not stored again"
                    ),
                    stacklevel=4,
                )
                return int(dup["id"])
            cur = conn.execute(
                "INSERT INTO decisions(session_id, kind, set_id, directory, project, n_candidates,"
                " chosen_idx, chosen_path, chosen_hash, chosen_width, chosen_height, crop_x1,"
                " crop_y1, crop_x2, crop_y2, norm_x1, norm_y1, norm_x2, norm_y2, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    session_id, kind, set_id, directory, project_of(chosen.path), len(cands),
                    chosen.idx, chosen.path, chosen.hash, chosen.width, chosen.height,
                    *b, *nb, created_at or local_iso(now_local()),
                ),
            )  # fmt: skip
            decision_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO candidates(decision_id, idx, path, hash, stage, width, height) "
                "VALUES (?,?,?,?,?,?,?)",
                [(decision_id, c.idx, c.path, c.hash, c.stage, c.width, c.height) for c in cands if c],
            )
            if legacy is not None:
                _record_legacy(conn, legacy, kind, decision_id)
            if repair is not None:
                _record_repair(conn, repair, decision_id, legacy)
        return decision_id

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

    def decision(self, decision_id: int) -> Decision:
        found = list(self.decisions("WHERE d.id = ?", (decision_id,), retracted=True))
        if not found:
            raise KeyError(f"no decision {decision_id}")
        return found[0]

    def referenced_images(self) -> list[str]:
        """Canonical paths of every image a decision names (chosen or not), sorted."""
        rows = self.db.query("SELECT DISTINCT path FROM candidates ORDER BY path")
        return [r["path"] for r in rows]

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

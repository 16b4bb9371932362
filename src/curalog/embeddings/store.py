"""The embedding store: ``<sha256>.npy`` vector files plus their index in the ledger database.

Write protocol, so that "the index says yes, the disk says no" cannot be produced even by
kill -9: each vector goes to a temp file in the same folder, is fsynced, linked into place
(never over an existing file), the folder is fsynced, and only then are the index rows committed.
A crash leaves at worst an orphan file, which ``verify`` reports and nothing uses.

Files that curalog did not write (a legacy vector of the same image, say) are never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from curalog.audit import AuditLog, local_iso, now_local
from curalog.embeddings.npy import read_vector_file, value_problem

if TYPE_CHECKING:
    import sqlite3

    from curalog.db.connection import Database

TEMP_PREFIX = ".curalog-tmp-"
_HEX = "0123456789abcdef"
_HEX_RUN = re.compile("[0-9a-f]*")


def list_vector_files(directory: str | os.PathLike[str]) -> tuple[dict[str, str], list[str]]:
    """({hash: file name} of every vector file, [names of temp files left by interrupted writes])
    in a vector folder; both empty when there is no such folder. One listing, no stat."""
    names, temps = vector_file_names(directory)
    return {name[:64]: name for name in names}, temps


def vector_file_names(directory: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """([every vector file's name], [temp files' names]) of a vector folder, as
    ``list_vector_files`` lists them: a vector file is ``<64 lowercase hex digits>.npy``."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    shaped = [name for name in names if len(name) == 68 and name.endswith(".npy")]
    # the hex of all of them checked at once (a folder holds 100k+); an odd one: each alone
    if not _HEX_RUN.fullmatch("".join([name[:64] for name in shaped])):
        shaped = [name for name in shaped if not name[:64].strip(_HEX)]
    return shaped, [name for name in names if name.startswith(TEMP_PREFIX)]


_TEMP_NAME = re.compile(r"^\.curalog-tmp-(\d+)-[0-9a-f]+-([0-9a-f]{64})\.npy$")
# An existing unindexed file is adopted only if it holds (nearly) the vector just computed.
ADOPT_ATOL = 1e-4


@dataclass(frozen=True)
class IndexEntry:
    path: str
    hash: str
    dim: int
    model: str
    file_size: int
    created_at: str


@dataclass(frozen=True)
class PutResult:
    hash: str
    paths: tuple[str, ...]
    error: str | None = None
    action: str = ""  # "written" | "reused" | "adopted" | "" (on error)


def check_vector(arr: object, dim: int | None = None) -> str | None:
    """Why ``arr`` is not a usable vector, or None: 1-D float, right length, finite, not zero."""
    if not isinstance(arr, np.ndarray):
        return "not an array"
    if arr.ndim != 1:
        return f"not 1-D (shape {arr.shape})"
    if arr.dtype.kind != "f":
        return f"not float (dtype {arr.dtype})"
    return value_problem(arr, dim)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddingStore:
    def __init__(
        self,
        root: Path,
        directory: Path,
        db: Database,
        audit: AuditLog,
        legacy_hashes: Callable[[], set[str]] = set,
    ) -> None:
        self.root = root
        self.directory = directory
        self.db = db
        self.audit = audit
        #: the hashes the legacy index names (read by the legacy package; the store reads no format)
        self.legacy_hashes = legacy_hashes

    @property
    def rel_dir(self) -> str:
        return self.directory.relative_to(self.root).as_posix()

    def vector_path(self, digest: str) -> Path:
        return self.directory / f"{digest}.npy"

    # -- index reads ------------------------------------------------------------------------
    @staticmethod
    def _entry(r: object) -> IndexEntry:
        return IndexEntry(
            r["path"],
            r["hash"],
            r["dim"],
            r["model"],
            r["file_size"],
            r["created_at"],  # type: ignore[index]
        )

    def lookup(self, path: str) -> IndexEntry | None:
        rows = self.db.query("SELECT * FROM embedding_index WHERE path = ?", (path,))
        return self._entry(rows[0]) if rows else None

    def entries(self) -> list[IndexEntry]:
        return [self._entry(r) for r in self.db.query("SELECT * FROM embedding_index ORDER BY path")]

    def index_pairs(self) -> list[tuple[str, str | None]]:
        """(path, hash) of every index row."""
        return [(r["path"], r["hash"]) for r in self.db.query("SELECT path, hash FROM embedding_index")]

    def model_of(self, digest: str) -> str | None:
        """The model of the vector stored for content ``digest``, or None when none is indexed."""
        rows = self.db.query("SELECT model FROM embedding_index WHERE hash = ? LIMIT 1", (digest,))
        return rows[0]["model"] if rows else None

    def vector_problem(self, digest: str) -> str | None:
        """Why the image with content ``digest`` has no usable vector, or None if it has one.

        The index must name the hash, and the file must be on disk with the size recorded when
        it was written and hold a sound vector (1-D float of the indexed length, finite, not 0).
        """
        rows = self.db.query("SELECT file_size, dim FROM embedding_index WHERE hash = ? LIMIT 1", (digest,))
        if not rows:
            return "no index entry names it"
        name = f"{self.rel_dir}/{digest}.npy"
        path = self.vector_path(digest)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return f"its vector file {name} is gone"
        problem = None
        if size != rows[0]["file_size"]:
            problem = f"size {size}, written as {rows[0]['file_size']}"
        else:
            _arr, problem = read_vector_file(path, rows[0]["dim"])
        return f"its vector file {name} is corrupt ({problem})" if problem else None

    def load(self, digest: str) -> np.ndarray:
        rows = self.db.query("SELECT dim FROM embedding_index WHERE hash = ? LIMIT 1", (digest,))
        if not rows:
            raise KeyError(f"no index entry for {digest}")
        arr, problem = read_vector_file(self.vector_path(digest), rows[0]["dim"])
        if arr is None:
            raise ValueError(f"{self.rel_dir}/{digest}.npy: {problem}")
        return arr

    # -- writes -----------------------------------------------------------------------------
    def _write_file(self, digest: str, vec: np.ndarray, *, replace: bool = False) -> bool:
        """Write ``vec`` to ``<digest>.npy``: temp file, fsync, then link it into place.

        Linking never clobbers: False when a file was already there. ``replace`` atomically
        swaps curalog's own file instead (re-embedding with another model).
        """
        tmp = self.directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{digest}.npy"
        try:
            with open(tmp, "xb") as fh:
                np.save(fh, vec, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            if replace:
                os.replace(tmp, self.vector_path(digest))
                return True
            try:
                os.link(tmp, self.vector_path(digest))
            except FileExistsError:
                return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return True

    def put_many(
        self,
        items: Sequence[tuple[str, Sequence[str], np.ndarray]],
        model: str,
        session_id: str = "",
    ) -> list[PutResult]:
        """Store vectors for ``(hash, image paths, vector)`` items, crash-safely, in one batch.

        Each vector is checked (1-D, finite, non-zero) and L2-normalized before it is written.
        An item whose file exists but is not indexed (a crash leftover or a file curalog did not
        write) is adopted only if it holds the same vector; otherwise it is left untouched and the
        item fails with the reason.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        results: list[PutResult] = []
        ready: list[tuple[str, list[str], int, int]] = []  # hash, paths, dim, file size
        written: list[str] = []
        stale = self._drop_stale(items, model)
        for digest, paths, vec in items:
            paths = sorted({*paths, *stale.get(digest, ())})
            arr = np.asarray(vec)
            problem = check_vector(arr) if arr.ndim == 1 else f"not 1-D (shape {arr.shape})"
            if problem:
                results.append(PutResult(digest, tuple(paths), f"embedder output {problem}"))
                continue
            arr = (arr / np.linalg.norm(arr.astype(np.float64))).astype(np.float32)
            final = self.vector_path(digest)
            if digest in stale:
                self._write_file(digest, arr, replace=True)
                written.append(final.name)
                action = "written"
            elif self.vector_problem(digest) is None:
                action = "reused"
            elif self._write_file(digest, arr):
                written.append(final.name)
                action = "written"
            else:
                existing, why = read_vector_file(final, arr.shape[0])
                if existing is None or not np.allclose(existing, arr, atol=ADOPT_ATOL):
                    results.append(
                        PutResult(
                            digest,
                            tuple(paths),
                            f"{self.rel_dir}/{final.name} already exists, is not in the index and "
                            f"holds a different vector ({why or 'values differ'}); it was left "
                            "untouched: move it away or run `curalog verify` to inspect it",
                        )
                    )
                    continue
                action = "adopted"
            ready.append((digest, paths, int(arr.shape[0]), final.stat().st_size))
            results.append(PutResult(digest, tuple(paths), None, action))
        if written:
            _fsync_dir(self.directory)
            self.audit.record(
                "create", written, dest_dir=self.rel_dir, session_id=session_id,
                notes=f"embedding vectors ({model})",
            )  # fmt: skip
        if ready:
            self._index(ready, model)
        return results

    def _drop_stale(
        self, items: Sequence[tuple[str, Sequence[str], np.ndarray]], model: str
    ) -> dict[str, list[str]]:
        """{hash: its paths} of the items indexed under another model or length; their rows are
        deleted first (committed), so a crash while the file is replaced leaves an orphan, never a
        row naming the wrong vector."""
        stale: dict[str, list[str]] = {}
        for digest, _paths, vec in items:
            rows = self.db.query(
                "SELECT path FROM embedding_index WHERE hash = ? AND (model <> ? OR dim <> ?)",
                (digest, model, int(np.asarray(vec).reshape(-1).shape[0])),
            )
            if rows:
                stale[digest] = [r["path"] for r in rows]
        if stale:
            with self.db.write() as conn:
                conn.executemany("DELETE FROM embedding_index WHERE hash = ?", [(h,) for h in stale])
        return stale

    def _index(self, ready: list[tuple[str, list[str], int, int]], model: str) -> None:
        """The index rows of vectors now on disk (hash, paths, dim, file size), in one transaction."""
        now = local_iso(now_local())
        rows = [(p, h, dim, model, size, now) for h, paths, dim, size in ready for p in paths]
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO embedding_index(path, hash, dim, model, file_size, created_at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET hash=excluded.hash, "
                "dim=excluded.dim, model=excluded.model, file_size=excluded.file_size, "
                "created_at=excluded.created_at",
                rows,
            )
            conn.executemany("DELETE FROM embed_failures WHERE path = ?", [(r[0],) for r in rows])

    def record_failures(self, failures: Iterable[tuple[str, str]], model: str) -> None:
        now = local_iso(now_local())
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO embed_failures(path, model, reason, failed_at) VALUES (?,?,?,?) "
                "ON CONFLICT(path) DO UPDATE SET model=excluded.model, reason=excluded.reason, "
                "failed_at=excluded.failed_at",
                [(p, model, reason, now) for p, reason in failures],
            )

    def failures(self) -> list[tuple[str, str]]:
        rows = self.db.query("SELECT path, reason FROM embed_failures ORDER BY path")
        return [(r["path"], r["reason"]) for r in rows]

    def clean_temp_files(self, session_id: str = "") -> list[str]:
        """Delete temp files left by writers that were killed (their process is gone)."""
        if not self.directory.is_dir():
            return []
        removed = []
        for entry in os.scandir(self.directory):
            m = _TEMP_NAME.match(entry.name)
            if m and not _pid_alive(int(m.group(1))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
        if removed:
            self.audit.record(
                "delete", removed, source_dir=self.rel_dir, session_id=session_id,
                notes="temp files left by an interrupted embedding write",
            )  # fmt: skip
        return removed

    def index_legacy_line(self, path: str, digest: str, dim: int, model: str, *, add: bool,
                          may_replace: Callable[[sqlite3.Connection, str], bool],
                          record: Callable[[sqlite3.Connection], None]) -> None:  # fmt: skip
        """Adopt a legacy vector file in place: the index row for ``path`` (none when ``add`` is
        False; an existing row is replaced only when ``may_replace(conn, path)``: an earlier legacy
        line put it there), and ``record`` (the line's provenance), in one transaction."""
        size = self.vector_path(digest).stat().st_size
        with self.db.write() as conn:
            if add:
                values = (path, digest, dim, model, size, local_iso(now_local()))
                upsert = (
                    "ON CONFLICT(path) DO UPDATE SET hash=excluded.hash, dim=excluded.dim, "
                    "model=excluded.model, file_size=excluded.file_size, created_at=excluded.created_at"
                )
                conn.execute(
                    "INSERT INTO embedding_index(path, hash, dim, model, file_size, created_at) VALUES "
                    f"(?,?,?,?,?,?) {upsert if may_replace(conn, path) else 'ON CONFLICT(path) DO NOTHING'}",
                    values,
                )
            record(conn)

"""What curalog knows about an image file (sha256, size), cached by the file's stat identity.

The cache lives in the ledger database (table ``file_facts``) and in memory; a file whose size,
mtime, inode or ctime changed is measured again. Deleting the cache loses nothing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from curalog.db.connection import Database
from curalog.errors import ImageError
from curalog.files import stat_key
from curalog.images import image_size, sha256_file

_UPSERT = (
    "INSERT INTO file_facts(path, size, mtime_ns, inode, ctime_ns, sha256, width, height) "
    "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET size=excluded.size, "
    "mtime_ns=excluded.mtime_ns, inode=excluded.inode, ctime_ns=excluded.ctime_ns, "
    "sha256=excluded.sha256, width=excluded.width, height=excluded.height"
)


@dataclass(frozen=True)
class ImageFacts:
    path: str
    sha256: str
    width: int
    height: int


class FactCache:
    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        self._mem: dict[str, tuple[tuple[int, int, int, int], ImageFacts]] = {}
        self._pending: list[tuple[tuple[int, int, int, int], ImageFacts]] = []

    def _cached(self, canonical: str) -> tuple[tuple[int, int, int, int] | None, ImageFacts | None]:
        try:
            key = stat_key(os.stat(self.root / canonical))
        except OSError:
            return None, None
        hit = self._mem.get(canonical)
        if hit and hit[0] == key:
            return key, hit[1]
        if self.db.exists():
            row = self.db.conn.execute(
                "SELECT sha256, width, height, size, mtime_ns, inode, ctime_ns "
                "FROM file_facts WHERE path = ?",
                (canonical,),
            ).fetchone()
            if row and (row["size"], row["mtime_ns"], row["inode"], row["ctime_ns"]) == key:
                facts = ImageFacts(canonical, row["sha256"], row["width"], row["height"])
                self._mem[canonical] = (key, facts)
                return key, facts
        return key, None

    def _measure(self, canonical: str) -> tuple[tuple[int, int, int, int], ImageFacts]:
        full = self.root / canonical
        w, h = image_size(full)  # raises ImageError for missing / unreadable files
        digest = sha256_file(full)
        key = stat_key(os.stat(full))
        facts = ImageFacts(canonical, digest, w, h)
        self._mem[canonical] = (key, facts)
        return key, facts

    def get(self, canonical: str, *, defer: bool = False) -> ImageFacts:
        """Facts of the file at ``canonical``; raises ImageError if it cannot be read.

        New facts are cached in the database at once, or with ``defer`` kept until
        ``write_pending`` runs inside the caller's own transaction (no extra commit).
        """
        _key, facts = self._cached(canonical)
        if facts is not None:
            return facts
        key, facts = self._measure(canonical)
        if defer:
            self._pending.append((key, facts))
        else:
            self._store([(key, facts)])
        return facts

    def write_pending(self, conn: sqlite3.Connection) -> None:
        """Cache the deferred facts using ``conn``'s open transaction."""
        if self._pending:
            conn.executemany(_UPSERT, [(f.path, *k, f.sha256, f.width, f.height) for k, f in self._pending])
            self._pending.clear()

    def get_many(
        self, paths: Iterable[str], progress: Callable[[int], None] | None = None
    ) -> tuple[dict[str, ImageFacts], list[tuple[str, str]]]:
        """Facts of many files (new ones cached in one transaction) and (path, reason) failures."""
        found: dict[str, ImageFacts] = {}
        failed: list[tuple[str, str]] = []
        fresh = []
        for n, path in enumerate(paths, start=1):
            _key, facts = self._cached(path)
            if facts is None:
                try:
                    key, facts = self._measure(path)
                except ImageError as exc:
                    failed.append((path, exc.reason))
                    continue
                fresh.append((key, facts))
            found[path] = facts
            if progress:
                progress(n)
        self._store(fresh)
        return found, failed

    def _store(self, items: list[tuple[tuple[int, int, int, int], ImageFacts]]) -> None:
        if not items:
            return
        with self.db.write() as conn:
            conn.executemany(_UPSERT, [(f.path, *k, f.sha256, f.width, f.height) for k, f in items])


def stored_sha256(db: Database, canonical: str, key: tuple[int, int, int, int]) -> str | None:
    """The sha256 cached for the image at ``canonical`` when its stat identity is still ``key``
    (size, mtime_ns, inode, ctime_ns), else None. Read-only: the validator's use of the cache."""
    for row in db.query(
        "SELECT sha256, size, mtime_ns, inode, ctime_ns FROM file_facts WHERE path = ?", (canonical,)
    ):
        if (row["size"], row["mtime_ns"], row["inode"], row["ctime_ns"]) == key:
            return row["sha256"]
    return None

"""The validator's own cache: which vector files were already checked and what image headers
said, keyed by each file's stat identity. One SQLite file under ``data/``; safe to delete.
Failing to read or write it only makes the next run slower. Writing it is the validator's only
write, and it is not audited: ``validate`` promises to leave every other file, the audit log
included, untouched.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

CACHE_NAME = "curalog-validate-cache.sqlite"

VectorKey = tuple[int, int, int]  # size, mtime_ns, inode
ImageKey = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns


class ValidateCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        # name -> (key, length or -1, structural/value problem or "")
        self.vectors: dict[str, tuple[VectorKey, int, str]] = {}
        # canonical path -> (key, width, height)
        self.images: dict[str, tuple[ImageKey, int, int]] = {}
        self.new_vectors: dict[str, tuple[VectorKey, int, str]] = {}
        self.new_images: dict[str, tuple[ImageKey, int, int]] = {}

    def load(self) -> None:
        if not self.path.is_file():
            return
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as c:
                for name, size, mtime, ino, length, problem in c.execute("SELECT * FROM vectors"):
                    self.vectors[name] = ((size, mtime, ino), length, problem)
                for path, size, mtime, ino, ctime, w, h in c.execute("SELECT * FROM images"):
                    self.images[path] = ((size, mtime, ino, ctime), w, h)
        except sqlite3.Error:
            self.vectors.clear()
            self.images.clear()

    def save(self) -> None:
        if not self.new_vectors and not self.new_images:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as c, c:
                c.execute(
                    "CREATE TABLE IF NOT EXISTS vectors (name TEXT PRIMARY KEY, size INTEGER, "
                    "mtime_ns INTEGER, inode INTEGER, length INTEGER, problem TEXT)"
                )
                c.execute(
                    "CREATE TABLE IF NOT EXISTS images (path TEXT PRIMARY KEY, size INTEGER, "
                    "mtime_ns INTEGER, inode INTEGER, ctime_ns INTEGER, width INTEGER, height INTEGER)"
                )
                c.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?,?,?,?,?,?)",
                    [(n, *k, length, p) for n, (k, length, p) in self.new_vectors.items()],
                )
                c.executemany(
                    "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?,?,?)",
                    [(n, *k, w, h) for n, (k, w, h) in self.new_images.items()],
                )
        except (sqlite3.Error, OSError):
            return

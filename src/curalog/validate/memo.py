"""The memo's key: one digest of the stat identity of every input a validation report depends on.

When nothing a report was computed from has changed (same digest), the last full report is reused
instead of recomputed (``engine.run``). Only stats are taken here, never file contents.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from curalog.config import Config
from curalog.db.connection import change_counter
from curalog.db.postgres import change_counter as pg_change_counter
from curalog.embeddings.store import vector_file_names
from curalog.files import stat_key
from curalog.legacy.logs import log_problem
from curalog.validate.background import in_background
from curalog.version import __version__

MEMO_VERSION = 4  # bump when a rule changes what it reports

Ident = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns (``files.stat_key``)


def ident(path: str | Path) -> Ident | None:
    """A file's ``stat_key``, or None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat_key(st)


def ledger_version(db: Path) -> tuple | None:
    """What identifies the content of the ledger tables a validation reads: the database file's
    inode and its change counter (bumped by triggers on those tables only, so a health snapshot
    written since does not count). Databases without the counter fall back to their stat."""
    try:
        inode = os.stat(db).st_ino
    except OSError:
        return None
    counter = change_counter(db)
    return (inode, counter) if counter is not None else (ident(db), ident(f"{db}-wal"))


def vector_idents(folder: Path) -> list[str]:
    """ "name size mtime_ns inode ctime_ns" of every vector file, by stat (tens of thousands of
    system calls, half of them in a forked child, ``background``), and "name temp" of each temp
    file: what the report depends on. Anything else in the folder (a README, ``.DS_Store``) is
    not, as the validator lists neither (``vector_file_names``)."""
    names, temps = vector_file_names(folder)
    half = len(names) // 2
    other = in_background(lambda _report: _idents(folder, names[half:]), worth_it=half >= 4096)
    return _idents(folder, names[:half]) + other() + temp_idents(temps)


def _idents(folder: Path, names: list[str]) -> list[str]:
    out = []
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return [f"{name} unreadable" for name in names]
    try:
        for name in names:
            try:
                st = os.stat(name, dir_fd=fd)
            except OSError:  # a dangling link: its own identity (its target may appear later)
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    link = os.readlink(name, dir_fd=fd)
                except OSError:
                    out.append(f"{name} gone")
                    continue
                out.append(f"{name} link {link!r} {st.st_mtime_ns} {st.st_ino}")
                continue
            out.append(f"{name} {st.st_size} {st.st_mtime_ns} {st.st_ino} {st.st_ctime_ns}")
    finally:
        os.close(fd)
    return out


DECISION_LOGS = ("selection_log", "crop_log")  # the append-only logs (``resume``)

LogIdent = tuple[str, Ident | None, str | None]  # path, identity, why it cannot be read


def signature(
    config: Config,
    since: str | None,
    folders: list[str],
    images: dict[str, Ident | None],
    vectors: list[str] | None,
) -> str:
    """A digest of the stat identity of every input a report depends on: the settings, the
    logs, the index, the ledger, every vector file, the image folders (a file added, removed
    or renamed changes its folder), and the images whose headers were measured (``images``:
    path -> identity, taken when the header was read)."""
    digest = vector_digest(vectors) if vectors is not None else None
    return combined(base_signature(config, since, folders, images, digest), log_idents(config))


def temp_idents(temps: list[str]) -> list[str]:
    """``vector_idents`` of temp files: only whether each is there counts."""
    return [f"{name} temp" for name in temps]


def checked_idents(names: list[str], keys: list[list[int]]) -> list[str]:
    """``vector_idents`` of checked vector files: their names and ``files.stat_key`` (a key of
    -1s, a file that could not be read, has none)."""
    return [f"{n} {k[0]} {k[1]} {k[2]} {k[3]}" for n, k in zip(names, keys, strict=True) if k[0] != -1]


def vector_digest(vectors: list[str]) -> str:
    """One digest of the vector files' identities (``vector_idents``), in any order: the sha256
    of them sorted and joined by "\n", hashed a slice at a time (never one text of them all)."""
    digest, ordered, step = hashlib.sha256(), sorted(vectors), 65_536
    for i in range(0, len(ordered), step):
        digest.update((("\n" if i else "") + "\n".join(ordered[i : i + step])).encode())
    return digest.hexdigest()


def combined(base: str, logs: list[LogIdent]) -> str:
    """The whole signature from its two parts."""
    return hashlib.sha256(repr((base, logs)).encode()).hexdigest()


def log_idents(config: Config) -> list[LogIdent]:
    """The identity of each decision log (the part of the signature a day's lines change)."""
    return [(str(path), ident(path), log_problem(path)) for path in map(config.path, DECISION_LOGS)]


def base_signature(
    config: Config,
    since: str | None,
    folders: list[str],
    images: dict[str, Ident | None],
    vectors: str | None,
) -> str:
    """``signature`` without the decision logs (``vectors``: the ``vector_digest``)."""
    return base_of(rest_signature(config, since, folders, images), vectors)


def base_of(rest: str, vectors: str | None) -> str:
    """``base_signature`` from its parts: the vector files' digest is taken apart (in a forked
    child, ``engine.run``) while the rest is checked."""
    return hashlib.sha256(repr((rest, vectors)).encode()).hexdigest()


def rest_signature(
    config: Config, since: str | None, folders: list[str], images: dict[str, Ident | None]
) -> str:
    """``base_signature`` without the vector files."""
    root = config.root
    parts: list[object] = [MEMO_VERSION, __version__, since, config.policy]
    for path in (root / "curalog.toml", config.path("embedding_index")):
        parts.append((str(path), ident(path), log_problem(path)))  # a dangling link vs a loop
    if config.ledger_url:  # the server's change counter (a file's stat says nothing there)
        parts.append(("ledger", pg_change_counter(config.ledger_url)))
    else:
        parts.append(("ledger", ledger_version(config.path("database"))))
    for f in folders:
        parts.append((f, ident(root / f)))
    digest = hashlib.sha256(repr(parts).encode())
    names = sorted(images)  # thousands: their names, then their identities as one array
    digest.update("\0".join(names).encode("utf-8", "surrogateescape"))
    gone = (-1, -1, -1, -1)
    digest.update(np.array([images[n] or gone for n in names], dtype=np.int64).tobytes())
    return digest.hexdigest()

"""Checking vector files in bulk: one read per file, values judged a chunk at a time, unchanged
files (same size, mtime_ns, inode as when last verified) not read again.

The loop is the validator's hottest: for a file whose bytes start with the header of the
previous file and have its length (all vectors of one model do), the per-file work is open,
fstat, read, close and two appends; the payloads are cut out and judged by NumPy per chunk.
Verdicts are kept as arrays in the order of the files (``Checked``), so they cross a process
boundary as a few MB and become dicts once, on the caller's side (``Checked.lengths_by_hash``…).
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass, field
from stat import S_ISREG
from typing import NamedTuple

import numpy as np

from curalog.embeddings.npy import vector_layout
from curalog.embeddings.store import vector_file_names
from curalog.files import NotRegularFile, stat_key
from curalog.progress import Progress
from curalog.validate.background import Pending, in_background
from curalog.validate.memo import checked_idents, temp_idents, vector_digest

CacheEntry = tuple[tuple[int, int, int, int], int, str]  # ``files.stat_key``, length, problem
CHUNK = 4096
NO_STATE = -2  # length of an item with no verdict (never happens for a listed file)


class VectorState(NamedTuple):
    length: int  # -1 when the file is not a 1-D float vector at all
    problem: str  # "" when the file is structurally sound with finite, non-zero values


@dataclass
class Checked:
    """Verdicts in item order: length (-1: not a vector), stat key (-1s: not cacheable, e.g.
    unreadable), and the problem of each item that has one."""

    lengths: np.ndarray
    keys: np.ndarray  # (n, 4) int64: ``files.stat_key``
    problems: dict[int, str] = field(default_factory=dict)
    digest: str = ""  # ``memo.vector_digest`` of the files' identities, when taken with the check

    @classmethod
    def empty(cls) -> Checked:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.int64), {})

    def lengths_by_hash(self, hashes: list[str]) -> dict[str, int]:
        """Hash -> length (``hashes``: the files' in order), one int object per distinct length."""
        distinct, at = np.unique(self.lengths, return_inverse=True)
        lengths = list(map(distinct.tolist().__getitem__, at.reshape(-1).tolist()))
        return dict(zip(hashes, lengths, strict=True))

    def problems_by_hash(self, hashes: list[str]) -> dict[str, str]:
        """Only the files that have a problem."""
        return {hashes[i]: p for i, p in self.problems.items()}

    def cache_entries(self, names: list[str]) -> dict[str, CacheEntry]:
        """File name -> (stat key, length, problem) of each verdict that can be cached."""
        problems = self.problems
        return {
            name: ((key[0], key[1], key[2], key[3]), length, problems.get(i, ""))
            for i, (name, length, key) in enumerate(
                zip(names, self.lengths.tolist(), self.keys.tolist(), strict=True)
            )
            if key[0] != -1
        }

    def as_dicts(
        self, hashes: list[str], names: list[str]
    ) -> tuple[dict[str, VectorState], dict[str, CacheEntry]]:
        """({hash: VectorState}, {file name: cache entry}) of the files ``names`` (their hashes)."""
        problems = self.problems_by_hash(hashes)
        states = {
            d: VectorState(n, problems.get(d, ""))
            for d, n in self.lengths_by_hash(hashes).items()
            if n != NO_STATE
        }
        return states, self.cache_entries(names)


def _judge(datas: list[bytes], where: list[int], layout: tuple[np.dtype, int, int],
           lengths: list[int], problems: dict[int, str]) -> None:  # fmt: skip
    """Judge files of one layout (equal length, payload at the same offset) at once."""
    dtype, length, offset = layout
    raw = np.frombuffer(b"".join(datas), dtype=np.uint8).reshape(len(datas), -1)
    matrix = raw[:, offset : offset + length * dtype.itemsize].copy().view(dtype)
    if length == 0:
        bad = {i: "empty" for i in where}
    else:
        finite = np.isfinite(matrix).all(axis=1)
        nonzero = matrix.any(axis=1)
        bad = {where[j]: "holds NaN or Inf" for j in np.flatnonzero(~finite).tolist()}
        bad.update({where[j]: "all zeros" for j in np.flatnonzero(finite & ~nonzero).tolist()})
    for i in where:
        lengths[i] = length
    problems.update(bad)


def check_files(
    folder: str, names: list[str], old: dict[str, CacheEntry], progress: Progress | None = None
) -> Checked:
    """Verdicts on the files ``names`` of ``folder`` (only names: a child copies what it reads);
    ``old``: earlier verdicts by file name (one counts only if the file's stat key still matches)."""
    n_items = len(names)
    lengths = [NO_STATE] * n_items
    keys = [array("q", [-1]) * n_items for _ in range(4)]  # ``stat_key`` by column: no tuple a file
    problems: dict[int, str] = {}
    # files of the current layout, waiting to be judged together; other layouts by layout
    header, size, layout = b"", -1, None
    datas, where = list[bytes](), list[int]()
    others: dict[tuple[np.dtype, int, int], tuple[list[bytes], list[int]]] = {}
    os_open, fstat, read, close, rdonly = os.open, os.fstat, os.read, os.close, os.O_RDONLY
    nonblocking = rdonly | os.O_NONBLOCK  # a named pipe called <hash>.npy must not hang the check
    try:
        dir_fd = os.open(folder, rdonly)
    except OSError as exc:
        why = f"unreadable ({exc.strerror or exc})"
        return Checked(np.full(n_items, -1, np.int64), np.full((n_items, 4), -1, np.int64),
                       dict.fromkeys(range(n_items), why))  # fmt: skip
    try:
        for i, name in enumerate(names):
            if progress and ((i + 1) % CHUNK == 0 or i + 1 == n_items):
                progress(i + 1, n_items, "checking vectors")
            try:
                hit = old.get(name)
                if hit is not None:
                    st = os.stat(name, dir_fd=dir_fd)
                    if hit[0] == stat_key(st):
                        lengths[i] = hit[1]
                        keys[0][i], keys[1][i], keys[2][i], keys[3][i] = hit[0]
                        if hit[2]:
                            problems[i] = hit[2]
                        continue
                fd = os_open(name, nonblocking, dir_fd=dir_fd)
                try:
                    st = fstat(fd)
                    if not S_ISREG(st.st_mode):
                        raise NotRegularFile(name)
                    data = read(fd, st.st_size)
                    while len(data) < st.st_size:
                        more = read(fd, st.st_size - len(data))
                        if not more:
                            break
                        data += more
                finally:
                    close(fd)
            except OSError as exc:
                lengths[i], problems[i] = -1, f"unreadable ({exc.strerror or exc})"
                continue
            keys[0][i], keys[1][i], keys[2][i], keys[3][i] = stat_key(st)
            if len(data) == size and data.startswith(header):  # the current layout
                datas.append(data)
                where.append(i)
                if len(datas) >= CHUNK:
                    _judge(datas, where, layout, lengths, problems)  # type: ignore[arg-type]
                    datas, where = [], []
                continue
            parsed = vector_layout(data)
            if isinstance(parsed, str):
                lengths[i], problems[i] = -1, parsed
                continue
            dtype, length, offset = parsed
            if offset + length * dtype.itemsize == len(data):  # exactly a header and a payload
                if datas:
                    _judge(datas, where, layout, lengths, problems)  # type: ignore[arg-type]
                header, size, layout = data[:offset], len(data), parsed
                datas, where = [data], [i]
            else:  # trailing bytes after the payload: judged with its own kind, cut to size
                group = others.setdefault(parsed, ([], []))
                group[0].append(data[: offset + length * dtype.itemsize])
                group[1].append(i)
    finally:
        close(dir_fd)
    if datas:
        _judge(datas, where, layout, lengths, problems)  # type: ignore[arg-type]
    for parsed, (group_datas, group_where) in others.items():
        _judge(group_datas, group_where, parsed, lengths, problems)
    return Checked(np.array(lengths, dtype=np.int64), _stacked(keys), problems)


def _stacked(columns: list[array]) -> np.ndarray:
    """The stat keys' columns as one (n, 4) int64 array."""
    return np.stack([np.frombuffer(column, dtype=np.int64) for column in columns], axis=1).reshape(-1, 4)


def check_folder_in_background(
    folder: str, old: dict[str, CacheEntry], progress: Progress | None = None
) -> Pending[tuple[list[str], list[str], Checked]]:
    """List a vector folder and check its vector files, all in a forked child (the listing of
    hundreds of thousands of names too): waits for (the vector files' content hashes, temp file
    names, the verdicts in the hashes' order). A vector file is ``<hash>.npy``: the caller never
    holds its name."""

    def work(report: Progress | None) -> tuple[list[str], list[str], Checked]:
        names, temps = vector_file_names(folder)
        checked = check_files(folder, names, old, report)
        # the digest of the files' identities too: the child's memory, not the caller's
        checked.digest = vector_digest(checked_idents(names, checked.keys.tolist()) + temp_idents(temps))
        return [name[:64] for name in names], temps, checked

    return in_background(work, progress)

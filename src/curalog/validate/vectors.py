"""Checking vector files in bulk: one read per file, values judged a chunk at a time, unchanged
files (same size, mtime_ns, inode as when last verified) not read again. A plain function of
its arguments, so worker processes can run it on slices of a folder in parallel.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from curalog.embeddings.npy import vector_layout

CacheEntry = tuple[tuple[int, int, int], int, str]  # (size, mtime_ns, inode), length, problem
CHUNK = 4096


def check_files(
    folder: str,
    items: list[tuple[str, str]],
    old: dict[str, CacheEntry],
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[dict[str, tuple[int, str]], dict[str, CacheEntry]]:
    """For ``(hash, file name)`` items: ({hash: (length, problem)}, {name: cache entry}).

    ``problem`` is "" for a 1-D float vector with finite, non-zero values; ``length`` is -1 when
    the file is not such a vector at all.
    """
    states: dict[str, tuple[int, str]] = {}
    new: dict[str, CacheEntry] = {}
    groups: dict[tuple[str, int], list[tuple[str, str, tuple[int, int, int], bytes]]] = {}

    def flush(dtype_str: str, length: int) -> None:
        group = groups.pop((dtype_str, length))
        matrix = np.frombuffer(b"".join(g[3] for g in group), dtype=np.dtype(dtype_str))
        matrix = matrix.reshape(len(group), length)
        finite = np.isfinite(matrix).all(axis=1).tolist()
        nonzero = matrix.any(axis=1).tolist() if length else [False] * len(group)
        for (digest, name, key, _), ok_finite, ok_nonzero in zip(group, finite, nonzero, strict=True):
            problem = (
                "empty" if length == 0 else
                "holds NaN or Inf" if not ok_finite else
                "all zeros" if not ok_nonzero else ""
            )  # fmt: skip
            states[digest] = (length, problem)
            new[name] = (key, length, problem)

    last_header = b""
    last_layout: tuple[np.dtype, int, int] | None = None
    total = len(items)
    for n, (digest, name) in enumerate(items, start=1):
        if progress and (n % CHUNK == 0 or n == total):
            progress(n, total, "checking vectors")
        full = f"{folder}/{name}"
        hit = old.get(name)
        try:
            if hit is not None:
                st = os.stat(full)
                if hit[0] == (st.st_size, st.st_mtime_ns, st.st_ino):
                    states[digest] = (hit[1], hit[2])
                    new[name] = hit
                    continue
            fd = os.open(full, os.O_RDONLY)
            try:
                st = os.fstat(fd)
                data = os.read(fd, st.st_size)
                while len(data) < st.st_size:
                    more = os.read(fd, st.st_size - len(data))
                    if not more:
                        break
                    data += more
            finally:
                os.close(fd)
        except OSError as exc:
            states[digest] = (-1, f"unreadable ({exc.strerror or exc})")
            continue
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        # Files of one model share their header byte for byte: reuse its parsed layout.
        if (
            last_layout is not None
            and data.startswith(last_header)
            and len(data) == last_layout[2] + (last_layout[1] * last_layout[0].itemsize)
        ):
            layout: tuple[np.dtype, int, int] | str = last_layout
        else:
            layout = vector_layout(data)
            if not isinstance(layout, str):
                last_layout, last_header = layout, data[: layout[2]]
        if isinstance(layout, str):
            states[digest] = (-1, layout)
            new[name] = (key, -1, layout)
            continue
        dtype, length, offset = layout
        gkey = (dtype.str, length)
        group = groups.setdefault(gkey, [])
        group.append((digest, name, key, data[offset : offset + length * dtype.itemsize]))
        if len(group) >= CHUNK:
            flush(*gkey)
    for gkey in list(groups):
        flush(*gkey)
    return states, new

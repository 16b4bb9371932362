"""Reading ``.npy`` vector files fast: one ``read()`` per file, the header parsed once per
distinct header text (all vectors of one model share it), no pickle ever.

Used by the store's ``verify`` and by the validator, so a vector is judged the same everywhere.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from curalog.files import open_regular, stat_key

_MAGIC = b"\x93NUMPY"
_HEADERS: dict[bytes, tuple[np.dtype, bool, tuple[int, ...]] | str] = {}


def _parse_header(header: bytes) -> tuple[np.dtype, bool, tuple[int, ...]] | str:
    hit = _HEADERS.get(header)
    if hit is not None:
        return hit
    try:
        meta = ast.literal_eval(header.decode("latin1"))
        result: tuple[np.dtype, bool, tuple[int, ...]] | str = (
            np.dtype(meta["descr"]),
            bool(meta["fortran_order"]),
            tuple(int(n) for n in meta["shape"]),
        )
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        result = f"unreadable .npy header ({exc})"
    if len(_HEADERS) < 1024:
        _HEADERS[header] = result
    return result


def vector_layout(data: bytes) -> tuple[np.dtype, int, int] | str:
    """(dtype, length, payload offset) of a structurally sound 1-D float ``.npy``, or why not."""
    if len(data) < 10 or data[:6] != _MAGIC:
        return "unreadable (not a .npy file)" if data else "unreadable (empty file)"
    major = data[6]
    if major == 1:
        hlen, start = int.from_bytes(data[8:10], "little"), 10
    elif major in (2, 3):
        hlen, start = int.from_bytes(data[8:12], "little"), 12
    else:
        return f"unreadable (.npy version {major})"
    if start + hlen > len(data):
        return f"unreadable (truncated inside its header: {len(data)} of {start + hlen} header bytes)"
    meta = _parse_header(bytes(data[start : start + hlen]))
    if isinstance(meta, str):
        return meta
    dtype, _fortran, shape = meta
    if dtype.hasobject:
        return "not float (holds Python objects)"
    if len(shape) != 1:
        return f"not 1-D (shape {shape})"
    if dtype.kind != "f":
        return f"not float (dtype {dtype})"
    offset = start + hlen
    expected = shape[0] * dtype.itemsize
    if len(data) - offset < expected:
        return f"unreadable (truncated: {len(data) - offset} of {expected} bytes)"
    return dtype, shape[0], offset


def parse_vector(data: bytes) -> tuple[np.ndarray | None, str | None]:
    """(vector, None) or (None, why not) for the bytes of a ``.npy`` file.

    The structural checks: a .npy file, 1-D, floating point, complete. Values (finite, non-zero)
    are checked by ``value_problem``, which works on many vectors at once.
    """
    layout = vector_layout(data)
    if isinstance(layout, str):
        return None, layout
    dtype, length, offset = layout
    return np.frombuffer(data, dtype=dtype, count=length, offset=offset), None


def value_problem(vec: np.ndarray, dim: int | None = None) -> str | None:
    """Why a parsed vector is unusable: wrong length, empty, NaN/Inf, all zeros; or None."""
    if dim is not None and vec.shape[0] != dim:
        return f"wrong length {vec.shape[0]} (index says {dim})"
    if vec.shape[0] == 0:
        return "empty"
    if not np.isfinite(vec).all():
        return "holds NaN or Inf"
    if not vec.any():
        return "all zeros"
    return None


class FileVerdict(NamedTuple):
    """What one read of a vector file says, in the terms of the validator's per-file cache."""

    vector: np.ndarray | None  # the payload when the file is structurally sound (values unjudged)
    length: int  # the vector's length; -1 when the file is not a 1-D float vector at all
    problem: str  # why it is not a usable vector of any length; "" when it is one
    key: tuple[int, int, int, int] | None  # ``files.stat_key`` by fstat before the read; None: unreadable


def read_vector_verdict(path: str | os.PathLike[str]) -> FileVerdict:
    """Read ``path`` once and judge it with no length expected (the validator's verdict).

    The stat key is taken from the open file before its bytes are read, so a change made while
    (or after) it is read gives the file another key."""
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except OSError as exc:
        return FileVerdict(None, -1, f"unreadable ({exc.strerror or exc})", None)
    key = stat_key(st)
    vec, problem = parse_vector(data)
    if vec is None:
        return FileVerdict(None, -1, problem or "", key)
    return FileVerdict(vec, vec.shape[0], value_problem(vec) or "", key)


def with_dim(verdict: FileVerdict, dim: int | None) -> tuple[np.ndarray | None, str | None]:
    """``read_vector_file``'s answer from a verdict: (vector, None) or (None, why it is not a
    usable vector of length ``dim``); a wrong length is said before any value problem."""
    if verdict.vector is None:
        return None, verdict.problem
    if dim is not None and verdict.length != dim:
        return None, f"wrong length {verdict.length} (index says {dim})"
    return (None, verdict.problem) if verdict.problem else (verdict.vector, None)


def read_vector_file(path: Path, dim: int | None = None) -> tuple[np.ndarray | None, str | None]:
    """(vector, None) or (None, why it is not a usable vector)."""
    return with_dim(read_vector_verdict(path), dim)


def read_vectors(folder: Path, names: list[str], dim: int) -> np.ndarray:
    """float32 (len(names), dim): the vector files ``names`` of ``folder``, read in bulk (one
    ``read`` per file; the header parsed once per distinct header). Raises ValueError naming
    the first file that is not a sound vector of length ``dim``."""
    out = np.empty((len(names), dim), dtype=np.float32)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        chunk: list[bytes] = []
        start = 0
        layout: tuple[np.dtype, int, int] | None = None
        header = b""

        def flush(upto: int) -> None:
            nonlocal chunk, start
            if chunk and layout is not None:
                dtype, length, offset = layout
                raw = np.frombuffer(b"".join(chunk), dtype=np.uint8).reshape(len(chunk), -1)
                out[start:upto] = raw[:, offset : offset + length * dtype.itemsize].copy().view(dtype)
            chunk, start = [], upto

        for i, name in enumerate(names):
            fd = open_regular(name, dir_fd=dir_fd)
            try:
                data = os.read(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            if layout is None or len(data) != len(chunk[0] if chunk else data) or not data.startswith(header):
                flush(i)
                parsed = vector_layout(data)
                if isinstance(parsed, str) or parsed[1] != dim:
                    why = parsed if isinstance(parsed, str) else f"length {parsed[1]}, expected {dim}"
                    raise ValueError(f"{name}: {why}")
                layout, header = parsed, data[: parsed[2]]
            chunk.append(data)
            if len(chunk) >= 4096:  # bounded memory: judged and copied a chunk at a time
                flush(i + 1)
        flush(len(names))
    finally:
        os.close(dir_fd)
    bad = ~np.isfinite(out).all(axis=1) | ~out.any(axis=1)
    if bad.any():
        raise ValueError(f"{names[int(np.flatnonzero(bad)[0])]}: holds NaN, Inf or only zeros")
    return out

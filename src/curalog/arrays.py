"""Arrow arrays from NumPy arrays and Python lists, built from their buffers.

``pyarrow.array`` (and ``pyarrow.scalar``, and a compute function given a NumPy array or a
Python value) asks pyarrow's pandas shim whether the object is a pandas one, and the shim imports
pandas to answer: 0.13 s and 40 MB on the first call of a process that never uses pandas. The
validator's hot paths build their arrays here instead, from the bytes they already are; a value
these cannot take (a NUL in a text, a lone surrogate, a non-text) goes to ``pyarrow.array``,
which answers as before. ``tests/test_arrays.py`` holds both readings equal and checks that a
full ``validate`` never imports pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def release_arrow_memory() -> None:
    """Give back to the system what Arrow's memory pool keeps of what it freed (parsing a log of
    34 MB leaves ~150 MB there, which nothing but Arrow would reuse)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def indices(values: np.ndarray | Sequence[int]) -> Any:
    """An Arrow int64 array of ``values`` (positions for ``take``)."""
    import pyarrow as pa

    data = np.array(values, dtype=np.int64)  # a copy: the array never changes under the caller
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def mask(values: np.ndarray | Sequence[bool]) -> Any:
    """An Arrow boolean array of ``values`` (for ``filter``)."""
    import pyarrow as pa

    flags = np.array(values, dtype=bool)
    bits = np.packbits(flags, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(flags), [None, pa.py_buffer(bits)])


def strings(values: Sequence[str | None]) -> Any:
    """An Arrow string array of ``values`` (None: a null), as ``pyarrow.array(values,
    pyarrow.string())`` gives it."""
    import pyarrow as pa

    values = list(values)
    n = len(values)
    nulls = [i for i, v in enumerate(values) if v is None]
    texts = values if not nulls else ["" if v is None else v for v in values]
    try:
        joined = "\0".join(texts)  # a non-text: TypeError
        data = (joined + "\0").encode("utf-8") if n else b""  # a lone surrogate: UnicodeEncodeError
    except (TypeError, UnicodeEncodeError):
        return pa.array(values, pa.string())
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0)
    if len(ends) != n or len(data) >= 2**31 - 1:  # a NUL inside a text; too long for int32 offsets
        return pa.array(values, pa.string())
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = ends - np.arange(n)  # each text's end once the separators are gone
    validity = None
    if nulls:
        valid = np.ones(n, dtype=bool)
        valid[nulls] = False
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    body = pa.py_buffer(data.replace(b"\0", b""))
    return pa.Array.from_buffers(
        pa.string(), n, [validity, pa.py_buffer(offsets), body], null_count=len(nulls)
    )


def scalar(value: str | None) -> Any:
    """An Arrow string scalar (None: a null one), for a compute function's argument."""
    return strings([value])[0]


_INTS = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64}


def numbers(array: Any) -> np.ndarray:
    """The values of an Arrow integer array with no nulls, as NumPy int64 (a copy)."""
    if hasattr(array, "combine_chunks"):
        array = array.combine_chunks()
    if array.null_count:
        raise ValueError("an integer array with nulls has no NumPy reading here")
    dtype = _INTS[str(array.type)]
    data = array.buffers()[1]
    if data is None:  # an empty array may have no buffer
        return np.zeros(0, dtype=np.int64)
    return np.frombuffer(data, dtype=dtype)[array.offset : array.offset + len(array)].astype(np.int64)


def flags(array: Any) -> np.ndarray:
    """The values of an Arrow boolean array as NumPy bools (a null reads False)."""
    if hasattr(array, "combine_chunks"):
        array = array.combine_chunks()
    n, offset = len(array), array.offset
    validity, data = array.buffers()[:2]

    def bits(buffer: Any) -> np.ndarray:
        packed = np.frombuffer(buffer, dtype=np.uint8)
        return np.unpackbits(packed, bitorder="little")[offset : offset + n].astype(bool)

    if data is None or n == 0:
        return np.zeros(n, dtype=bool)
    values = bits(data)
    if array.null_count and validity is not None:
        values &= bits(validity)
    return values

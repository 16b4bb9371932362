"""What the lines a log already had concluded that lines appended later depend on: the first line
of each decision a later line would repeat (``row.duplicate``).

A repeat is judged over every line without an error, in line order: a selection repeats an
earlier one with the same session, set and chosen image; a crop, one with the same session, set,
chosen image and box. An incremental validation (``validate.resume``) judges only the appended
lines, with ``Prior`` standing in for the lines before them. Keys are kept as 15-byte BLAKE2b
digests (a few hundred KB at seed scale), sorted, with the first line of each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

Box = tuple[float, float, float, float]


def selection_key(session: str, set_id: str, path: str) -> bytes:
    return _digest((session, set_id, path))


def crop_key(session: str, set_id: str, path: str, box: Box) -> bytes:
    # -0.0 + 0.0 is 0.0: equal floats, one text (a NaN box is an error: never a key)
    return _digest((session, set_id, path, repr(tuple(v + 0.0 for v in box))))


def _digest(parts: tuple[str, ...]) -> bytes:
    text = "\x1f".join(parts).encode("utf-8", "surrogateescape")
    # NumPy's bytes type drops trailing NUL bytes: a digest ends with one that is not
    return hashlib.blake2b(text, digest_size=15).digest() + b"\x01"


class Keys:
    """Sorted key digests with the first line of each (``lookup``: that line, or None)."""

    def __init__(self, digests: np.ndarray, lines: np.ndarray) -> None:
        self.digests = digests  # dtype S16, sorted
        self.lines = lines  # int64, same order

    @classmethod
    def of(cls, pairs: Iterable[tuple[bytes, int]]) -> Keys:
        """From (digest, first line) pairs; a digest given twice keeps its smaller line."""
        first: dict[bytes, int] = {}
        for digest, line in pairs:
            if first.get(digest, line) >= line:
                first[digest] = line
        digests = np.array(sorted(first), dtype="S16")
        return cls(digests, np.array([first[d] for d in digests.tolist()], dtype=np.int64))

    def merged(self, pairs: Iterable[tuple[bytes, int]]) -> Keys:
        """These keys and ``pairs`` (keys not among these: lines judged after them)."""
        new = Keys.of(pairs)
        digests = np.concatenate([self.digests, new.digests]).astype("S16")
        order = np.argsort(digests, kind="stable")
        return Keys(digests[order], np.concatenate([self.lines, new.lines])[order])

    def lookup(self, digest: bytes) -> int | None:
        at = int(np.searchsorted(self.digests, digest))
        if at < len(self.digests) and self.digests[at] == digest:
            return int(self.lines[at])
        return None


class Prior:
    """The first lines of the selections and crops judged before (see the module docstring)."""

    def __init__(self, selections: Keys, crops: Keys) -> None:
        self.selections = selections
        self.crops = crops


class Seen(dict):
    """The crop rule's ``seen`` (key -> first line) over the lines judged now, falling back to
    ``Prior`` for the lines judged before them."""

    def __init__(self, prior: Keys | None) -> None:
        super().__init__()
        self.prior = prior

    def _before(self, key: tuple) -> int | None:
        return self.prior.lookup(crop_key(*key)) if self.prior is not None else None

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, tuple) and self._before(key) is not None)

    def get(self, key: tuple, default: int | None = None) -> int | None:  # type: ignore[override]
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        found = self._before(key)
        return default if found is None else found

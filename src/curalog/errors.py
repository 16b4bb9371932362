"""Exceptions shared across curalog.

Every error names what is wrong and where; `DecisionRejected` carries *every* problem of a
decision at once, as ``(code, message)`` pairs using the finding codes of docs/findings.md.
"""

from __future__ import annotations

import os
from typing import NamedTuple

#: the longest text one path or value takes in a message (a 3 MB path must not become 3 MB of output)
SHOWN_MAX = 300
#: the longest message a report prints per finding (the JSON report keeps every character)
PRINTED_MAX = 2000


def _escaped(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # an undecodable byte, as os.fsdecode carries it
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")  # \n, \t, \x00, \ud800 ...


def shown(value: object, limit: int = SHOWN_MAX) -> str:
    """``value`` as one printable line for a message: bytes that are not UTF-8 (a name copied
    from a Samba share) and control characters escaped, and at most ``limit`` characters."""
    text = os.fsdecode(value) if isinstance(value, bytes | os.PathLike) else str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escaped(c) for c in text)
    if len(text) > limit:
        text = f"{text[: limit - 40]}…[{len(text) - limit + 40:,} more characters]"
    return text


def listing(items: list[str], limit: int = 8) -> str:
    """The first ``limit`` items, comma-separated and each shown, then how many more there are."""
    more = len(items) - limit
    return ", ".join(shown(i) for i in items[:limit]) + (f" and {more} more" if more > 0 else "")


class CuralogError(Exception):
    """Base class of all curalog errors."""


class ConfigError(CuralogError):
    """No project root, an unreadable or invalid curalog.toml, bad arguments (CLI exit 2)."""


class PathError(CuralogError):
    """A path that cannot be turned into a canonical project path."""

    code = "path.unresolved"

    def __init__(self, raw: str, message: str) -> None:
        super().__init__(message)
        self.raw = raw


class PathUnresolved(PathError):
    code = "path.unresolved"


class PathOutsideRoot(PathError):
    code = "path.unresolved"


class PathAmbiguous(PathError):
    code = "path.ambiguous"

    def __init__(self, raw: str, candidates: list[str]) -> None:
        super().__init__(  # a name shared by hundreds of images: the first few are named
            raw,
            f"{shown(repr(raw))} matches {len(candidates)} files by name and is refused: "
            + listing(candidates),
        )
        self.candidates = candidates


class ImageError(CuralogError):
    """An image that cannot be read: missing, not an image, truncated, or a decompression bomb."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreError(CuralogError):
    """The embedding store refused an operation."""


class Problem(NamedTuple):
    """One reason a decision cannot be written: a finding code and a message."""

    code: str
    message: str


class DecisionRejected(CuralogError, ValueError):
    """A decision was refused before any row existed. ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem], by_image: dict[int, list[Problem]] | None = None) -> None:
        self.problems = list(problems)
        #: the problems that belong to one image of the decision, by its index in image_paths
        self.by_image = dict(by_image or {})
        lines = "\n".join(f"  - {p.code}: {p.message}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"decision rejected ({n} problem{'s' if n != 1 else ''}):\n{lines}")


class DecisionWarning(UserWarning):
    """A decision was stored, but something about it deserves attention (e.g. no embedding)."""

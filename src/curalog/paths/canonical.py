"""Canonical paths: POSIX, relative to the project root; the listing of the images under it; what
may be served. The resolver that turns written paths into canonical ones is ``paths.resolver``.

Legacy logs hold three conventions at once (docs/legacy-formats.md, "Paths in the CSVs"): absolute
paths from another machine, paths relative to the root, and paths relative to the row's
``directory``. ``PathResolver.resolve`` turns any of them into the canonical form, falling back
to the file name only when it is unique among the candidates. Nothing outside the root is ever
resolved: no ``..`` escape, no symlink escape.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from curalog.errors import PathOutsideRoot, PathUnresolved
from curalog.images import IMAGE_EXTENSIONS

_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")
# Folders never searched for images: curalog's data and tool folders.
SKIP_DIRS = frozenset({"data", "node_modules", "__pycache__"})


class Resolution(NamedTuple):
    canonical: str
    method: str  # "exact" | "directory" | "stripped-prefix" | "file-name"
    on_disk: bool


def _split(raw: str) -> tuple[bool, list[str]]:
    """(is_absolute, components) of a path written by any OS."""
    text = raw.strip()
    if text[1:2] == ":" and _WINDOWS_ABS.match(text):
        return True, [p for p in re.split(r"[\\/]+", text[2:]) if p]
    if "\\" in text and "/" not in text:
        text = text.replace("\\", "/")
    return text.startswith("/"), [p for p in text.split("/") if p and p != "."]


def convention_of(raw: str, root: Path) -> str:
    """Which of the legacy path conventions ``raw`` is written in (for people, not for logic)."""
    is_abs, parts = _split(raw)
    if is_abs:
        here = raw.strip().startswith(str(root.resolve()) + "/")
        return "absolute, this machine" if here else "absolute, another machine's prefix"
    if len(parts) <= 1:
        return "file name only (relative to its directory column)"
    return (
        "relative to the project root" if (root / parts[0]).is_dir() else "relative to its directory column"
    )


def project_of(canonical: str) -> str:
    """The project a canonical path belongs to: its first component."""
    return canonical.split("/", 1)[0]


MAX_PATH_CHARS = 1024


def served_image(root: Path, rel: str) -> Path:
    """The image file a client asked for by its canonical path, strictly confined to ``root``.

    Refused (PathError, naming why): empty or overlong text, an absolute path, backslashes or
    NUL, any ``.``/``..``/empty component, hidden or data folders, a name that is not an image,
    anything that leads outside the root through a link, and anything that is not a file.
    """
    if not rel or len(rel) > MAX_PATH_CHARS:
        raise PathUnresolved(rel[:80], "an image path of 1 to 1024 characters is needed")
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
        raise PathOutsideRoot(rel, f"{rel!r} is not a canonical path inside the project root")
    if any(p.startswith(".") for p in parts) or parts[0] in SKIP_DIRS:
        raise PathOutsideRoot(rel, f"{rel!r} is in a hidden or data folder, which is never served")
    if posixpath.splitext(rel)[1].lower() not in IMAGE_EXTENSIONS:
        raise PathUnresolved(rel, f"{rel!r} is not an image file name")
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, rel))
    if not real.startswith(real_root + os.sep):
        raise PathOutsideRoot(rel, f"{rel!r} leads outside the project root through a link")
    inside = real[len(real_root) + 1 :].split(os.sep)
    if any(p.startswith(".") for p in inside) or inside[0] in SKIP_DIRS:  # the rule, after the links
        raise PathOutsideRoot(rel, f"{rel!r} leads into a hidden or data folder through a link")
    if not os.path.isfile(real):
        raise PathUnresolved(rel, f"{rel!r}: no such image under the project root")
    return Path(real)


NOT_UTF8 = "the file name is not valid UTF-8 (copied from another system?): rename it; skipped"


def utf8(path: str) -> bool:
    """True when ``path`` is valid UTF-8 text: a name with bytes that are not (copied from a Samba
    share; Python carries them as lone surrogates) cannot be stored in the ledger, logged or
    served, so it is skipped with its name shown escaped (``errors.shown``)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def list_images(root: Path, folders: list[str] | None = None) -> list[str]:
    """Canonical paths of every image file under ``root`` (hidden and data folders skipped).

    Folder links are not followed; a file link is listed only when it points inside the root,
    so the listing never leads outside it. One ``scandir`` per folder, no stat per file.
    ``folders``, when given, receives every folder scanned (root-relative, "" for the root).
    """
    found: list[str] = []
    real_root = os.path.realpath(root)
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        if folders is not None:
            folders.append(rel.rstrip("/"))
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        subdirs: list[tuple[str, str]] = []
        images: list[str] = []
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            if entry.is_dir(follow_symlinks=False):
                if not (rel == "" and name in SKIP_DIRS):
                    subdirs.append((name, entry.path))
            elif "." in name and name[name.rindex(".") :].lower() in IMAGE_EXTENSIONS:
                if entry.is_symlink() and not os.path.realpath(entry.path).startswith(real_root + os.sep):
                    continue
                images.append(name)
        images.sort()
        found.extend([rel + name for name in images])
        subdirs.sort(reverse=True)
        stack.extend((path, f"{rel}{name}/") for name, path in subdirs)
    return found


IndexLines = Callable[[], Iterable[tuple[str, str | None]]]
"""Every embedding index line as ``(image_path as written, content hash or None)``."""

# How a path was placed, for people (messages name the rule that decided).

"""Canonical paths: POSIX, relative to the project root.

Legacy logs hold three conventions at once (legacy-formats.md, "Paths in the CSVs"): absolute
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
from itertools import chain
from pathlib import Path
from typing import NamedTuple

from curalog.errors import PathAmbiguous, PathError, PathOutsideRoot, PathUnresolved
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
    if _WINDOWS_ABS.match(text):
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
    if not os.path.isfile(real):
        raise PathUnresolved(rel, f"{rel!r}: no such image under the project root")
    return Path(real)


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


class PathResolver:
    """Resolves raw paths against one project root.

    ``extra_candidates`` supplies canonical paths known without a file on disk (the embedding
    index's ``image_path`` values); they resolve like files but report ``on_disk=False``.
    """

    def __init__(
        self,
        root: Path,
        extra_candidates: Callable[[], Iterable[str]] | None = None,
        listing: Iterable[str] | None = None,
    ) -> None:
        self.root = root.resolve()
        self._root_prefix = str(self.root) + "/"
        self._extra_source = extra_candidates
        # A listing given by the caller is trusted as the files on disk (no stat per lookup).
        self._static = listing is not None
        self._listing: set[str] | None = set(listing) if listing is not None else None
        self._dirs: dict[str, str | None] = {}
        self._prefixes: list[int] = []  # how many leading components other machines' paths had
        self._top: set[str] | None = None  # top-level folders of the root
        self._prefix_text: list[str] = []  # and those prefixes as text, e.g. "/Users/x/curation/"
        self._extra: set[str] | None = None
        self._by_name: tuple[dict[str, str], dict[str, set[str]]] | None = None

    # -- candidates -------------------------------------------------------------------------
    def _candidates(self, refresh: bool = False) -> tuple[dict[str, str], dict[str, set[str]]]:
        """(file name -> its one path, file name -> every path where several share it)."""
        if refresh and self._static:
            refresh = False  # the caller's listing is the whole truth
            if self._by_name is not None:
                return self._by_name
        if self._by_name is None or refresh:
            if self._listing is None or refresh:
                self._listing = set(list_images(self.root))
            self._extra = None
            first: dict[str, str] = {}
            shared: dict[str, set[str]] = {}
            for c in chain(self._listing, self._extras() - self._listing):
                name = c.rpartition("/")[2]
                prev = first.setdefault(name, c)
                if prev is not c:
                    shared.setdefault(name, {prev}).add(c)
            self._by_name = (first, shared)
        return self._by_name

    def _named(self, name: str, refresh: bool = False) -> set[str] | None:
        """Every candidate path whose file name is ``name``."""
        first, shared = self._candidates(refresh)
        if name in shared:
            return shared[name]
        return {first[name]} if name in first else None

    def _extras(self) -> set[str]:
        if self._extra is None:
            self._extra = set(self._extra_source()) if self._extra_source else set()
        return self._extra

    def forget(self) -> None:
        """Drop the cached listing (call after files were added or the index changed)."""
        self._by_name = None
        self._extra = None
        self._dirs.clear()
        if not self._static:
            self._listing = None

    # -- checks -----------------------------------------------------------------------------
    def _inside(self, raw: str, parts: list[str]) -> str:
        """Canonical form of root-relative ``parts``; refuses any escape from the root.

        With a caller's listing (which holds no link leading outside), this is string work only;
        otherwise a path that exists is also checked for a link leading outside.
        """
        norm = posixpath.normpath("/".join(parts)) if parts else "."
        if norm == "." or norm == ".." or norm.startswith("../"):
            raise PathOutsideRoot(raw, f"{raw!r} points outside the project root {self.root}")
        if not self._static:
            full = self.root / norm
            if os.path.lexists(full):
                real = full.resolve()
                if not real.is_relative_to(self.root):
                    raise PathOutsideRoot(
                        raw, f"{raw!r} leads outside the project root through a link (to {real})"
                    )
        return norm

    def _known(self, canonical: str) -> Resolution | None:
        if self._static:
            if canonical in self._listing:  # type: ignore[operator]
                return Resolution(canonical, "exact", True)
        elif (self.root / canonical).is_file():
            return Resolution(canonical, "exact", True)
        if canonical in self._extras():
            return Resolution(canonical, "exact", False)
        return None

    # -- public -----------------------------------------------------------------------------
    def canonical(self, path: str | os.PathLike[str]) -> str:
        """Canonical form of a path known to be under the root (absolute or root-relative)."""
        p = Path(path)
        if p.is_absolute():
            try:
                rel = p.resolve().relative_to(self.root)
            except ValueError:
                raise PathOutsideRoot(str(path), f"{str(path)!r} is not under {self.root}") from None
            if not rel.parts:
                return "."  # the root itself (a folder target)
            return self._inside(str(path), list(rel.parts))
        return self._inside(str(path), _split(str(path))[1])

    def resolve(self, raw: str, directory: str | None = None, *, by_name: bool = True) -> Resolution:
        """Canonical path for ``raw`` as written in a log row (see the module docstring).

        Raises PathUnresolved, PathAmbiguous (with every candidate) or PathOutsideRoot.
        ``by_name=False`` skips the file-name fallback.
        """
        if not isinstance(raw, str) or not raw.strip():
            raise PathUnresolved(str(raw), "empty path")
        if self._static:
            # Fast paths over a trusted listing (whose members never hold ".." or links out).
            if raw in self._listing:  # type: ignore[operator]
                return Resolution(raw, "exact", True)
            rest = self._listed_after_prefix(raw)
            if rest is not None:
                return Resolution(rest, "stripped-prefix", True)
        is_abs, parts = _split(raw)
        if is_abs:
            text = raw.strip()
            if text.startswith(self._root_prefix):  # an absolute path on this machine, under the root
                found = self._known(self._inside(raw, text[len(self._root_prefix) :].split("/")))
                if found:
                    return found
            # Another machine's prefix: strip leading components until the rest is known here.
            # Prefixes that worked before are tried first (a log holds few of them).
            for n in self._prefixes:
                if 0 < n < len(parts):
                    found = self._stripped(raw, parts, n)
                    if found:
                        return found
            for n in range(1, len(parts)):
                found = self._stripped(raw, parts, n)
                if found:
                    self._prefixes.insert(0, n)
                    del self._prefixes[8:]
                    head = raw.strip()[: len(raw.strip()) - len(found.canonical)]
                    if "\\" not in raw and head.endswith("/") and head not in self._prefix_text:
                        self._prefix_text.insert(0, head)
                        del self._prefix_text[8:]
                    return found
        else:
            found = self._known(self._inside(raw, parts))
            if found:
                return found
            if directory and directory.strip():
                try:
                    base = self.resolve_dir(directory)
                except PathOutsideRoot:
                    base = None
                if base is not None:
                    found = self._known(self._inside(raw, [*base.split("/"), *parts]))
                    if found:
                        return Resolution(found.canonical, "directory", found.on_disk)
        if not by_name:
            raise PathUnresolved(raw, f"{raw!r}: no image or index entry at this path")
        return self._by_file_name(raw, parts[-1] if parts else raw)

    def _listed_after_prefix(self, raw: str) -> str | None:
        for prefix in self._prefix_text:
            if raw.startswith(prefix):
                rest = raw[len(prefix) :]
                if rest in self._listing:  # type: ignore[operator]
                    return rest
        return None

    def quick(self, raw: str, directory: str = "") -> str | None:
        """What ``resolve`` would answer for a listed image found the cheap way: as written,
        after a machine prefix already seen, or as a plain file name in its row's directory.
        None otherwise (``resolve`` then decides). Only with a caller's listing: the test the
        validator runs on every row before ``resolve``."""
        if not self._static:
            return None
        listing: set[str] = self._listing  # type: ignore[assignment]
        if raw in listing:
            return raw
        rest = self._listed_after_prefix(raw)
        if rest is not None or not directory:
            return rest
        # resolve tries the name at the root first (an index entry there wins), then the folder
        if "/" in raw or "\\" in raw or raw in (".", "..") or raw in self._extras():
            return None
        base = self.resolve_dir(directory)
        joined = f"{base}/{raw}" if base else None
        return joined if joined in listing else None

    def _stripped(self, raw: str, parts: list[str], n: int) -> Resolution | None:
        try:
            found = self._known(self._inside(raw, parts[n:]))
        except PathOutsideRoot:
            return None
        return Resolution(found.canonical, "stripped-prefix", found.on_disk) if found else None

    def index_path(self, raw: str) -> str | None:
        """Canonical form of an embedding index's ``image_path``, even when the image is gone.

        Resolved exactly (no file-name fallback) when the image is known; otherwise the part of
        the path from its first component that is a top-level folder of the root (the project);
        a plain relative path as it stands. None when none of these applies.
        """
        try:
            return self.resolve(raw, by_name=False).canonical
        except PathError:
            pass
        if self._top is None:
            self._top = {e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith(".")}
        is_abs, parts = _split(raw)
        for i, part in enumerate(parts):
            if part in self._top:
                try:
                    return self._inside(raw, parts[i:])
                except PathOutsideRoot:
                    return None
        if not is_abs and parts:
            try:
                return self._inside(raw, parts)
            except PathOutsideRoot:
                return None
        return None

    def resolve_dir(self, directory: str) -> str | None:
        """Canonical form of a folder written in any convention, or None if it is not here."""
        if directory not in self._dirs:
            self._dirs[directory] = self._resolve_dir(directory)
        return self._dirs[directory]

    def _resolve_dir(self, directory: str) -> str | None:
        is_abs, parts = _split(directory)
        starts = range(len(parts)) if is_abs else range(1)
        for i in starts:
            if not parts[i:]:
                continue
            try:
                cand = self._inside(directory, parts[i:])
            except PathOutsideRoot:
                if is_abs:
                    continue
                raise
            if (self.root / cand).is_dir():
                return cand
        return None

    def _by_file_name(self, raw: str, name: str) -> Resolution:
        matches = self._named(name)
        if not matches:
            matches = self._named(name, refresh=True)
        if not matches:
            raise PathUnresolved(raw, f"{raw!r}: no image, index entry or file matches, even by file name")
        if len(matches) > 1:
            raise PathAmbiguous(raw, sorted(matches))
        (only,) = matches
        return Resolution(only, "file-name", (self.root / only).is_file())

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
from pathlib import Path
from typing import NamedTuple

from curalog.errors import PathAmbiguous, PathOutsideRoot, PathUnresolved
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
METHOD_TEXT = {
    "exact": "as written",
    "stripped-prefix": "after stripping another machine's prefix",
    "directory": "relative to its row's directory",
    "file-name": "by its unique file name",
    "content-hash": "by content hash among the images that share its file name",
    "index (content-hash)": "through the index line with this path (it names the image by content hash)",
    "gone": "as the index writes it (the image is not on disk)",
    "ledger": "by the decision import-legacy took from this line (linked by content hash then)",
}


class IndexView(NamedTuple):
    """What the embedding index says about paths, once every line went through the rule."""

    resolved: list[Resolution | None]  # per index line, in order (None: cannot be placed)
    # the written path of a line placed by content hash -> that image (None: such lines disagree)
    aliases: dict[str, Resolution | None]
    gone: frozenset[str]  # canonical paths of index lines whose image is not on disk
    names: dict[str, list[str]]  # file name -> the gone paths with that name
    # an image on disk named by several lines with different hashes -> its content hash (None when
    # it cannot be read or no hasher was given): the line with that hash is the image's line
    contested: dict[str, str | None]


class PathResolver:
    """Resolves raw paths against one project root, with one rule for log rows and index lines:
    as written -> another machine's prefix stripped -> relative to the row's directory -> the
    unique file name among the images on disk (for index lines, a name several images share is
    settled by content hash when exactly one of them has the indexed hash).

    ``index_lines`` supplies the embedding index as ``(image_path, hash)`` pairs. An index line
    placed by content hash lends its written path (when it holds a folder) to that image: a log
    row written the same way finds it through the index (method "index (content-hash)"). An index
    line whose image is gone stays a candidate of its own (``on_disk=False``); one that resolves
    to a file on disk never does. ``hash_of(canonical)`` gives an image's sha256 (None if
    unreadable); it is only asked for images that share a file name with an index line that
    needs them, or whose lines disagree.
    """

    def __init__(
        self,
        root: Path,
        index_lines: IndexLines | None = None,
        listing: Iterable[str] | None = None,
        hash_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.root = root.resolve()
        self._root_prefix = str(self.root) + "/"
        self._index_source = index_lines
        self._hash_of = hash_of
        # A listing given by the caller is trusted as the files on disk (no stat per lookup).
        self._static = listing is not None
        self._listing: set[str] | None = set(listing) if listing is not None else None
        self._dirs: dict[str, str | None] = {}
        self._prefixes: list[int] = []  # how many leading components other machines' paths had
        self._top: set[str] | None = None  # top-level folders of the root
        self._prefix_text: list[str] = []  # and those prefixes as text, e.g. "/Users/x/curation/"
        self._by_name: tuple[dict[str, str], dict[str, set[str]]] | None = None  # images on disk
        self._view: IndexView | None = None
        self._listed_tops: set[str] = set()  # first components of the images on disk
        self._folders: dict[str, bool] = {}  # folder -> whether it is on disk (index placement)
        self._name_hashes: dict[str, dict[str, list[str]]] = {}  # file name -> sha256 -> images

    # -- candidates -------------------------------------------------------------------------
    def _disk(self, refresh: bool = False) -> tuple[set[str], dict[str, str], dict[str, set[str]]]:
        """(images on disk, file name -> its one image, file name -> every image where several
        share it). ``refresh`` lists the tree again (never for a caller's listing)."""
        if refresh and not self._static:
            old = self._listing
            self._listing = set(list_images(self.root))
            if self._listing != old:
                self._by_name = None
                self._view = None
                self._name_hashes.clear()
        if self._listing is None:
            self._listing = set(list_images(self.root))
        if self._by_name is None:
            first: dict[str, str] = {}
            shared: dict[str, set[str]] = {}
            for c in self._listing:
                name = c.rpartition("/")[2]
                prev = first.setdefault(name, c)
                if prev is not c:
                    shared.setdefault(name, {prev}).add(c)
            self._by_name = (first, shared)
            self._listed_tops = {c.partition("/")[0] for c in self._listing}
        return self._listing, *self._by_name

    @property
    def listed(self) -> set[str]:
        """The images on disk (canonical paths), as listed."""
        return self._disk()[0]

    def index_view(self) -> IndexView:
        """Every index line placed by the rule (computed once; ``forget`` drops it)."""
        if self._view is not None:
            return self._view
        lines = list(self._index_source()) if self._index_source else []
        listing, first, shared = self._disk()
        after_prefix, place = self._listed_after_prefix, self._place
        resolved: list[Resolution | None] = []
        add = resolved.append
        for raw, digest in lines:
            # the common cases inline (as ``index_line`` answers them)
            if raw in listing:
                res: Resolution | None = Resolution(raw, "exact", True)
            elif (rest := after_prefix(raw)) is not None:
                res = Resolution(rest, "stripped-prefix", True)
            else:
                # the seed's drift, `<project>/<name>` with a unique name, the cheap way (what
                # ``_place`` answers: its folder is a project folder, so the name decides)
                head, _, name = raw.partition("/")
                if (
                    name in first
                    and name not in shared
                    and head not in ("", ".", "..")
                    and ":" not in head  # not a Windows drive
                    and "/" not in name
                    and "\\" not in raw
                    and raw == raw.strip()
                ):
                    res = Resolution(first[name], "file-name", True)
                else:
                    res = place(raw, digest, listing, first, shared)
            add(res)
        contested = self._contested(lines, resolved)
        if contested:
            # A line that loses its image's contest (its hash is not the image's content) names
            # the same-named image whose content it is (of identical copies, the first): the drifted path
            # `mojo2/b.png` of `mojo2/selected/b.png`'s line where a `mojo2/b.png` also exists.
            moved = False
            for i, ((_raw, digest), res) in enumerate(zip(lines, resolved, strict=True)):
                content = contested.get(res.canonical) if res is not None else None
                if content is None or not digest or digest.lower() == content:
                    continue
                name = res.canonical.rpartition("/")[2]  # type: ignore[union-attr]
                hits = [c for c in self._with_hash(name, digest.lower(), first, shared) if c != res.canonical]  # type: ignore[union-attr]
                if hits:  # several only when they are identical copies: the first, in path order
                    resolved[i] = Resolution(hits[0], "content-hash", True)
                    moved = True
            if moved:
                contested = self._contested(lines, resolved)
        aliases: dict[str, Resolution | None] = {}
        gone: set[str] = set()
        for (raw, _digest), res in zip(lines, resolved, strict=True):
            if res is None:
                continue
            if not res.on_disk:
                gone.add(res.canonical)
            elif res.method == "content-hash":
                key = self._written(raw)
                if key is not None and "/" in key:  # a bare file name lends nothing
                    lent = Resolution(res.canonical, "index (content-hash)", True)
                    if aliases.setdefault(key, lent) != lent:
                        aliases[key] = None  # two lines with this path name different images
        names: dict[str, list[str]] = {}
        for g in sorted(gone):
            names.setdefault(g.rpartition("/")[2], []).append(g)
        self._view = IndexView(resolved, aliases, frozenset(gone), names, contested)
        return self._view

    def _contested(
        self, lines: list[tuple[str, str | None]], resolved: list[Resolution | None]
    ) -> dict[str, str | None]:
        """Images on disk whose index lines disagree on the hash -> their content hash (None
        when it cannot be read or no hasher was given)."""
        first_hash: dict[str, str] = {}
        disagree: set[str] = set()
        for (_raw, digest), res in zip(lines, resolved, strict=True):
            if res is None or not res.on_disk:
                continue
            d = (digest or "").lower()
            if first_hash.setdefault(res.canonical, d) != d:
                disagree.add(res.canonical)
        hash_of = self._hash_of
        return {c: (hash_of(c) or "").lower() or None if hash_of else None for c in sorted(disagree)}

    def line_counts(self, canonical: str, digest: str | None) -> bool | None:
        """For an image named by several index lines that disagree: whether a line with hash
        ``digest`` is the one that counts (its hash is the image's content). None when the lines
        agree or the content is unknown (then the last line counts)."""
        content = self.index_view().contested.get(canonical)
        return None if content is None else (digest or "").lower() == content

    def _named(self, name: str, refresh: bool = False) -> list[str]:
        """Every candidate with file name ``name``: images on disk and index lines whose image is
        gone."""
        _listing, first, shared = self._disk(refresh)
        disk = sorted(shared[name]) if name in shared else [first[name]] if name in first else []
        return disk + self.index_view().names.get(name, [])

    def forget(self) -> None:
        """Drop the cached listing (call after files were added or the index changed)."""
        self._by_name = None
        self._view = None
        self._dirs.clear()
        self._folders.clear()
        self._name_hashes.clear()
        if not self._static:
            self._listing = None

    # -- checks -----------------------------------------------------------------------------
    def _inside(self, raw: str, parts: list[str], *, stat: bool = True) -> str:
        """Canonical form of root-relative ``parts``; refuses any escape from the root.

        With a caller's listing (which holds no link leading outside), or ``stat=False`` (the
        caller only compares with a listing), this is string work only; otherwise a path that
        exists is also checked for a link leading outside.
        """
        norm = posixpath.normpath("/".join(parts)) if parts else "."
        if norm == "." or norm == ".." or norm.startswith("../"):
            raise PathOutsideRoot(raw, f"{raw!r} points outside the project root {self.root}")
        if stat and not self._static:
            full = self.root / norm
            if os.path.lexists(full):
                real = full.resolve()
                if not real.is_relative_to(self.root):
                    raise PathOutsideRoot(
                        raw, f"{raw!r} leads outside the project root through a link (to {real})"
                    )
        return norm

    def _on_disk(self, canonical: str, method: str) -> Resolution | None:
        if canonical in self._listing if self._static else (self.root / canonical).is_file():  # type: ignore[operator]
            return Resolution(canonical, method, True)
        return None

    def _in_index(self, canonical: str, method: str) -> Resolution | None:
        view = self.index_view()
        lent = view.aliases.get(canonical)
        if lent is not None:
            return lent
        if canonical in view.gone:
            return Resolution(canonical, method, False)
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
        """Canonical path for ``raw`` as written in a log row (see the class docstring).

        Files on disk are tried before what the index says, at each step. Raises
        PathUnresolved, PathAmbiguous (with every candidate) or PathOutsideRoot.
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
            found = self._absolute(raw, parts, self._on_disk) or self._absolute(raw, parts, self._in_index)
        else:
            tries = [(self._inside(raw, parts), "exact")]
            if directory and directory.strip():
                try:
                    base = self.resolve_dir(directory)
                except PathOutsideRoot:
                    base = None
                if base is not None:
                    tries.append((self._inside(raw, [*base.split("/"), *parts]), "directory"))
            found = next(
                (r for look in (self._on_disk, self._in_index) for c, m in tries if (r := look(c, m))), None
            )
        if found is not None:
            return found
        if not by_name:
            raise PathUnresolved(raw, f"{raw!r}: no image or index entry at this path")
        return self._by_file_name(raw, parts[-1] if parts else raw)

    def _absolute(
        self, raw: str, parts: list[str], look: Callable[[str, str], Resolution | None]
    ) -> Resolution | None:
        """An absolute path: under this machine's root, or another machine's prefix stripped
        (prefixes that worked before are tried first: a log holds few of them)."""
        text = raw.strip()
        if text.startswith(self._root_prefix):
            found = look(self._inside(raw, text[len(self._root_prefix) :].split("/")), "exact")
            if found:
                return found
        # Prefix lengths that worked before are a shortcut on disk only: what the index holds
        # (lent and gone paths) is looked up from the longest remainder down, whatever came first.
        for n in self._prefixes if look == self._on_disk else ():
            if 0 < n < len(parts):
                found = self._stripped(raw, parts, n, look)
                if found:
                    return found
        for n in range(1, len(parts)):
            found = self._stripped(raw, parts, n, look)
            if found:
                self._prefixes.insert(0, n)
                del self._prefixes[8:]
                self._learn_prefix(raw, parts, n)
                return found
        return None

    def _learn_prefix(self, raw: str, parts: list[str], n: int) -> None:
        """Remember another machine's prefix (its first ``n`` components) as text, for the cheap
        look-ups of ``quick`` and ``_listed_after_prefix``; a log holds few of them."""
        head = "/" + "/".join(parts[:n]) + "/"
        if "\\" not in raw and raw.startswith(head) and head not in self._prefix_text:
            self._prefix_text.insert(0, head)
            del self._prefix_text[8:]

    def _listed_after_prefix(self, raw: str) -> str | None:
        if raw[:1] != "/":
            return None  # every prefix learned is an absolute POSIX path
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
        # resolve tries the name at the root first (on disk: not listed, checked above), then
        # in the row's folder, on disk, before anything the index says
        if "/" in raw or "\\" in raw or raw in (".", "..") or raw != raw.strip():
            return None
        try:
            base = self.resolve_dir(directory)
        except PathOutsideRoot:
            return None  # resolve decides (it treats such a directory as none)
        joined = f"{base}/{raw}" if base else None
        return joined if joined in listing else None

    def _stripped(
        self, raw: str, parts: list[str], n: int, look: Callable[[str, str], Resolution | None]
    ) -> Resolution | None:
        try:
            found = look(self._inside(raw, parts[n:]), "stripped-prefix")
        except PathOutsideRoot:
            return None
        if found is not None and found.method == "exact":
            return found._replace(method="stripped-prefix")
        return found

    def top_folders(self) -> set[str]:
        """The root's top-level folders that can hold images (not hidden, not curalog's own):
        where a written path's project part starts."""
        if self._top is None:
            try:
                self._top = {
                    e.name
                    for e in os.scandir(self.root)
                    if e.is_dir() and not e.name.startswith(".") and e.name not in SKIP_DIRS
                }
            except OSError:
                self._top = set()
        return self._top

    def _written(self, raw: str) -> str | None:
        """The canonical text of an index line's path as written, whether or not an image is
        there: from its first component that is a top-level folder of the root (the project);
        a plain relative path as it stands. None when neither applies."""
        return self._written_parts(raw, *_split(raw))

    def _written_parts(self, raw: str, is_abs: bool, parts: list[str]) -> str | None:
        """``_written`` of a path already split."""
        top = self.top_folders()
        for i, part in enumerate(parts):
            if part in top:
                if ".." not in parts:
                    return "/".join(parts[i:])  # already normal
                try:
                    return self._inside(raw, parts[i:], stat=False)
                except PathOutsideRoot:
                    return None
        if not is_abs and parts:
            try:
                return self._inside(raw, parts, stat=False)
            except PathOutsideRoot:
                return None
        return None

    def index_line(self, raw: str, digest: str | None = None) -> Resolution | None:
        """Where an embedding index line's ``image_path`` points, by the one rule: as written or
        with another machine's prefix stripped (on disk), else the unique file name among the
        images on disk, else (a name several images share) the one whose content hash is
        ``digest``. An image that none of these finds is gone: its path as written
        (``_written``), ``on_disk=False``. None when the path cannot be placed at all."""
        if not isinstance(raw, str) or not raw.strip():
            return None
        listing, first, shared = self._disk()
        if raw in listing:
            return Resolution(raw, "exact", True)
        rest = self._listed_after_prefix(raw)
        if rest is not None:
            return Resolution(rest, "stripped-prefix", True)
        return self._place(raw, digest, listing, first, shared)

    def _place(
        self,
        raw: str,
        digest: str | None,
        listing: set[str],
        first: dict[str, str],
        shared: dict[str, set[str]],
    ) -> Resolution | None:
        """``index_line`` past its cheap look-ups (``raw`` is not listed as written, nor after a
        prefix already seen)."""
        if not isinstance(raw, str) or not raw.strip():
            return None
        is_abs, parts = _split(raw)

        def listed(c: str, m: str) -> Resolution | None:
            return Resolution(c, m, True) if c in listing else None

        found: Resolution | None = None
        try:
            if not is_abs:
                plain = ".." not in parts  # then the components are already normal
                found = listed("/".join(parts) if plain else self._inside(raw, parts, stat=False), "exact")
            elif ".." in parts or raw.lstrip().startswith(self._root_prefix):
                found = self._absolute(raw, parts, listed)
            else:  # another machine's prefix: the components are already normal (no "." or "..")
                tops = self._listed_tops  # a remainder on disk starts with one of these
                for n in range(1, len(parts)):
                    if parts[n] in tops:
                        rest = "/".join(parts[n:])
                        if rest in listing:
                            found = Resolution(rest, "stripped-prefix", True)
                            self._learn_prefix(raw, parts, n)
                            break
        except PathOutsideRoot:
            return None
        if found is not None:
            return found
        name = parts[-1] if parts else ""
        written = self._written_parts(raw, is_abs, parts)
        if name in first:
            if name not in shared and not self._left_its_folder(written):
                return Resolution(first[name], "file-name", True)
            if digest:  # a shared name, or a file gone from a folder that is still there
                hits = self._with_hash(name, digest.lower(), first, shared)
                if len(hits) == 1:
                    return Resolution(hits[0], "content-hash", True)
        return Resolution(written, "gone", False) if written is not None else None

    def _left_its_folder(self, written: str | None) -> bool:
        """Whether an index line's path names a folder below a project folder that is still on
        disk (``mojo1/selected/x.png`` with ``mojo1/selected/`` there): then the image is gone
        from it, and a same-named image elsewhere is another image unless its bytes say
        otherwise. The seed's drift (``mojo1/x.png``), bare names and folders that no longer
        exist (moved images) are not such paths."""
        folder = written.rpartition("/")[0] if written else ""
        if "/" not in folder:
            return False
        if folder not in self._folders:
            self._folders[folder] = os.path.isdir(self.root / folder)
        return self._folders[folder]

    def _with_hash(
        self, name: str, digest: str, first: dict[str, str], shared: dict[str, set[str]]
    ) -> list[str]:
        """The images named ``name`` whose sha256 is ``digest`` (each image hashed once)."""
        if self._hash_of is None:
            return []
        by_hash = self._name_hashes.get(name)
        if by_hash is None:
            by_hash = self._name_hashes[name] = {}
            for c in sorted(shared.get(name, {first[name]})):
                by_hash.setdefault((self._hash_of(c) or "").lower(), []).append(c)
        return by_hash.get(digest, [])

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
            raise PathAmbiguous(raw, matches)
        (only,) = matches
        on_disk = only not in self.index_view().gone
        return Resolution(only, "file-name", on_disk)

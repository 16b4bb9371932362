"""``PathResolver``: any written path (a log row's, an index line's) to its canonical form.

The rule, one for log rows and index lines: as written -> another machine's prefix stripped ->
relative to the row's directory -> the unique file name among the images on disk. Nothing outside
the root is ever resolved: no ``..`` escape, no symlink escape.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from curalog.errors import PathAmbiguous, PathOutsideRoot, PathUnresolved
from curalog.paths.canonical import SKIP_DIRS, IndexLines, Resolution, _split, list_images
from curalog.paths.index_placement import IndexPlacement, IndexView

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


class PathResolver(IndexPlacement):
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
        # and those prefixes as text, e.g. "/Users/x/curation/", each with its inner components
        self._prefix_text: list[tuple[str, tuple[str, ...]]] = []
        self._by_name: tuple[dict[str, str], dict[str, set[str]]] | None = None  # images on disk
        self._view: IndexView | None = None
        self._listed_tops: set[str] | None = None  # first components of the images on disk
        self._starts: dict[tuple[str, ...], tuple[set[str], bool]] = {}  # _no_listed_path_starts
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
                self._by_name = self._listed_tops = None
                self._view = None
                self._name_hashes.clear()
        if self._listing is None:
            self._listing = set(list_images(self.root))
        if self._by_name is None:
            listing = list(self._listing)
            names = [c.rpartition("/")[2] for c in listing]
            first = dict(zip(names, listing, strict=True))  # of a shared name, any of its images
            shared: dict[str, set[str]] = {}
            if len(first) < len(listing):
                counts = Counter(names)
                for name, c in zip(names, listing, strict=True):
                    if counts[name] > 1:
                        shared.setdefault(name, set()).add(c)
            self._by_name = (first, shared)
        return self._listing, *self._by_name

    def listed_tops(self) -> set[str]:
        """The first components of the images on disk."""
        if self._listed_tops is None:
            self._listed_tops = {c.partition("/")[0] for c in self._disk()[0]}
        return self._listed_tops

    @property
    def listed(self) -> set[str]:
        """The images on disk (canonical paths), as listed."""
        return self._listing if self._listing is not None else self._disk()[0]

    def _named(self, name: str, refresh: bool = False) -> list[str]:
        """Every candidate with file name ``name``: images on disk and index lines whose image is
        gone."""
        _listing, first, shared = self._disk(refresh)
        disk = sorted(shared[name]) if name in shared else [first[name]] if name in first else []
        return disk + self.index_view().names.get(name, [])

    def forget(self) -> None:
        """Drop the cached listing (call after files were added or the index changed)."""
        self._by_name = self._listed_tops = None
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
            if raw.startswith(self._root_prefix) and raw[len(self._root_prefix) :] in self._listing:  # type: ignore[operator]
                return Resolution(raw[len(self._root_prefix) :], "exact", True)
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
        # Prefix lengths that worked before are a shortcut for stat'ed look-ups on disk only.
        # Over a caller's listing every length is a set look-up: the longest remainder that is
        # there wins, whatever lines came first (answers never depend on what was resolved before).
        for n in self._prefixes if look == self._on_disk and not self._static else ():
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
        if "\\" not in raw and raw.startswith(head) and all(head != p for p, _inner in self._prefix_text):
            self._prefix_text.insert(0, (head, tuple(parts[1:n])))
            del self._prefix_text[8:]

    def _listed_after_prefix(self, raw: str) -> str | None:
        """A listed image an absolute path names under this root, or after a prefix learned
        before: what ``resolve`` answers for it, whatever was learned in whatever order. A
        learned prefix is only a shortcut to the longest remainder on disk: it is taken when none
        of its inner components starts a listed path (then no shorter prefix leaves a listed
        remainder), else ``resolve`` tries every length."""
        if raw[:1] != "/":
            return None  # every prefix learned is an absolute POSIX path
        listing: set[str] = self._listing  # type: ignore[assignment]
        if raw.startswith(self._root_prefix) and raw[len(self._root_prefix) :] in listing:
            return raw[len(self._root_prefix) :]  # as written, under this root (resolve's first try)
        for prefix, inner in self._prefix_text:
            if raw.startswith(prefix):
                rest = raw[len(prefix) :]
                if rest in listing and (not inner or self._no_listed_path_starts(inner)):
                    return rest
        return None

    def learned_prefixes(self) -> list[tuple[str, tuple[str, ...]]]:
        """The machine prefixes learned so far (text, inner components), most recent first."""
        return list(self._prefix_text)

    def adopt(self, view: IndexView, prefixes: list[tuple[str, tuple[str, ...]]], tops: set[str],
              by_name: tuple[dict[str, str], dict[str, set[str]]]) -> None:  # fmt: skip
        """Take what another resolver over the same listing computed (``validate.resume``): its
        index view, its prefixes, the first components of the listed images (``tops``) and
        their file names (``by_name``)."""
        self._view = view
        self._prefix_text = list(prefixes)
        self._listed_tops = tops
        self._by_name = by_name

    def by_name(self) -> tuple[dict[str, str], dict[str, set[str]]]:
        """(file name -> an image with it, file name -> every image where several share it)."""
        _listing, first, shared = self._disk()
        return first, shared

    def _no_listed_path_starts(self, components: tuple[str, ...]) -> bool:
        """Whether none of ``components`` is the first component of a listed image (remembered
        per prefix while the listing stays)."""
        tops = self.listed_tops()
        known = self._starts.get(components)
        if known is None or known[0] is not tops:
            known = self._starts[components] = (tops, tops.isdisjoint(components))
        return known[1]

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
        if self._static and "." not in parts and ".." not in parts:  # already normal, no stat to do
            found = look("/".join(parts[n:]), "stripped-prefix")
        else:
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

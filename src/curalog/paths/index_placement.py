"""The index half of ``PathResolver``: every embedding-index line placed by the one path rule.

An index line is placed as a log row would be (as written, another machine's prefix stripped, the
unique file name), and a name several images share is settled by content hash. ``IndexView`` is
the result for the whole index at once; ``IndexPlacement`` is mixed into ``PathResolver`` and uses
its listing (``_disk``, ``_inside``, ``_listed_after_prefix``, ``_resolve_dir``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from curalog.errors import PathOutsideRoot
from curalog.paths.canonical import Resolution, _split


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


def names_of(gone: Iterable[str]) -> dict[str, list[str]]:
    """``IndexView.names``: file name -> the gone paths with that name, in path order."""
    names: dict[str, list[str]] = {}
    for g in sorted(gone):
        names.setdefault(g.rpartition("/")[2], []).append(g)
    return names


class IndexPlacement:
    """Index-line placement for ``PathResolver`` (state lives on the resolver)."""

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
            elif "/" not in raw and raw in first:
                # a bare file name (the names of images on disk are never "." or ".."): unique,
                # it is that image; written with white space around it, or shared, ``_place``
                # decides (by content hash)
                if raw not in shared and "\\" not in raw and raw == raw.strip():
                    res = Resolution(first[raw], "file-name", True)
                else:
                    res = place(raw, digest, listing, first, shared)
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
        self._view = IndexView(resolved, aliases, frozenset(gone), names_of(gone), contested)
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
            d = digest or ""
            if not d.islower():  # a new text for each line only when it has upper case
                d = d.lower()
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
                tops = self.listed_tops()  # a remainder on disk starts with one of these
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

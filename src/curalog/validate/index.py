"""The embedding index as the validator reads it, and which images it gives a usable vector.

Every legacy index line and ledger embedding row, in order, placed by the one path rule
(``PathResolver.index_line``); the vector files with their verdicts; and, per canonical image,
the line that counts for it and whether that line names a sound vector of the length it says.
"""

from __future__ import annotations

from collections.abc import Callable, KeysView
from itertools import compress, repeat
from operator import attrgetter
from typing import NamedTuple, Protocol

import numpy as np

from curalog.errors import PathError
from curalog.ledger.provenance import imported_index_paths
from curalog.legacy.index import IndexLine
from curalog.legacy.logs import LogRead
from curalog.paths import PathResolver
from curalog.project import Project


class IndexRef(NamedTuple):
    """A ledger embedding row, shaped like a legacy index line (``IndexLine``)."""

    hash: str
    dim: int | None
    source: str
    line: int | None
    model: str = ""


Ref = IndexLine | IndexRef


class SoundLines(Protocol):
    """Content hash -> the last index line naming a sound vector of its length."""

    def get(self, digest: str, /) -> Ref | None: ...


class Vectors(NamedTuple):
    """The vector folder: its files (``<content hash>.npy``) and the verdict on each."""

    temp_files: list[str]  # names of temp files left by interrupted writes
    length: dict[str, int]  # content hash -> vector length (-1: not a vector), of every file
    problem: dict[str, str]  # content hash -> what is wrong, for the files that have a problem
    rel: str  # the folder as the layout names it

    @property
    def files(self) -> KeysView[str]:
        """The content hashes of the vector files (the name of each is ``<hash>.npy``)."""
        return self.length.keys()

    def problem_of(self, ref: Ref) -> str | None:
        """Why the vector an index line names is not usable, or None."""
        if ref.hash not in self.length:
            return f"its .npy ({self.rel}/{ref.hash}.npy) is gone"
        problem = self.problem.get(ref.hash)
        if problem:
            return f"the file {ref.hash}.npy is corrupt ({problem})"
        length = self.length[ref.hash]
        if ref.dim is not None and length != ref.dim:
            return f"the file {ref.hash}.npy is corrupt (length {length}, index says {ref.dim})"
        return None

    def sound(self, ref: Ref) -> bool:
        """Whether an index line names a vector file on disk that is sound and of the length the
        line says (``problem_of`` is None; this is its fast form, for whole-index passes)."""
        n = self.length.get(ref.hash)
        return n is not None and ref.hash not in self.problem and ref.dim in (None, n)

    def of_lines(self, refs: list[Ref]) -> LineVerdicts:
        """The verdict on each of ``refs``' vector files, by position: one look-up a line, for
        every whole-index pass after it (``LineVerdicts``)."""
        hashes = list(map(attrgetter("hash"), refs))
        said, no, other, big = map(attrgetter("dim"), refs), NO_DIM, OTHER_DIM, 2**62
        dims = np.array(
            [
                d if d.__class__ is int and d != no and -big < d < big else no if d is None else other
                for d in said
            ],
            dtype=np.int64,
        )
        lengths = np.array(list(map(self.length.get, hashes, repeat(MISSING))), dtype=np.int64)
        problem = np.array(list(map(self.problem.__contains__, hashes)), dtype=bool)
        return LineVerdicts(hashes, dims, lengths, problem)


NO_DIM = -3  # a line that says no dimension (``LineVerdicts.dims``)
OTHER_DIM = -4  # a dimension of NO_DIM's value, beyond int64 or not an int: never a file's length
MISSING = -5  # the length of a vector file that is not there (``LineVerdicts.lengths``): no
# length a verdict can have (>= -1), nor another sentinel (vectors.NO_STATE, NO_DIM, OTHER_DIM)


class LineVerdicts(NamedTuple):
    """Index lines' vector verdicts, by line position (``Vectors.of_lines``): each line's
    hash looked up once, and NumPy for every whole-index pass after (which line is sound,
    whose file is gone, whose length no line expects)."""

    hashes: list[str]
    dims: np.ndarray  # int64: the dimension the line says (NO_DIM: none; OTHER_DIM: no length's)
    lengths: np.ndarray  # int64: its file's length (-1: not a vector; MISSING: no file)
    problem: np.ndarray  # bool: its file has a problem

    @property
    def sound(self) -> np.ndarray:
        """``Vectors.sound`` of each line: a file with no problem, of the length it says."""
        fits = (self.dims == NO_DIM) | (self.dims == self.lengths)
        return (self.lengths != MISSING) & ~self.problem & fits

    @property
    def unexpected(self) -> np.ndarray:
        """Lines whose file is there with a length other than the (non-zero) one they say."""
        said = (self.dims != NO_DIM) & (self.dims != 0)
        return said & (self.lengths != MISSING) & (self.lengths != self.dims)


class IndexLines(NamedTuple):
    """Every index line in order: the legacy index's lines, then the ledger's rows that are not a
    legacy line import-legacy adopted (those are counted and checked once, as the line)."""

    paths: list[str]  # canonical where the path rule placed the line, else as written
    refs: list[Ref]
    legacy: int  # how many of them are legacy lines (the first ones)

    @property
    def ledger(self) -> int:
        return len(self.refs) - self.legacy


def place_index_lines(
    project: Project,
    legacy: LogRead,
    listing: list[str],
    content_hash: Callable[[str], str | None],
) -> tuple[IndexLines, PathResolver]:
    """The index lines, and the resolver that resolves the decisions' paths with what the index
    says (legacy lines are their own references). Needs no vector verdicts."""
    refs: list[Ref] = list(legacy.rows)
    raws = [r.image_path for r in legacy.rows]
    db_source = project.config.layout.database
    adopted = imported_index_paths(project.db, legacy.source) if legacy.exists else set()
    n_legacy = len(refs)
    for e in project.embeddings.entries():
        if e.path not in adopted:
            raws.append(e.path)
            refs.append(IndexRef(e.hash, e.dim, db_source, None, e.model))
    resolver = PathResolver(
        project.config.root,
        index_lines=lambda: zip(raws, [ref.hash for ref in refs], strict=True),
        listing=listing,
        hash_of=content_hash,
    )
    placed = resolver.index_view().resolved
    paths = [r.canonical if r is not None else raw for r, raw in zip(placed, raws, strict=True)]
    return IndexLines(paths, refs, n_legacy), resolver


def _counting_lines(
    lines: IndexLines, vectors: Vectors, contested: dict[str, str]
) -> tuple[dict[str, Ref], np.ndarray]:
    """Canonical image path -> the index line that counts for it, and the position of each of
    those lines (in the dict's order).

    Several legacy lines for one image: when they disagree on the hash and the image is on disk
    (``contested``: path -> its content), only the lines with its content are candidates (if
    any); among the candidates the last with a sound vector counts, else the last (import-legacy
    adopts the same). A ledger row counts over the legacy lines when it is sound."""
    n = lines.legacy
    paths, refs = lines.paths, lines.refs
    unsound = vectors.problem_of
    index: dict[str, Ref] = {}
    later: list[int] = []  # lines whose image an earlier line named
    won: dict[str, int] = {}  # image -> its counting line, where that is not its first
    for i, (path, ref) in enumerate(zip(paths[:n], refs[:n], strict=True)):
        prev = index.setdefault(path, ref)
        if prev is ref:
            continue
        later.append(i)
        content = contested.get(path)
        if content is not None and (ref.hash == content) != (prev.hash == content):
            if ref.hash == content:
                index[path], won[path] = ref, i
            continue
        if unsound(ref) is None or unsound(prev) is not None:
            index[path], won[path] = ref, i
    for i, (path, ref) in enumerate(zip(paths[n:], refs[n:], strict=True), start=n):
        if path not in index:  # later legacy lines win; a ledger row if it is sound
            index[path] = ref
        else:
            later.append(i)
            if unsound(ref) is None:
                index[path], won[path] = ref, i
    # the first line of each image, in the dict's order; then the lines that won over it
    at = np.delete(np.arange(len(refs), dtype=np.int64), later)
    if won:
        for k, path in enumerate(index):
            if path in won:
                at[k] = won[path]
    return index, at


class Embedded:
    """Which images have a usable vector.

    ``index``: canonical image path -> the index line that counts for it; ``sound``: the images
    whose line names a sound vector of the length it says. Both grow only when ``by_content``
    links an image no line names to a line with its content, as the ledger links by content
    hash: a memo of what the files already say, asked by the rules and the dataset builder."""

    def __init__(
        self,
        lines: IndexLines,
        vectors: Vectors,
        resolver: PathResolver,
        content_hash: Callable[[str], str | None],
    ) -> None:
        self.lines = lines
        self.vectors = vectors
        self.resolver = resolver
        self._content_hash = content_hash
        self.verdicts = vectors.of_lines(lines.refs)  # each line's, by position
        self.index, at = _counting_lines(lines, vectors, resolver.index_view().contested)
        sound = self.verdicts.sound[at].tolist()
        self.sound = set(compress(self.index, sound))
        # why each indexed image that is not soundly embedded is not (``problem``)
        problem_of = vectors.problem_of
        self.problems: dict[str, str | None] = {
            path: problem_of(ref) for (path, ref), ok in zip(self.index.items(), sound, strict=True) if not ok
        }
        self._content_checked: set[str] = set()  # images looked up by content (by_content)
        self._any_lines = bool(lines.refs)
        # content hash -> the last line naming a sound vector of its length (by_content)
        self._sound_by_hash: SoundLines | None = None

    @classmethod
    def restored(cls, sound: set[str], problems: dict[str, str | None], any_lines: bool,
                 sound_by_hash: SoundLines, resolver: PathResolver,
                 content_hash: Callable[[str], str | None]) -> Embedded:  # fmt: skip
        """An ``Embedded`` from what an earlier one concluded (``validate.resume``): ``problem``
        answers as it would, without the index lines and vector verdicts it was computed from
        (``index`` holds only the images linked by content since)."""
        self = cls.__new__(cls)
        self.lines, self.vectors = IndexLines([], [], 0), None  # type: ignore[assignment]
        self.resolver, self._content_hash = resolver, content_hash
        self.index, self.sound, self.problems = {}, sound, problems
        self.verdicts = Vectors([], {}, {}, "").of_lines([])
        self._content_checked: set[str] = set()
        self._any_lines, self._sound_by_hash = any_lines, sound_by_hash
        return self

    def problem(self, canonical: str) -> str | None:
        """Why a resolved image has no usable vector, or None (every indexed image is in
        ``sound`` or in ``problems``)."""
        if canonical in self.sound:
            return None
        if canonical in self.problems:
            return self.problems[canonical]
        return "no index line names it" if self.by_content(canonical) is None else None

    def by_content(self, canonical: str) -> Ref | None:
        """For an image on disk that no index line names: an index line (any path) whose hash is
        the image's content and whose vector is sound, as the ledger links by content hash (an
        identical copy; a line whose drifted path names another file). Only asked about
        decisions that would otherwise have no embedding, and not when a line names the image
        (its vector deleted, as in the seed, would make every such image read in full); the
        image is hashed once (cached). A link is recorded in ``index`` and ``sound``."""
        if canonical in self._content_checked:
            return self.index.get(canonical) if canonical in self.sound else None
        self._content_checked.add(canonical)
        if canonical not in self.resolver.listed or not self._any_lines:
            return None
        digest = self._content_hash(canonical)
        ref = self._sound_lines().get(digest) if digest else None
        if ref is not None:
            self.index[canonical] = ref
            self.sound.add(canonical)
        return ref

    def _sound_lines(self) -> SoundLines:
        if self._sound_by_hash is None:
            sound = self.vectors.sound
            self._sound_by_hash = {ref.hash: ref for ref in self.lines.refs if sound(ref)}
        return self._sound_by_hash

    def sound_line_hashes(self) -> list[str]:
        """The content hashes of the sound vectors the index lines name (what ``by_content``
        links an image by), one for each line that names one."""
        if self._sound_by_hash is not None:
            return list(self._sound_by_hash)  # type: ignore[call-overload]
        return list(compress(self.verdicts.hashes, self.verdicts.sound.tolist()))

    def usable_hash(self, raw: str, directory: str) -> str | None:
        """The content hash of the usable vector of a logged path, or None."""
        try:
            canonical = self.resolver.quick(raw, directory) or self.resolver.resolve(raw, directory).canonical
        except PathError:
            return None
        if canonical not in self.index:
            self.by_content(canonical)  # linked by content hash, as the ledger would
        return self.index[canonical].hash if canonical in self.sound else None

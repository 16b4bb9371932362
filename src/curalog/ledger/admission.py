"""Admission: a decision is checked whole before any row of it exists.

``admit`` collects *every* problem of a proposed decision (its text fields, each image's path,
file, size and content, the chosen index, the crop box, the chosen image's vector) and raises them
together as ``DecisionRejected``; what it returns is a decision that may be stored as it is. It
reads images and the embedding store but writes nothing: a dry run is ``admit`` alone.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from curalog.config import Policy
from curalog.db.facts import FactCache
from curalog.errors import DecisionRejected, DecisionWarning, ImageError, PathError, Problem, shown
from curalog.ledger.checks import Box, check_box, check_box_shape, check_size
from curalog.paths import NOT_UTF8, PathResolver, utf8

#: the longest set id (and other text fields) and path a decision may carry: a set id of megabytes
#: is a bug in the caller, never a set
MAX_TEXT = 1024
MAX_PATH_TEXT = 4096


class IndexedImage(Protocol):
    hash: str


class Vectors(Protocol):
    """What admission needs to know about embeddings (the embedding store provides it)."""

    def lookup(self, path: str) -> IndexedImage | None: ...

    def vector_problem(self, digest: str) -> str | None: ...


@dataclass(frozen=True)
class Candidate:
    idx: int
    path: str
    hash: str
    stage: str | None
    width: int
    height: int


@dataclass(frozen=True)
class Admitted:
    """A decision that passed every check, ready to be stored."""

    kind: str  # "selection" | "crop"
    set_id: str
    directory: str
    candidates: tuple[Candidate | None, ...]  # None: an image left out (never the chosen one)
    chosen: Candidate
    box: Box | None  # pixels of the chosen image
    box_normalized: Box | None


@dataclass
class Admission:
    resolver: PathResolver
    facts: FactCache
    vectors: Vectors
    policy: Policy

    def admit(
        self,
        kind: str,
        set_id: object,
        directory: object,
        image_paths: object,
        chosen_idx: object,
        *,
        crop_coords: object = None,
        image_stages: object = None,
        image_sizes: object = None,
    ) -> Admitted:
        """The decision, checked; raises DecisionRejected naming every problem."""
        problems: list[Problem] = []
        _check_set_id(set_id, problems)
        directory = _directory(directory, problems)
        by_image: dict[int, list[Problem]] = {}
        cands = self._candidates(directory, image_paths, chosen_idx, image_stages, image_sizes, problems,
                                 by_image)  # fmt: skip
        chosen = cands[chosen_idx] if isinstance(chosen_idx, int) and 0 <= chosen_idx < len(cands) else None
        box = norm = None
        if chosen is not None:
            if kind == "crop":
                checked = check_box(crop_coords, chosen.width, chosen.height)
                if isinstance(checked, Problem):
                    problems.append(checked)
                else:
                    box, norm = checked
            self._check_embedding(kind, chosen, problems)
        elif kind == "crop":
            shape = check_box_shape(crop_coords)
            if shape is not None:
                problems.append(shape)
        if problems:
            raise DecisionRejected(problems, by_image)
        assert chosen is not None and isinstance(set_id, str)
        return Admitted(kind, set_id, directory, tuple(cands), chosen, box, norm)

    def _candidates(
        self,
        directory: str,
        image_paths: object,
        chosen_idx: object,
        image_stages: object,
        image_sizes: object,
        problems: list[Problem],
        by_image: dict[int, list[Problem]],
    ) -> list[Candidate | None]:
        if isinstance(image_paths, str | bytes) or not isinstance(image_paths, Sequence):
            problems.append(Problem("row.malformed", "image_paths must be a list of paths"))
            return []
        paths = list(image_paths)
        n = len(paths)
        if n == 0:
            problems.append(Problem("row.malformed", "image_paths is empty"))
        if isinstance(chosen_idx, bool) or not isinstance(chosen_idx, int):
            problems.append(Problem("row.malformed", f"chosen_idx {chosen_idx!r} is not an int"))
        elif not 0 <= chosen_idx < n:
            problems.append(
                Problem(
                    "row.malformed",
                    f"chosen_idx {chosen_idx} is out of range for {n} image(s) (0..{max(n - 1, 0)})",
                )
            )
        stages = _per_image(image_stages, "image_stages", "a list", n, problems) or [None] * n
        sizes = _per_image(image_sizes, "image_sizes", "a list of (w, h)", n, problems)
        out: list[Candidate | None] = []
        for i, raw in enumerate(paths):
            found = self._candidate(i, raw, directory, stages[i], None if sizes is None else sizes[i])
            if isinstance(found, Problem):  # one problem per image that cannot be a candidate
                problems.append(found)
                by_image[i] = [found]
                out.append(None)
            else:
                out.append(found)
        return out

    def _candidate(self, i: int, raw: object, directory: str, stage: object, size: object
                   ) -> Candidate | Problem:  # fmt: skip
        label = f"image {i} ({shown(repr(raw))})"
        if not isinstance(raw, str | os.PathLike):
            return Problem("path.unresolved", f"{label}: not a path")
        text = os.fspath(raw)
        why = (
            NOT_UTF8 if not utf8(text) else "holds a NUL character" if "\x00" in text
            else f"is {len(text):,} characters long (at most {MAX_PATH_TEXT:,})"
            if len(text) > MAX_PATH_TEXT else None
        )  # fmt: skip
        if why is not None:
            return Problem("path.unresolved", f"{label}: {why}")
        try:
            res = self.resolver.resolve(text, directory)
        except PathError as exc:
            return Problem(exc.code, f"{label}: {shown(exc)}")
        except (OSError, RuntimeError, ValueError) as exc:  # a name too long, a symlink loop
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            return Problem("path.unresolved", f"{label}: cannot be looked up ({shown(reason)})")
        label = f"image {i} ({res.canonical})"
        logged = None
        if size is not None:
            checked = check_size(size, label)
            if isinstance(checked, Problem):
                return checked
            logged = checked
        if res.on_disk:
            try:
                facts = self.facts.get(res.canonical, defer=True)
            except ImageError as exc:
                return Problem("image.unreadable", f"{label}: {exc.reason}")
            digest, measured = facts.sha256, (facts.width, facts.height)
            if logged is not None and logged != measured:
                return Problem(
                    "crop.dimension_mismatch",
                    f"{label}: logged size {logged[0]}x{logged[1]} differs from the "
                    f"file's {measured[0]}x{measured[1]} (EXIF orientation applied)",
                )
        else:
            entry = self.vectors.lookup(res.canonical)
            if entry is None or logged is None:
                return Problem(
                    "image.missing",
                    f"{label}: the file is not on disk" + ("" if logged else " and no size was given for it"),
                )
            digest, measured = entry.hash, logged
        return Candidate(i, res.canonical, digest, None if stage is None else str(stage), *measured)

    def _check_embedding(self, kind: str, chosen: Candidate, problems: list[Problem]) -> None:
        policy = self.policy.require_embedding
        if policy == "off":
            return
        reason = self.vectors.vector_problem(chosen.hash)
        if reason is None:
            return
        message = (
            f"no embedding for the chosen image {chosen.path}: {reason}; run: curalog embed {chosen.path}"
        )
        if kind == "crop" or policy == "all":
            problems.append(Problem("decision.no_embedding", message))
        else:
            warnings.warn(DecisionWarning(f"decision.no_embedding: {message}"), stacklevel=5)


def _check_set_id(set_id: object, problems: list[Problem]) -> None:
    if not isinstance(set_id, str) or not set_id.strip():
        problems.append(Problem("row.malformed", f"set_id {shown(repr(set_id))} must be a non-empty text"))
    elif len(set_id) > MAX_TEXT or not utf8(set_id) or "\x00" in set_id:
        problems.append(Problem(
            "row.malformed",
            f"set_id {shown(repr(set_id))} is not UTF-8 text without NUL of at most {MAX_TEXT:,} chars",
        ))  # fmt: skip


def _directory(directory: object, problems: list[Problem]) -> str:
    if directory is None:
        directory = ""
    if not isinstance(directory, str | os.PathLike):
        problems.append(Problem("row.malformed", f"directory {shown(repr(directory))} must be a path"))
        return ""
    text = os.fspath(directory)
    if len(text) > MAX_PATH_TEXT or not utf8(text) or "\x00" in text:
        problems.append(Problem(
            "row.malformed", f"directory {shown(repr(text))} must be UTF-8 text of at most "
            f"{MAX_PATH_TEXT:,} characters without NUL"
        ))  # fmt: skip
        return ""
    return text


def _per_image(value: object, name: str, kind: str, n: int, problems: list[Problem]) -> list[object] | None:
    """``value`` as a list with one entry per image, or None (a problem is recorded if wrong)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        problems.append(Problem("row.malformed", f"{name} must be {kind}"))
    elif len(value) != n:
        problems.append(Problem("row.malformed", f"{name} has {len(value)} entries for {n} image(s)"))
    else:
        return list(value)
    return None

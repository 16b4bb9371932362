"""``validate``: every finding of findings.md over the legacy logs, the ledger and the vectors.

Read-only: user files are only read; the one file written is the validator's own cache.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from curalog.audit import check_since
from curalog.codes import RECOMMEND, TEMP_FILE_STATE
from curalog.config import Config, find_root, load_config
from curalog.embeddings.store import list_vector_files
from curalog.errors import ImageError, PathAmbiguous, PathError
from curalog.images import image_size, sha256_file, stat_key
from curalog.ledger.ledger import LIVE
from curalog.legacy.csvlines import physical_lines
from curalog.legacy.index import IndexLine, read_index
from curalog.legacy.logs import (
    CropRow,
    LogRead,
    SelectionColumns,
    SelectionRow,
    line_sha,
    log_problem,
    read_crop_log,
    read_selection_columns,
)  # fmt: skip
from curalog.paths import METHOD_TEXT, PathResolver, Resolution, _split, list_images
from curalog.progress import Progress
from curalog.project import Project
from curalog.validate import rules
from curalog.validate.cache import CACHE_NAME, ValidateCache
from curalog.validate.model import Finding, Report
from curalog.validate.rules import Where
from curalog.validate.vectors import check_files_in_background
from curalog.version import __version__

PLAIN_METHODS = frozenset({"exact", "stripped-prefix", "directory"})
MEMO_VERSION = 3  # bump when a rule changes what it reports


class RowOutcome(NamedTuple):
    """What validation concluded about one logged decision (collected for the dataset builder)."""

    kind: str  # "selection" | "crop"
    source: str
    line: int
    set_id: str
    project: str
    path: str  # the chosen image: canonical when it resolved, else as logged
    hash: str  # its vector's content hash when usable, else ""
    directory: str
    others: tuple[str, ...]  # the candidates not chosen, as logged
    box: tuple[float, float, float, float] | None  # crops: as logged
    size: tuple[float, float] | None  # crops: the chosen image's logged (width, height)
    usable: bool
    codes: tuple[str, ...]  # every finding on the row


def _codes(values: Any) -> np.ndarray:
    """Dictionary codes of a pyarrow string array (equal strings, equal codes)."""
    import pyarrow.compute as pc

    return pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)


def _has_error(found: list[Finding]) -> bool:
    return any(f.severity == "error" for f in found)


def _row_outcome(fields: tuple) -> RowOutcome:
    """A RowOutcome from a tuple of its fields, without the Python-level constructor."""
    return tuple.__new__(RowOutcome, fields)


@dataclass
class CleanSelections:
    """Selections with no finding, by column (collected for the dataset builder in bulk)."""

    columns: SelectionColumns
    at: np.ndarray  # their positions in ``columns``
    lines: np.ndarray
    set_id: Any
    project: Any
    path: Any  # canonical
    hash: Any  # the vector's content hash
    directory: Any
    code: np.ndarray  # per row, an index into code_hash (equal codes, same chosen image)
    code_hash: list[str]


class IndexRef(NamedTuple):
    hash: str
    dim: int | None
    source: str
    line: int | None
    model: str = ""


Ident = tuple[int, int, int]  # size, mtime_ns, inode


def _ident(path: str | Path) -> Ident | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _ledger_version(db: Path) -> tuple | None:
    """What identifies the content of the ledger tables a validation reads: the database file's
    inode and its change counter (bumped by triggers on those tables only, so a health snapshot
    written since does not count). Databases without the counter fall back to their stat."""
    try:
        inode = os.stat(db).st_ino
    except OSError:
        return None
    for mode in ("rw", "ro"):  # rw where it can: the last connection to close removes -wal and -shm
        try:
            conn = sqlite3.connect(f"{db.as_uri()}?mode={mode}", uri=True)
            try:
                row = conn.execute("SELECT n FROM ledger_version WHERE id = 1").fetchone()
            finally:
                conn.close()
            if row is not None:
                return (inode, row[0])
            break
        except sqlite3.Error:
            continue
    return (_ident(db), _ident(f"{db}-wal"))


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one run: a run builds hundreds of thousands of
    long-lived rows and no cycles, and the collector's repeated sweeps over them cost a tenth of
    the run. Restored as it was, even on error."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Validation:
    """One run of the validator over one project."""

    def __init__(self, config: Config, *, deep: bool, since: str | None, use_cache: bool,
                 progress: Progress | None, collect: bool = False) -> None:  # fmt: skip
        self.config = config
        self.root = config.root
        self.deep = deep
        self.since = check_since(since)
        self.progress = progress
        self.cache = ValidateCache(config.path("database").with_name(CACHE_NAME))
        self.use_cache = use_cache
        if use_cache:
            self.cache.load_memo()
        self.report = Report(str(self.root), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.findings: list[Finding] = []
        self.emb_dir_rel = config.layout.embeddings_dir
        # images whose header a rule read -> their (size, mtime_ns, inode) when it was read
        self.collect = collect  # keep a RowOutcome per decision (never memoized)
        self.outcomes: list[RowOutcome] = []
        self.clean_selections: CleanSelections | None = None  # the bulk of usable selections
        self.measured: dict[str, Ident | None] = {}
        # import-legacy's decisions by (source, line): (sha of the line, chosen path); read lazily
        self._imported: dict[tuple[str, int], tuple[str, str]] | None = None
        self._log_paths: dict[str, Path] = {}  # source -> the log file
        self._log_text: dict[str, list[str]] = {}
        self._content_checked: set[str] = set()  # images looked up by content (by_content)
        self._sound_by_hash: dict[str, IndexLine | IndexRef] | None = None
        self.sizes: dict[str, tuple[int, int] | None] = {}  # this run's header reads

    # -- helpers ----------------------------------------------------------------------------
    def _project_guess(self, raw: str, directory: str = "") -> str:
        for text in (raw, directory):
            for part in _split(text)[1]:
                if part in self.top_dirs:
                    return part
        return ""

    def _in_range(self, timestamp: str) -> bool:
        return not self.since or not timestamp or timestamp[: len(self.since)] >= self.since

    # -- inputs -----------------------------------------------------------------------------
    def _list_vectors(self) -> None:
        # hash -> file name, and temp files
        self.vector_files, self.temp_files = list_vector_files(self.config.path("embeddings_dir"))

    def _start_vector_check(self) -> Callable[[], None]:
        """Start judging every vector file (unchanged ones from the cache, the rest read once);
        returns the function that waits for the verdicts (the reading overlaps log parsing)."""
        self._list_vectors()
        folder = str(self.config.path("embeddings_dir"))
        items = list(self.vector_files.items())
        pending = check_files_in_background(folder, items, self.cache.vector_entries(), self.progress)

        def finish() -> None:
            checked = pending()
            # hash -> length (-1: not a vector); hash -> problem, for the files that have one
            self.vector_length = checked.lengths_by_hash(items)
            self.vector_problem = checked.problems_by_hash(items)
            self.cache.set_vectors([name for _d, name in items], checked)

        return finish

    def _hash_of(self, canonical: str) -> str | None:
        """The sha256 of an image (asked only for images that share a file name with an index line
        that needs them): from the validator's cache or the ledger's image facts when the file's
        stat is unchanged, else read once. Read-only: the ledger is not written."""
        full = f"{self.root}/{canonical}"
        try:
            st = os.stat(full)
        except OSError:
            return None
        key = stat_key(st)  # a FIFO or device named like an image: refused by sha256_file, never opened
        self.measured.setdefault(canonical, key[:3])
        hit = self.cache.hashes.get(canonical)
        if hit is not None and hit[0] == key:
            return hit[1]
        digest = None
        for row in self.project.db.query(
            "SELECT sha256, size, mtime_ns, inode, ctime_ns FROM file_facts WHERE path = ?", (canonical,)
        ):
            if (row["size"], row["mtime_ns"], row["inode"], row["ctime_ns"]) == key:
                digest = row["sha256"]
        if digest is None:
            try:
                digest = sha256_file(full)
            except ImageError:
                return None
        self.cache.hashes[canonical] = (key, digest)
        self.cache.changed = True
        return digest

    def _index_lines(self, legacy: LogRead, project: Project) -> None:
        """Every index line in order, from the legacy index and the ledger, placed by the one
        path rule (``PathResolver.index_line``): ``index_paths`` and ``index_refs`` (legacy lines
        are their own references). Builds ``resolver``, which resolves the decisions' paths with
        what the index says. Needs no vector verdicts."""
        refs: list[IndexLine | IndexRef] = list(legacy.rows)
        raws = [r.image_path for r in legacy.rows]
        db_source = self.config.layout.database
        # Rows that import-legacy adopted from a legacy index line still on disk are that line:
        # counted and checked once, as the line.
        adopted = {
            r["index_path"]
            for r in project.db.query(
                "SELECT index_path FROM legacy_lines WHERE kind = 'index' AND source = ?", (legacy.source,)
            )
        } if legacy.exists else set()  # fmt: skip
        self.legacy_index_lines = len(refs)
        for e in project.embeddings.entries():
            if e.path not in adopted:
                raws.append(e.path)
                refs.append(IndexRef(e.hash, e.dim, db_source, None, e.model))
        self.ledger_index_rows = len(refs) - self.legacy_index_lines
        self.resolver = PathResolver(
            self.root,
            index_lines=lambda: zip(raws, [ref.hash for ref in refs], strict=True),
            listing=self.listing,
            hash_of=self._hash_of,
        )
        placed = self.resolver.index_view().resolved
        self.index_paths = [
            r.canonical if r is not None else raw for r, raw in zip(placed, raws, strict=True)
        ]
        self.index_refs = refs

    def _index(self) -> None:
        """Canonical image path -> the index line that counts for it (``index``), and the images
        whose line names a sound vector of the length it says (``sound``)."""
        n = self.legacy_index_lines
        paths, refs = self.index_paths, self.index_refs
        # Several legacy lines for one image: when they disagree on the hash and the image is on
        # disk, only the lines with its content are candidates (if any); among the candidates
        # the last with a sound vector counts, else the last (import-legacy adopts the same).
        contested = self.resolver.index_view().contested
        unsound = self._vector_problem
        self.index: dict[str, IndexLine | IndexRef] = {}
        index = self.index
        for path, ref in zip(paths[:n], refs[:n], strict=True):
            prev = index.setdefault(path, ref)
            if prev is ref:
                continue
            content = contested.get(path)
            if content is not None and (ref.hash == content) != (prev.hash == content):
                if ref.hash == content:
                    index[path] = ref
                continue
            if unsound(ref) is None or unsound(prev) is not None:
                index[path] = ref
        for path, ref in zip(paths[n:], refs[n:], strict=True):  # later legacy lines win; a ledger
            if self._vector_problem(ref) is None or path not in self.index:  # row if it is sound
                self.index[path] = ref
        sound = self._names_sound_vector
        self.sound = {path for path, ref in self.index.items() if sound(ref)}

    def _names_sound_vector(self, ref: IndexLine | IndexRef) -> bool:
        """Whether an index line names a vector file on disk that is sound and of the length the
        line says (``_vector_problem`` is None; this is its fast form, for whole-index passes)."""
        n = self.vector_length.get(ref.hash)
        return n is not None and ref.hash not in self.vector_problem and ref.dim in (None, n)

    def _superseded(self, project: Project) -> None:
        """Legacy lines a repair replaced with a ledger decision (``curalog repair ... --apply``):
        (source, line) -> decision id, for lines whose text is still what was repaired. Such a
        line is validated as its repaired decision, and counted once."""
        self.superseded: dict[tuple[str, int], int] = {}
        rows = project.db.query(
            "SELECT DISTINCT r.source, r.line, r.sha, r.decision_id FROM repairs r WHERE r.source IS NOT NULL"
        )
        for r in rows:
            if self._line_unchanged(r["source"], r["line"], r["sha"]):
                self.superseded[(r["source"], r["line"])] = r["decision_id"]

    def _line_unchanged(self, source: str, line: int, sha: str) -> bool:
        """Whether line ``line`` of the log ``source`` still has the text a repair or
        import-legacy recorded (``line_sha``). Each log is read once, only when asked."""
        path = self._log_paths.get(source)
        if path is None or not path.is_file():
            return False
        if source not in self._log_text:
            self._log_text[source] = physical_lines(path)
        text = self._log_text[source]
        return 0 < line <= len(text) and line_sha(text[line - 1]) == sha

    def _prefetch_sizes(self, crops: LogRead) -> None:
        """Read the headers of the crop rows' chosen images while the vectors are checked."""
        quick = self.resolver.quick
        for row in crops.rows:
            if self._in_range(row.timestamp) and row.chosen_size[0] > 0 and row.chosen_size[1] > 0:
                canonical = quick(row.chosen_path, row.directory)
                if canonical is not None:
                    self._actual_size(canonical)

    def _vector_problem(self, ref: IndexLine | IndexRef) -> str | None:
        """Why the vector an index line names is not usable, or None."""
        if ref.hash not in self.vector_files:
            return f"its .npy ({self.emb_dir_rel}/{ref.hash}.npy) is gone"
        problem = self.vector_problem.get(ref.hash)
        if problem:
            return f"the file {ref.hash}.npy is corrupt ({problem})"
        length = self.vector_length[ref.hash]
        if ref.dim is not None and length != ref.dim:
            return f"the file {ref.hash}.npy is corrupt (length {length}, index says {ref.dim})"
        return None

    def _embedding_problem(self, canonical: str) -> str | None:
        ref = self.index.get(canonical)
        if ref is None and self.by_content(canonical) is None:
            return "no index line names it"
        return self._vector_problem(self.index[canonical])

    def by_content(self, canonical: str) -> IndexLine | IndexRef | None:
        """For an image on disk that no index line names: an index line (any path) whose hash is
        the image's content and whose vector is sound, as the ledger links by content hash (an
        identical copy; a line whose drifted path names another file). Only asked about
        decisions that would otherwise have no embedding, and not when a line names the image
        (its vector deleted, as in the seed, would make every such image read in full); the
        image is hashed once (cached). A link is recorded in ``index`` and ``sound``."""
        if canonical in self._content_checked:
            return self.index.get(canonical) if canonical in self.sound else None
        self._content_checked.add(canonical)
        if canonical not in self.resolver.listed or not self.index_refs:
            return None
        if self._sound_by_hash is None:  # hash -> the last line naming a sound vector of its length
            sound = self._names_sound_vector
            self._sound_by_hash = {ref.hash: ref for ref in self.index_refs if sound(ref)}
        digest = self._hash_of(canonical)
        ref = self._sound_by_hash.get(digest) if digest else None
        if ref is not None:
            self.index[canonical] = ref
            self.sound.add(canonical)
        return ref

    def _actual_size(self, canonical: str) -> tuple[int, int] | None:
        if canonical in self.sizes:
            return self.sizes[canonical]
        self.sizes[canonical] = size = self._measure(canonical)
        return size

    def _measure(self, canonical: str) -> tuple[int, int] | None:
        full = f"{self.root}/{canonical}"
        try:
            st = os.stat(full)
        except OSError:
            self.measured[canonical] = None
            return None
        key = stat_key(st)
        self.measured[canonical] = key[:3]
        hit = self.cache.images.get(canonical)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        try:
            w, h = image_size(full)
        except ImageError:
            return None
        self.cache.images[canonical] = (key, w, h)
        self.cache.changed = True
        return w, h

    # -- decisions --------------------------------------------------------------------------
    def _ledger_link(self, where: Where) -> str | None:
        """The chosen image of the live decision import-legacy made from this log line, when the
        line's text is still what was imported: the ledger linked it by content hash then (before
        a same-named image appeared, say)."""
        if self._imported is None:
            self._imported = {
                (r["source"], r["line"]): (r["sha"], r["chosen_path"])
                for r in self.project.db.query(
                    "SELECT l.source, l.line, l.sha, d.chosen_path FROM legacy_lines l "
                    "JOIN decisions d ON d.id = l.decision_id WHERE " + LIVE.format(d="d")
                )
            }
        hit = self._imported.get((where.source, where.line or 0))
        if hit is None or not self._line_unchanged(where.source, where.line or 0, hit[0]):
            return None
        return hit[1]

    def _resolve(self, raw: str, directory: str, where: Where, out: list[Finding]):
        try:
            return self.resolver.resolve(raw, directory)
        except PathAmbiguous as exc:
            linked = self._ledger_link(where)
            if linked in exc.candidates:
                return Resolution(linked, "ledger", (self.root / linked).is_file())
            where = where._replace(project=where.project or self._project_guess(raw, directory))
            out.append(rules.path_ambiguous(where, exc.candidates))
        except PathError as exc:
            where = where._replace(project=where.project or self._project_guess(raw, directory))
            out.append(rules.path_unresolved(where, str(exc)))
        return None

    def _decision(self, kind: str, raw: str, directory: str, where: Where,
                  row_findings: list[Finding]) -> tuple[Where, bool, bool]:  # fmt: skip
        """Path, image and embedding checks of a decision's chosen image.

        Returns the location (canonical when resolved), whether the chosen path resolved, and
        whether the decision has a sound vector.
        """
        quick = self.resolver.quick(raw, directory)
        if quick is not None and quick in self.sound:  # listed, on disk, soundly embedded
            return Where(where.source, where.line, quick.split("/", 1)[0], quick), True, True
        res = self._resolve(raw, directory, where, row_findings)
        if res is None:
            return where._replace(project=self._project_guess(raw, directory)), False, False
        where = Where(where.source, where.line, res.canonical.split("/", 1)[0], res.canonical)
        # which rule placed the path, when it was not found where it was written
        how = (
            ""
            if res.method in PLAIN_METHODS
            else f" (the logged path {raw!r} was placed {METHOD_TEXT[res.method]})"
        )
        if not res.on_disk:
            row_findings.append(rules.image_missing(where, how))
        problem = self._embedding_problem(res.canonical)
        if problem is not None:
            policy = self.config.policy.require_embedding
            severity = "error" if (kind == "crop" and policy != "off") or policy == "all" else "warning"
            row_findings.append(rules.decision_no_embedding(where, problem, severity, how))
        return where, True, problem is None

    def _finish_row(self, kind: str, where: Where, key: tuple, found: list[Finding], usable: bool,
                    seen: dict[tuple, int]) -> bool:  # fmt: skip
        """Record the row's findings and count it; returns whether it is usable."""
        has_error = _has_error(found)
        repeat_of = None if has_error else seen.get(key)
        if not has_error and repeat_of is None:
            seen[key] = where.line or 0
        return self._conclude(kind, where, found, usable, has_error, repeat_of)

    def _conclude(self, kind: str, where: Where, found: list[Finding], usable: bool, has_error: bool,
                  repeat_of: int | None) -> bool:  # fmt: skip
        """Record a row's findings (with ``row.duplicate`` when it repeats line ``repeat_of``)
        and count it; returns whether it is usable."""
        if repeat_of is not None:
            found.append(rules.row_duplicate(where, repeat_of))
            usable = False
        if found:
            self.findings.extend(found)
        if usable and not has_error and not (found and any(f.code == "path.ambiguous" for f in found)):
            if kind == "crop":
                self.report.usable_crops += 1
            else:
                self.report.usable_selections += 1
            return True
        return False

    def _outcome(self, kind: str, where: Where, set_id: str, directory: str, others: tuple[str, ...],
                 found: list[Finding], usable: bool, box: tuple | None = None,
                 size: tuple | None = None) -> None:  # fmt: skip
        ref = self.index.get(where.path) if usable else None
        self.outcomes.append(RowOutcome(
            kind, where.source, where.line or 0, set_id, where.project, where.path,
            ref.hash if ref is not None else "", directory, others, box, size, usable,
            tuple(f.code for f in found),
        ))  # fmt: skip

    def _to_check(self, read: LogRead) -> list:
        """The log's rows in the date range and not superseded by a repair."""
        if not self.since and not self.superseded:
            return read.rows
        return [
            r for r in read.rows if self._in_range(r.timestamp) and (r.source, r.line) not in self.superseded
        ]

    def _clean_crop(self, row: CropRow, canonical: str, others: tuple[str, ...]) -> None:
        """Count a crop with no finding as usable (and collect it): the common case, kept to a
        few operations per row."""
        self.report.usable_crops += 1
        if self.collect:
            self.outcomes.append(_row_outcome((
                "crop", row.source, row.line, row.set_id, canonical.split("/", 1)[0], canonical,
                self.index[canonical].hash, row.directory, others, row.box, row.chosen_size, True, (),
            )))  # fmt: skip

    def canonical_codes(self, raw: Any, directory: Any) -> tuple[np.ndarray, list[str | None]]:
        """For columns of logged paths and their rows' directories (pyarrow string arrays): per
        row, an index into a list of canonical paths as ``PathResolver.quick`` gives them (None
        where it cannot tell). Each distinct path is looked up once; only paths that quick can
        place by their row's directory alone are looked up per (path, directory)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        quick = self.resolver.quick
        encoded = pc.dictionary_encode(raw)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        found: list[str | None] = [quick(r, "") for r in encoded.dictionary.to_pylist()]
        unplaced = np.array([f is None for f in found], dtype=bool)
        need = np.flatnonzero(unplaced[codes]) if len(found) else np.zeros(0, dtype=np.int64)
        if len(need):
            at = pa.array(need)
            memo: dict[tuple[str, str], int] = {}
            for j, r, d in zip(
                need.tolist(), raw.take(at).to_pylist(), directory.take(at).to_pylist(), strict=True
            ):
                code = memo.get((r, d))
                if code is None:
                    code = memo[(r, d)] = len(found)
                    found.append(quick(r, d) if d else None)
                codes[j] = code
        return codes, found

    def _selections(self, cols: SelectionColumns | None) -> None:
        """The selection log, by column: decisions with no finding (their chosen image placed
        by ``quick`` and soundly embedded, and not a repeat) are counted and collected in bulk;
        the rest go through the per-row checks. Repeats are found over all rows without an
        error, in line order, as the per-row rule does."""
        import pandas as pd
        import pyarrow as pa

        if cols is None or not len(cols):
            return
        n = len(cols)
        keep = np.ones(n, dtype=bool)
        if self.since:
            keep &= np.array([self._in_range(t) for t in cols.timestamp.to_pylist()], dtype=bool)
        done = [line for (source, line) in self.superseded if source == cols.source]
        if done:
            keep &= ~np.isin(cols.lines, done)
        codes, canonical = self.canonical_codes(cols.chosen_path, cols.directory)
        sound, index = self.sound, self.index
        in_sound = np.array([c is not None and c in sound for c in canonical], dtype=bool)
        clean = keep & in_sound[codes]
        key_path = np.array(canonical, dtype=object)[codes]
        # the rest: per-row checks, repeats decided below
        slow: dict[int, tuple[SelectionRow, Where, list[Finding], bool, bool]] = {}
        eligible = clean.copy()  # rows without an error: the ones a repeat is judged among
        for i in np.flatnonzero(keep & ~clean).tolist():
            row = cols.row(i)
            found: list[Finding] = []
            where = Where(row.source, row.line, "", row.chosen_path)
            where, _resolved, usable = self._decision(
                "selection", row.chosen_path, row.directory, where, found
            )
            has_error = _has_error(found)
            slow[i] = (row, where, found, usable, has_error)
            if not has_error:
                eligible[i] = True
                key_path[i] = where.path
        at = np.flatnonzero(eligible)
        repeat = np.zeros(n, dtype=bool)
        first_line: dict[int, int] = {}
        if len(at):
            take = pa.array(at)
            keys = pd.DataFrame({
                "session": _codes(cols.session_id.take(take)),
                "set": _codes(cols.set_id.take(take)),
                "path": pd.factorize(key_path[at])[0],
            })  # fmt: skip
            dup = keys.duplicated(keep="first").to_numpy()
            if dup.any():
                repeat[at[dup]] = True
                firsts = (
                    keys.assign(line=cols.lines[at])
                    .groupby(["session", "set", "path"])["line"]
                    .transform("first")
                )
                first_line = dict(zip(at[dup].tolist(), firsts.to_numpy()[dup].tolist(), strict=True))
        # bulk: no finding at all
        bulk = clean & ~repeat
        self.report.usable_selections += int(bulk.sum())
        if self.collect and bulk.any():
            u_hash = [index[c].hash if ok else "" for c, ok in zip(canonical, in_sound, strict=True)]  # type: ignore[index]
            u_project = [c.split("/", 1)[0] if c else "" for c in canonical]
            rows_at = np.flatnonzero(bulk)
            take, by_code = pa.array(rows_at), pa.array(codes[rows_at])
            project, path, digest = (
                pa.array(v, pa.string()).take(by_code) for v in (u_project, canonical, u_hash)
            )
            self.clean_selections = CleanSelections(
                cols, rows_at, cols.lines[rows_at], cols.set_id.take(take), project, path, digest,
                cols.directory.take(take), codes[rows_at], u_hash,
            )  # fmt: skip
        # one by one: repeats of clean rows, and the rows that had findings
        for i in np.flatnonzero((clean & repeat) | (keep & ~clean)).tolist():
            if i in slow:
                row, where, found, usable, has_error = slow[i]
            else:
                row, c = cols.row(i), canonical[codes[i]]
                assert c is not None
                where, found, usable, has_error = (
                    Where(row.source, row.line, c.split("/", 1)[0], c),
                    [],
                    True,
                    False,
                )
            usable = self._conclude("selection", where, found, usable, has_error, first_line.get(i))
            if self.collect:
                self._outcome(
                    "selection", where, row.set_id, row.directory, row.negative_paths, found, usable
                )

    def _crops(self, read: LogRead) -> None:
        rows = self._to_check(read)
        if not rows:
            return
        cols = rules.BoxColumns.of(rows)
        masks = [(code, mask_of(cols), summary) for code, mask_of, summary in rules.BOX_RULES]
        size_known = cols.size_known
        plain = size_known.copy()  # a known size and no box finding
        for _code, mask, _summary in masks:
            plain &= ~mask
        quick, sound = self.resolver.quick, self.sound
        seen: dict[tuple, int] = {}
        for i, (row, is_plain) in enumerate(zip(rows, plain.tolist(), strict=True)):
            assert isinstance(row, CropRow)
            others = tuple(p for j, p in enumerate(row.image_paths) if j != row.chosen_index)
            canonical = quick(row.chosen_path, row.directory) if is_plain else None
            if canonical is not None and canonical in sound:
                size, actual = row.chosen_size, self._actual_size(canonical)
                key = (row.session_id, row.set_id, canonical, row.box)
                if (actual is None or (size[0], size[1]) == (actual[0], actual[1])) and key not in seen:
                    seen[key] = row.line
                    self._clean_crop(row, canonical, others)
                    continue
            found: list[Finding] = []
            where = Where(row.source, row.line, "", row.chosen_path)
            where, resolved, usable = self._decision("crop", row.chosen_path, row.directory, where, found)
            zero = rules.crop_zero_dimensions(where, *row.chosen_size)
            if zero is not None:
                found.append(zero)
            for code, mask, summary in masks:
                if mask[i]:
                    found.append(rules.box_finding(code, where, summary, row.box, row.chosen_size))
                    break
            actual = self._actual_size(where.path) if resolved and size_known[i] else None
            if actual is not None:
                mismatch = rules.crop_dimension_mismatch(where, row.chosen_size, actual)
                if mismatch is not None:
                    found.append(mismatch)
            usable = self._finish_row(
                "crop", where, (row.session_id, row.set_id, where.path, row.box), found, usable, seen
            )
            if self.collect:
                self._outcome("crop", where, row.set_id, row.directory, others, found, usable,
                              row.box, row.chosen_size)  # fmt: skip

    def _ledger_decisions(self, project: Project, legacy_sources: list[str]) -> None:
        """Decisions logged through the ledger. Those import-legacy took from a log that is still
        on disk were validated as that log's lines and are not counted twice."""
        source = self.config.layout.database
        marks = ",".join("?" * len(legacy_sources))
        imported = {
            r["decision_id"]
            for r in project.db.query(
                f"SELECT decision_id FROM legacy_lines WHERE decision_id IS NOT NULL AND source IN ({marks})",
                tuple(legacy_sources),
            )
        } if legacy_sources else set()  # fmt: skip
        repaired = set(self.superseded.values())  # their legacy line was counted already
        for d in project.ledger.decisions():
            if (d.id in imported and d.id not in repaired) or not self._in_range(d.created_at):
                continue
            if d.id not in repaired:
                if d.kind == "crop":
                    self.report.crops += 1
                else:
                    self.report.selections += 1
            found: list[Finding] = []
            where = Where(source, d.id, d.project, d.chosen.path)
            _where, _resolved, usable = self._decision(d.kind, d.chosen.path, "", where, found)
            usable = self._finish_row(d.kind, where, ("ledger", d.id), found, usable, {})
            if self.collect:
                others = tuple(c.path for c in d.candidates if c.idx != d.chosen.idx)
                size = (float(d.chosen.width), float(d.chosen.height))
                self._outcome(d.kind, where, d.set_id, d.directory, others, found, usable, d.box, size)

    # -- the index and the files --------------------------------------------------------------
    def _index_file_findings(self) -> None:
        """Index lines whose vector file is gone (and, with --deep, stale ones), and temp files
        left behind: what needs the listing but no vector verdict."""
        rel = self.emb_dir_rel
        on_disk = self.vector_files.keys()
        paths, refs = self.index_paths, self.index_refs
        self.index_hashes = hashes = [ref.hash for ref in refs]
        self.indexed = indexed = set(hashes)
        missing = indexed - on_disk
        check = range(len(refs)) if self.deep else [i for i, h in enumerate(hashes) if h in missing]
        for i in check:
            canonical, ref = paths[i], refs[i]
            where = Where(ref.source, ref.line, canonical.split("/", 1)[0], canonical)
            if ref.hash not in on_disk:
                self.findings.append(rules.embedding_file_missing(where, f"{rel}/{ref.hash}.npy"))
            elif (self.root / canonical).is_file():
                try:
                    actual = sha256_file(self.root / canonical)
                except ImageError:
                    continue
                if actual != ref.hash:
                    self.findings.append(rules.embedding_stale(where, ref.hash, actual))
        for name in sorted(self.temp_files):
            where = Where(rel, None, "", f"{rel}/{name}")
            self.findings.append(rules.embedding_orphan_file(where, TEMP_FILE_STATE))

    def _vector_file_findings(self) -> None:
        """Vector files that are unnamed, unsound, or of a length no index line expects."""
        rel = self.emb_dir_rel
        on_disk = self.vector_files.keys()
        paths, refs, hashes, indexed = self.index_paths, self.index_refs, self.index_hashes, self.indexed
        length, problems = self.vector_length, self.vector_problem
        suspects = set(on_disk - indexed)
        suspects.update(problems)
        suspects.update(
            ref.hash for ref in refs if ref.dim and length.get(ref.hash, ref.dim) != ref.dim
        )  # fmt: skip
        suspects &= on_disk
        first_image: dict[str, str] = {}
        dims: dict[str, set[int]] = {}
        for i in [i for i, h in enumerate(hashes) if h in suspects]:
            first_image.setdefault(hashes[i], paths[i])
            if refs[i].dim:
                dims.setdefault(hashes[i], set()).add(refs[i].dim)  # type: ignore[arg-type]
        for digest in sorted(suspects):
            name = self.vector_files[digest]
            problem = problems.get(digest, "")
            expected = dims.get(digest)
            if not problem and expected and length[digest] not in expected:
                problem = (
                    f"wrong length {length[digest]} (index says {', '.join(map(str, sorted(expected)))})"
                )
            if not problem and digest in first_image:
                continue  # named, sound, and one of its index lines expects its length
            image = first_image.get(digest, "")
            where = Where(rel, None, image.split("/", 1)[0] if image else "", f"{rel}/{name}")
            if digest not in first_image:
                why = f"not a sound vector: {problem}" if problem else "sound"
                self.findings.append(rules.embedding_orphan_file(where, why))
            if problem:
                self.findings.append(rules.embedding_corrupt(where, problem, image))

    # -- run --------------------------------------------------------------------------------
    def _vector_idents(self) -> list[str]:
        """ "name size mtime_ns inode" of every vector file, by stat."""
        folder = self.config.path("embeddings_dir")
        if not folder.is_dir():
            return []
        out = []
        for e in os.scandir(folder):
            try:
                st = e.stat()
            except OSError:  # a dangling link: its own identity (its target may appear later)
                st = e.stat(follow_symlinks=False)
                out.append(f"{e.name} link {os.readlink(e.path)!r} {st.st_mtime_ns} {st.st_ino}")
                continue
            out.append(f"{e.name} {st.st_size} {st.st_mtime_ns} {st.st_ino}")
        return out

    def _signature(
        self, folders: list[str], images: dict[str, Ident | None], vectors: list[str] | None
    ) -> str:
        """A digest of the stat identity of every input a report depends on: the settings, the
        logs, the index, the ledger, every vector file, the image folders (a file added, removed
        or renamed changes its folder), and the images whose headers were measured (``images``:
        path -> identity, taken when the header was read)."""
        ident = _ident
        db = self.config.path("database")
        parts: list[object] = [MEMO_VERSION, __version__, self.since, self.config.policy]
        for path in (self.root / "curalog.toml", *(path for _s, path in self.config.legacy_files())):
            parts.append((str(path), ident(path), log_problem(path)))  # a dangling link vs a loop
        parts.append(("ledger", _ledger_version(db)))
        if vectors is not None:
            parts.append(hashlib.sha256("\n".join(sorted(vectors)).encode()).hexdigest())
        for f in folders:
            parts.append((f, ident(self.root / f)))
        for img in sorted(images):
            parts.append((img, images[img]))
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def run(self) -> Report:
        """Validate; when no input changed since the last full run (same stat signature), its
        result is reused instead of recomputed (never with --deep, which re-hashes images)."""
        cache = self.cache
        memo = not self.deep and not self.collect
        if (
            memo
            and cache.memo_signature
            and cache.memo_signature
            == self._signature(
                cache.memo_folders,
                {img: _ident(f"{self.root}/{img}") for img in cache.memo_images},
                self._vector_idents(),
            )
        ):
            report = Report.from_dict(json.loads(cache.memo_report))
            report.generated_at, report.root = self.report.generated_at, self.report.root
            report.reused = True
            return report
        with gc_paused():
            return self._run_uncached(memo)

    def _run_uncached(self, memo: bool) -> Report:
        cache = self.cache
        if self.use_cache:
            cache.load()
        folders: list[str] = []
        self.listing = list_images(self.root, folders)
        before = self._signature(folders, {}, None) if memo else ""
        report = self._run()
        # Remember the result only if nothing changed while it was computed. The vector files'
        # part comes from the fstat of each file as it was read (or verified unchanged).
        if memo and self._signature(folders, {}, None) == before:
            images = sorted(self.measured)  # their identities as they were read
            vectors = cache.vector_idents()
            cache.memo_signature = self._signature(folders, self.measured, vectors)
            cache.memo_report = json.dumps(report.to_dict())
            cache.memo_folders, cache.memo_images = folders, images
        else:
            cache.memo_signature = ""
        cache.changed = True
        cache.save()
        return report

    def _run(self) -> Report:
        lay = self.config.layout
        self.top_dirs = {p.split("/", 1)[0] for p in self.listing if "/" in p}
        vectors_checked = self._start_vector_check()
        selections, selection_columns = read_selection_columns(
            self.config.path("selection_log"), lay.selection_log
        )
        crops = read_crop_log(self.config.path("crop_log"), lay.crop_log)
        legacy_index = read_index(self.config.path("embedding_index"), lay.embedding_index)
        self.project = project = Project(self.config, tool="curalog validate")
        try:
            self._index_lines(legacy_index, project)
            logs = ((selections, "selection_log"), (crops, "crop_log"))
            self._log_paths = {r.source: self.config.path(k) for r, k in logs}
            self._superseded(project)
            self._prefetch_sizes(crops)
            self._index_file_findings()
            vectors_checked()
            self._index()
            r = self.report
            r.selections, r.crops = selections.data_lines, crops.data_lines
            r.index_entries = legacy_index.data_lines + self.ledger_index_rows
            r.embedding_files = len(self.vector_files)
            for read in (selections, crops, legacy_index):
                if read.problem is not None:
                    self.findings.append(rules.log_unreadable(read.source, read.problem))
                for m in read.malformed:
                    where = Where(m.source, m.line, self._project_guess(m.raw_path), m.raw_path)
                    self.findings.append(rules.row_malformed(where, m.message))
                    if self.collect and read is not legacy_index and m.line > 1:  # a data line
                        kind = "selection" if read is selections else "crop"
                        self.outcomes.append(RowOutcome(
                            kind, m.source, m.line, "", where.project, m.raw_path, "", "", (), None, None,
                            False, ("row.malformed",),
                        ))  # fmt: skip
            self._selections(selection_columns)
            self._crops(crops)
            self._ledger_decisions(project, [read.source for read in (selections, crops) if read.exists])
            self._vector_file_findings()
        finally:
            project.close()
        self.findings.sort(key=lambda f: (f.source, f.line or 0, f.path, f.code))
        r.findings = self.findings
        fixes: dict[str, int] = {}
        for code, n in r.by_code.items():
            if code in RECOMMEND:
                fixes[RECOMMEND[code]] = fixes.get(RECOMMEND[code], 0) + n
        # the command that fixes the most findings first
        r.recommendations = [cmd for cmd, _n in sorted(fixes.items(), key=lambda kv: -kv[1])]
        return r


def validate(
    root: str | os.PathLike[str] | None = None,
    *,
    deep: bool = False,
    since: str | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Validate the project at ``root`` (legacy logs, ledger, index and vector files)."""
    config = load_config(Path(root) if root is not None else find_root())
    return Validation(config, deep=deep, since=since, use_cache=use_cache, progress=progress).run()

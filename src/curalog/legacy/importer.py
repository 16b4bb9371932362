"""Taking legacy logs into the ledger (``import-legacy``).

Import: every line lands either as a decision (through the ledger's own write-time checks, so
nothing bypasses them) or in the quarantine table with its finding codes — nothing dropped, and
per file: lines read = imported now + imported before + quarantined. Re-running is idempotent
(lines already imported are skipped; quarantined ones are retried, so a fix made since lets them
in). Legacy vector files are adopted in place after verification: index rows, no copy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from curalog.codes import LEAVE_OUT
from curalog.db.postgres import PgDatabase
from curalog.embeddings.npy import read_vector_file
from curalog.errors import ConfigError, DecisionRejected, DecisionWarning, Problem
from curalog.ledger.provenance import (
    LegacyLine,
    Provenance,
    imported_lines,
    indexed_by_legacy,
    quarantine,
    record_notes,
    refusal,
)
from curalog.legacy.csvlines import physical_lines
from curalog.legacy.index import read_index
from curalog.legacy.logs import (
    CropRow,
    LogRead,
    Malformed,
    SelectionRow,
    line_sha,
    read_crop_log,
    read_selection_log,
    require_logs,
)
from curalog.progress import Progress
from curalog.project import Project


@dataclass
class FileSummary:
    source: str
    lines: int = 0  # data lines read
    imported: int = 0  # taken in by this run
    already: int = 0  # taken in by an earlier run
    quarantined: int = 0

    @property
    def reconciles(self) -> bool:
        return self.lines == self.imported + self.already + self.quarantined


@dataclass
class ImportSummary:
    dry_run: bool
    files: list[FileSummary] = field(default_factory=list)
    quarantine: list[tuple[str, int, str, str]] = field(default_factory=list)  # source, line, codes, why
    notes: list[tuple[str, int, str]] = field(default_factory=list)  # source, line, what was left out

    @property
    def reconciles(self) -> bool:
        return all(f.reconciles for f in self.files)


class _Importer:
    def __init__(self, project: Project, summary: ImportSummary, progress: Progress | None) -> None:
        self.p = project
        self.summary = summary
        self.progress = progress
        self.sessions: set[str] = set()
        self.done = imported_lines(project.db)

    def _quarantine(self, fs: FileSummary, line: int, sha: str, kind: str, problems: list[Problem],
                    raw: str) -> None:  # fmt: skip
        codes, message = refusal(problems)
        quarantine(self.p.db, LegacyLine(fs.source, line, sha), kind, codes, message, raw)
        fs.quarantined += 1
        self.summary.quarantine.append((fs.source, line, codes, message))

    def _lines(
        self, read: LogRead, path: Path, kind: str
    ) -> Iterator[tuple[FileSummary, int, str, object, str]]:
        """(summary, line, sha, parsed row, raw text) for each data line not imported before;
        malformed lines are quarantined here."""
        fs = FileSummary(read.source, lines=read.data_lines)
        self.summary.files.append(fs)
        if not read.exists:
            return
        raw_lines = physical_lines(path)
        items: list[tuple[int, object]] = [(r.line, r) for r in read.rows] + [
            (m.line, m) for m in read.malformed
        ]
        for n, (line, item) in enumerate(sorted(items, key=lambda x: x[0]), start=1):
            raw = raw_lines[line - 1] if line - 1 < len(raw_lines) else ""
            sha = line_sha(raw)
            if (fs.source, line, sha) in self.done:
                fs.already += 1
                continue
            if isinstance(item, Malformed):
                if line == 1:  # the header: the whole file was refused
                    fs.lines += 1
                self._quarantine(fs, line, sha, kind, [Problem("row.malformed", item.message)], raw)
                continue
            if self.progress and (n % 512 == 0 or n == len(items)):
                self.progress(n, len(items), f"importing {fs.source}")
            yield fs, line, sha, item, raw

    def _session(self, session_id: str, source: str) -> str:
        sid = session_id or f"legacy:{source}"
        if sid not in self.sessions:
            self.p.ledger.start_session(f"legacy import ({source})", sid)
            self.sessions.add(sid)
        return sid

    def index(self, read: LogRead, path: Path) -> None:
        store = self.p.embeddings
        placed = self.p.legacy_index_placements()  # the one path rule, the whole index in view
        for fs, line, sha, item, _raw in self._lines(read, path, "index"):
            raw = item.image_path  # type: ignore[attr-defined]
            where = placed.get(line)
            canonical = where.canonical if where is not None else None
            if canonical is None:
                problem = Problem("path.unresolved", f"{raw!r} cannot be placed under the project root")
                self._quarantine(fs, line, sha, "index", [problem], raw)
                continue
            vector = store.vector_path(item.hash)  # type: ignore[attr-defined]
            if not vector.is_file():
                problem = Problem("embedding.file_missing", f"{store.rel_dir}/{vector.name} is not on disk")
                self._quarantine(fs, line, sha, "index", [problem], raw)
                continue
            arr, why = read_vector_file(vector, item.dim)  # type: ignore[attr-defined]
            if arr is None:
                self._quarantine(
                    fs, line, sha, "index", [Problem("embedding.corrupt", f"{vector.name}: {why}")], raw
                )
                continue
            model = item.model or "legacy:unknown"  # type: ignore[attr-defined]
            # Several lines for one image: a line whose hash is not the content of the image on
            # disk (its lines disagree) is no row of that image; otherwise the last sound line is
            # (replacing a row an earlier legacy line put there), as validate counts it.
            counts = self.p.paths.line_counts(canonical, item.hash)  # type: ignore[attr-defined]
            here = LegacyLine(fs.source, line, sha)
            store.index_legacy_line(
                canonical, item.hash, arr.shape[0], model, add=counts is not False,  # type: ignore[attr-defined]
                may_replace=indexed_by_legacy,
                record=lambda conn, at=here, path=canonical: at.record(conn, "index", index_path=path),
            )  # fmt: skip
            fs.imported += 1
        self.p.paths.forget()

    def _log(self, fs: FileSummary, line: int, sha: str, row: SelectionRow | CropRow) -> list[str]:
        """Store one row as a decision. Non-chosen images that cannot be found or read are left
        out (the decision is still the person's choice) and returned as notes; any other problem
        raises DecisionRejected."""
        session = self._session(row.session_id, fs.source)
        if isinstance(row, SelectionRow):
            kind, images, idx = "selection", [row.chosen_path, *row.negative_paths], 0
            stages: list[str | None] | None = None
            sizes: list[tuple[float, float]] | None = None
            box: tuple[float, ...] | None = None
        else:
            kind, idx, box = "crop", row.chosen_index, row.box
            images = [p or (row.chosen_path if i == idx else p) for i, p in enumerate(row.image_paths)]
            stages, sizes = [s or None for s in row.image_stages], list(row.sizes)
        notes: list[str] = []
        while True:
            try:
                admitted = self.p.ledger.admission.admit(
                    kind,
                    row.set_id,
                    row.directory,
                    images,
                    idx,
                    crop_coords=box,
                    image_stages=stages,
                    image_sizes=sizes,
                )
                provenance = Provenance(LegacyLine(fs.source, line, sha))
                self.p.ledger.store(
                    session, admitted, created_at=row.timestamp or None, provenance=provenance
                )
                return notes
            except DecisionRejected as exc:
                drop = {
                    i
                    for i, probs in exc.by_image.items()
                    if i != idx and all(p.code in LEAVE_OUT for p in probs)
                }
                dropped_problems = {id(p) for i in drop for p in exc.by_image[i]}
                if not drop or any(id(p) not in dropped_problems for p in exc.problems):
                    raise
                notes += [f"left out {images[i]!r}: {exc.by_image[i][0].message}" for i in sorted(drop)]
                keep = [i for i in range(len(images)) if i not in drop]
                images, idx = [images[i] for i in keep], keep.index(idx)
                stages = [stages[i] for i in keep] if stages is not None else None
                sizes = [sizes[i] for i in keep] if sizes is not None else None

    def decisions(self, read: LogRead, path: Path, kind: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DecisionWarning)  # `curalog validate` reports them
            for fs, line, sha, row, raw in self._lines(read, path, kind):
                try:
                    notes = self._log(fs, line, sha, row)  # type: ignore[arg-type]
                except DecisionRejected as exc:
                    self._quarantine(fs, line, sha, kind, exc.problems, raw)
                    continue
                fs.imported += 1
                if notes:
                    record_notes(self.p.db, LegacyLine(fs.source, line, sha), notes)
                    self.summary.notes += [(fs.source, line, n) for n in notes]


@contextlib.contextmanager
def _one_import_at_a_time(project: Project) -> Iterator[None]:
    """Two imports of one project at once would both count the lines they race for as "imported
    now" (the ledger keeps one copy either way): the second is refused. The lock is ``flock`` on
    the database's folder (on a PostgreSQL ledger: an advisory lock on the server, so that two
    machines are kept apart too), released when the process ends however it ends."""
    import errno
    import fcntl

    busy = (
        "another curalog import-legacy is running on this project; run this one again when it is "
        "done (it imports only what the first left)"
    )
    if isinstance(project.db, PgDatabase):
        with project.db.exclusive("curalog import-legacy", busy):
            yield
        return

    folder = project.config.path("database").parent
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield  # no folder yet: nothing to race for
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ConfigError(busy) from exc
        yield
    finally:
        os.close(fd)


def import_legacy(
    project: Project, *, dry_run: bool = False, progress: Progress | None = None
) -> ImportSummary:
    """Take the project's legacy logs into its ledger (see the module docstring).

    With ``dry_run`` the same import runs against a scratch copy of the ledger, which is then
    thrown away: the summary says exactly what a real run would do, and nothing is kept.
    """
    require_logs(project.config.legacy_files(), "import the legacy logs")
    summary = ImportSummary(dry_run)
    if not dry_run:
        with _one_import_at_a_time(project):
            _run_import(project, summary, progress)
        return summary
    if isinstance(project.db, PgDatabase):  # one transaction on the server, rolled back
        with project.db.rolled_back():
            _run_import(project, summary, progress)
        return summary
    with tempfile.TemporaryDirectory(prefix="curalog-dry-run-") as tmp:
        scratch = Path(tmp) / "ledger.db"
        if project.db.exists():
            with contextlib.closing(sqlite3.connect(scratch)) as copy:
                project.db.conn.backup(copy)
        with Project(project.config, tool="curalog import-legacy --dry-run", database=scratch) as trial:
            _run_import(trial, summary, progress)
    return summary


def _run_import(project: Project, summary: ImportSummary, progress: Progress | None) -> None:
    cfg, lay = project.config, project.config.layout
    imp = _Importer(project, summary, progress)
    imp.index(read_index(cfg.path("embedding_index"), lay.embedding_index), cfg.path("embedding_index"))
    imp.decisions(
        read_selection_log(cfg.path("selection_log"), lay.selection_log),
        cfg.path("selection_log"),
        "selection",
    )
    imp.decisions(read_crop_log(cfg.path("crop_log"), lay.crop_log), cfg.path("crop_log"), "crop")


__all__ = ["FileSummary", "ImportSummary", "import_legacy"]

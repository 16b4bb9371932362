"""What the validator's rules read, built once per run by ``read_inputs`` in a fixed order.

The result (``Inputs``) is frozen: nothing assigns to it afterwards, so no rule waits on state
another rule sets. Its lookups (``resolver``, ``embedded``, ``images``, ``log_lines``) read from
disk lazily and remember what they read (the resolver also the other machines' prefixes it has
seen, ``embedded`` the images it linked by content); the engine runs the rules in one fixed
order, so what they remember is the same every run. The dataset builder reads the same object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curalog.arrays import release_arrow_memory
from curalog.config import Config
from curalog.errors import ImageError
from curalog.images import sha256_file
from curalog.ledger.ledger import Ledger
from curalog.ledger.provenance import repaired_decisions
from curalog.legacy.csvlines import physical_lines
from curalog.legacy.index import read_index
from curalog.legacy.logs import (
    LogRead,
    SelectionColumns,
    line_sha,
    read_crop_log,
    read_selection_columns,
)  # fmt: skip
from curalog.paths import PathResolver, _split
from curalog.project import Project
from curalog.validate.background import Pending
from curalog.validate.cache import ValidateCache
from curalog.validate.index import Embedded, IndexLines, Vectors, place_index_lines
from curalog.validate.measure import ImageFacts
from curalog.validate.prior import Prior

# What waits for the vector folder's check: the temp files, and the verdicts on the vector files
# (content hash -> length, of each; content hash -> problem, of those that have one)
VectorCheck = Pending[tuple[list[str], dict[str, int], dict[str, str]]]


class LogLines:
    """The logs' lines as text, read only when asked (each log at most once): whether a line is
    still what a repair or import-legacy recorded, and the decision import-legacy made of it."""

    def __init__(self, paths: dict[str, Path], ledger: Ledger) -> None:
        self._paths = paths  # source -> the log file
        self._ledger = ledger
        self._text: dict[str, list[str]] = {}
        # import-legacy's decisions by (source, line): (sha of the line, chosen path); read lazily
        self._imported: dict[tuple[str, int], tuple[str, str]] | None = None

    @classmethod
    def unlinked(cls, paths: dict[str, Path]) -> LogLines:
        """Lines import-legacy made no decision of (those past the last line it linked)."""
        self = cls(paths, None)  # type: ignore[arg-type]
        self._imported = {}
        return self

    def unchanged(self, source: str, line: int, sha: str) -> bool:
        """Whether line ``line`` of the log ``source`` still has the text a repair or
        import-legacy recorded (``line_sha``)."""
        path = self._paths.get(source)
        if path is None or not path.is_file():
            return False
        if source not in self._text:
            self._text[source] = physical_lines(path)
        text = self._text[source]
        return 0 < line <= len(text) and line_sha(text[line - 1]) == sha

    def ledger_link(self, source: str, line: int) -> str | None:
        """The chosen image of the live decision import-legacy made from this log line, when the
        line's text is still what was imported: the ledger linked it by content hash then (before
        a same-named image appeared, say)."""
        if self._imported is None:
            self._imported = self._ledger.imported_choices()
        hit = self._imported.get((source, line))
        if hit is None or not self.unchanged(source, line, hit[0]):
            return None
        return hit[1]


def in_range(since: str | None, timestamp: str) -> bool:
    """Whether a decision logged at ``timestamp`` is checked with ``--since`` ``since``."""
    return not since or not timestamp or timestamp[: len(since)] >= since


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the rules judge, read once (see the module docstring)."""

    config: Config
    deep: bool  # --deep: re-hash every indexed image (``contents``)
    since: str | None  # only decisions logged from then on (checked ISO text)
    listing: list[str]  # the images on disk, canonical
    top_dirs: frozenset[str]  # the project folders (first components of the listed images)
    selections: LogRead
    selection_columns: SelectionColumns | None
    crops: LogRead
    legacy_index: LogRead
    project: Project | None  # the ledger and the store (open until the engine closes it; None:
    # only appended log lines are judged, ``resume``)
    lines: IndexLines
    resolver: PathResolver
    vectors: Vectors
    embedded: Embedded
    images: ImageFacts
    log_lines: LogLines
    superseded: dict[tuple[str, int], int]  # (source, line) -> the decision a repair replaced it with
    contents: dict[str, str | None]  # --deep: indexed image on disk -> its sha256 (None: unreadable)
    # the first lines of the decisions judged before these lines (an incremental run), for repeats
    prior: Prior | None = None

    @property
    def root(self) -> Path:
        return self.config.root

    def in_range(self, timestamp: str) -> bool:
        """Whether a decision logged at ``timestamp`` is checked (``--since``)."""
        return in_range(self.since, timestamp)

    def project_guess(self, raw: str, directory: str = "") -> str:
        """The project folder a path that did not resolve seems to belong to, or ""."""
        for text in (raw, directory):
            for part in _split(text)[1]:
                if part in self.top_dirs:
                    return part
        return ""


def read_inputs(
    config: Config,
    cache: ValidateCache,
    listing: list[str],
    vectors: VectorCheck,
    *,
    deep: bool,
    since: str | None,
) -> Inputs:
    """Read the logs, the index and the ledger, and wait for the vector folder's listing and
    verdicts (the check runs meanwhile); with ``deep``, then read the indexed images' contents.
    The project is left open for the rules (closed on error)."""
    lay = config.layout
    selections, selection_columns = read_selection_columns(config.path("selection_log"), lay.selection_log)
    crops = read_crop_log(config.path("crop_log"), lay.crop_log)
    release_arrow_memory()
    legacy_index = read_index(config.path("embedding_index"), lay.embedding_index)
    project = Project(config, tool="curalog validate")
    try:
        images = ImageFacts(config.root, cache, project.db)
        lines, resolver = place_index_lines(project, legacy_index, listing, images.content_hash)
        log_paths = {
            r.source: config.path(k) for r, k in ((selections, "selection_log"), (crops, "crop_log"))
        }
        log_lines = LogLines(log_paths, project.ledger)
        superseded = _superseded(project, log_lines)
        # the crops' image headers (I/O, and no vector verdict needed) while the check works
        prefetch_sizes(crops, resolver, images, since)
        temp_files, lengths, problems = vectors()
        contents = _indexed_contents(config.root, lines, lengths) if deep else {}
        vector_set = Vectors(temp_files, lengths, problems, lay.embeddings_dir)
        embedded = Embedded(lines, vector_set, resolver, images.content_hash)
    except BaseException:
        project.close()
        raise
    return Inputs(
        config, deep, since, listing, frozenset(p.split("/", 1)[0] for p in listing if "/" in p),
        selections, selection_columns, crops, legacy_index, project, lines, resolver, vector_set,
        embedded, images, log_lines, superseded, contents,
    )  # fmt: skip


def _superseded(project: Project, log_lines: LogLines) -> dict[tuple[str, int], int]:
    """Legacy lines a repair replaced with a ledger decision (``curalog repair ... --apply``):
    (source, line) -> decision id, for lines whose text is still what was repaired. Such a
    line is validated as its repaired decision, and counted once."""
    superseded: dict[tuple[str, int], int] = {}
    for source, line, sha, decision_id in repaired_decisions(project.db):
        if log_lines.unchanged(source, line, sha):
            superseded[(source, line)] = decision_id
    return superseded


def prefetch_sizes(crops: LogRead, resolver: PathResolver, images: ImageFacts, since: str | None) -> None:
    """Read the headers of the crop rows' chosen images (what ``crop_rules`` asks first), while
    the vector check works."""
    quick = resolver.quick
    for row in crops.rows:
        if in_range(since, row.timestamp) and row.chosen_size[0] > 0 and row.chosen_size[1] > 0:
            canonical = quick(row.chosen_path, row.directory)
            if canonical is not None:
                images.size(canonical)


def _indexed_contents(root: Path, lines: IndexLines, on_disk: dict[str, int]) -> dict[str, str | None]:
    """--deep: the sha256 of each image an index line names whose vector file is on disk (None
    when it is not a readable file), each read once, for ``embedding.stale``."""
    contents: dict[str, str | None] = {}
    for canonical, ref in zip(lines.paths, lines.refs, strict=True):
        if ref.hash in on_disk and canonical not in contents:
            path = root / canonical
            digest = None
            if path.is_file():
                try:
                    digest = sha256_file(path)
                except ImageError:
                    digest = None
            contents[canonical] = digest
    return contents

"""The project object that the rest of the API hangs off: ``curalog.open_project(root)``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from curalog.audit import AuditLog
from curalog.config import CONFIG_NAME, Config, default_toml, find_root, load_config
from curalog.db.connection import Database
from curalog.db.facts import FactCache
from curalog.db.postgres import PgDatabase
from curalog.embeddings.embedders import Embedder, get_embedder
from curalog.embeddings.runner import EmbedResult, embed_paths
from curalog.embeddings.store import EmbeddingStore, PutResult
from curalog.embeddings.verify import Verdicts, VerifyReport, adopt_orphans, verify_store
from curalog.errors import ConfigError, ImageError, PathError, shown
from curalog.files import write_file
from curalog.ledger import Ledger, Session
from curalog.legacy.index import read_index
from curalog.paths import PathResolver, Resolution, list_images
from curalog.progress import Progress


class Project:
    def __init__(self, config: Config, tool: str = "curalog", database: Path | None = None) -> None:
        """``database`` replaces the ledger file (a scratch copy for dry runs); the audit log of
        a scratch ledger stays beside it."""
        self.config = config
        self.root = config.root
        self.audit = AuditLog(config.path("audit_dir"), script=tool)
        db_audit = self.audit if database is None else AuditLog(database.parent / "audit", script=tool)
        self.db: Database | PgDatabase
        if config.ledger_url and database is None:
            self.db = PgDatabase(config.ledger_url)
        else:
            self.db = Database(database or config.path("database"), db_audit, self.root)
        self.embeddings = EmbeddingStore(
            self.root,
            config.path("embeddings_dir"),
            self.db,
            self.audit,
            legacy_hashes=lambda: {r.hash for r in read_index(config.path("embedding_index"), "").rows},
        )
        self.facts = FactCache(self.root, self.db)
        self._legacy_index_lines: list[int] = []  # line numbers of the legacy index, as last read
        self.paths = PathResolver(self.root, index_lines=self.index_lines, hash_of=self._hash_of)
        self.ledger = Ledger(self.db, self.paths, self.facts, self.embeddings, config.policy)

    def index_lines(self) -> list[tuple[str, str | None]]:
        """Every embedding index line as (image_path, hash): the legacy index's lines, then the
        ledger's index rows (what ``PathResolver`` resolves with; see ``validate``, which reads
        the same two)."""
        legacy = read_index(self.config.path("embedding_index"), self.config.layout.embedding_index)
        self._legacy_index_lines = [r.line for r in legacy.rows]  # the first lines, in order
        return [(r.image_path, r.hash) for r in legacy.rows] + self.embeddings.index_pairs()

    def legacy_index_placements(self) -> dict[int, Resolution | None]:
        """Where each line of the legacy index points (by line number), as ``paths`` placed it
        with the whole index in view (a line that lost its image's contest may name another)."""
        placed = self.paths.index_view().resolved  # (reads the index through index_lines)
        return dict(zip(self._legacy_index_lines, placed, strict=False))

    def _hash_of(self, canonical: str) -> str | None:
        """An image's sha256 through the image-facts cache (asked by the path rule only for
        images that share a file name); None for what is not a readable regular file."""
        try:  # a FIFO or a device named like an image is refused by the readers (files.open_regular)
            return self.facts.get(canonical, defer=True).sha256
        except (OSError, ImageError):
            return None

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def session(self, tool: str = "curalog", session_id: str | None = None) -> Iterator[Session]:
        """A logging session; its id is generated (or given) and recorded with its tool."""
        s = self.ledger.start_session(tool, session_id)
        try:
            yield s
        finally:
            self.ledger.end_session(s.id)

    def embedder(self, name: str | None = None) -> Embedder:
        return get_embedder(name or self.config.embed.embedder, self.config.embed)

    def expand(self, targets: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """Canonical image paths for files or folders a user named, and (target, reason) refusals.

        A relative target is looked up from the current folder first, then from the root; one
        that exists in neither is resolved like a logged path (prefix stripping, file name).
        """
        out: list[str] = []
        refused: list[tuple[str, str]] = []
        images: list[str] | None = None
        for t in targets:
            tried = [Path(t)] if os.path.isabs(t) else [Path.cwd() / t, self.root / t]
            full = next((c for c in tried if c.exists()), None)
            try:
                if full is None:
                    out.append(self.paths.resolve(t).canonical)
                elif full.is_dir():
                    base = self.paths.canonical(full)
                    prefix = "" if base == "." else base + "/"
                    images = images if images is not None else list_images(self.root)
                    out.extend(p for p in images if p.startswith(prefix))
                else:
                    out.append(self.paths.canonical(full))
            except PathError as exc:
                refused.append((t, str(exc)))
        return sorted(set(out)), refused

    def embed(
        self,
        paths: Sequence[str] | None = None,
        *,
        missing_only: bool = False,
        embedder: Embedder | None = None,
        batch_size: int | None = None,
        progress: Progress | None = None,
        session_id: str = "",
    ) -> EmbedResult:
        """Embed canonical ``paths`` (default: every image a decision references)."""
        targets = list(paths) if paths is not None else self.ledger.referenced_images()
        result = embed_paths(
            targets,
            store=self.embeddings,
            facts=self.facts,
            embedder=embedder or self.embedder(),
            batch_size=batch_size or self.config.embed.batch_size,
            missing_only=missing_only,
            session_id=session_id,
            progress=progress,
            decode_workers=self.config.embed.decode_workers,
        )
        self.paths.forget()
        return result

    def verify(self, progress: Progress | None = None, verdicts: Verdicts | None = None) -> VerifyReport:
        """The store checked both ways. ``verdicts``: earlier per-file verdicts to reuse (and to
        hand what is read to); ``curalog.validate.verdicts.verify_project`` passes the
        validator's cache."""
        return verify_store(self.embeddings, progress, verdicts)

    def adopt_orphans(
        self, embedder: Embedder | None = None, progress: Progress | None = None
    ) -> tuple[list[PutResult], list[tuple[str, str]]]:
        """Index sound orphan vectors whose hash matches an image under the root."""
        emb = embedder or self.embedder()

        def paths_by_hash() -> dict[str, list[str]]:
            images = list_images(self.root)

            def hashing(n: int) -> None:
                if progress and (n % 64 == 0 or n == len(images)):
                    progress(n, len(images), "hashing images")

            found, _failed = self.facts.get_many(images, hashing)
            out: dict[str, list[str]] = {}
            for f in found.values():
                out.setdefault(f.sha256, []).append(f.path)
            return out

        return adopt_orphans(self.embeddings, paths_by_hash, emb.fingerprint, emb.dim, progress)


def open_project(root: str | os.PathLike[str] | None = None, tool: str = "curalog") -> Project:
    """Open the project at ``root`` (default: the nearest parent with curalog.toml or data/)."""
    return Project(load_config(root if root is not None else find_root()), tool=tool)


def init_project(root: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``root/curalog.toml`` with the layout defaults; returns its path.

    Refuses to replace an existing file unless ``force``.
    """
    folder = Path(root).expanduser()
    if os.path.lexists(folder) and not folder.is_dir():
        raise ConfigError(f"{shown(str(folder))} is a file, not a folder: curalog init makes a project there")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the folder {shown(str(folder))}: {exc.strerror or exc}") from exc
    target = folder / CONFIG_NAME
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists (use --force to rewrite it)")
    write_file(target, default_toml())
    config = load_config(folder)
    AuditLog(config.path("audit_dir"), script="curalog init").record(
        "create", [CONFIG_NAME], dest_dir="", notes="project settings"
    )
    return target


_OPEN: dict[Path, Project] = {}
_SEED_SESSIONS: dict[Path, dict[str, Session]] = {}


def log_select_crop_entry(
    session_id: str,
    set_id: str,
    directory: str,
    image_paths: Sequence[str],
    image_stages: Sequence[str] | None,
    image_sizes: Sequence[tuple[int, int]] | None,
    chosen_idx: int,
    crop_coords: Sequence[float],
    root: str | os.PathLike[str] | None = None,
) -> int:
    """The seed's logging function, with every check it asked for done before the row exists.

    Logs one crop decision into the ledger of the project at ``root`` (default: found from the
    current folder) under ``session_id``; returns the decision id or raises DecisionRejected.
    """
    config = load_config(root if root is not None else find_root())
    project = _OPEN.get(config.root)
    if project is None:
        project = _OPEN[config.root] = Project(config, tool="log_select_crop_entry")
    known = _SEED_SESSIONS.setdefault(config.root, {})
    session = known.get(session_id)
    if session is None:
        session = known[session_id] = project.ledger.start_session("log_select_crop_entry", session_id)
    return session.log_crop(
        set_id, directory, image_paths, chosen_idx, crop_coords,
        image_stages=image_stages, image_sizes=image_sizes,
    )  # fmt: skip

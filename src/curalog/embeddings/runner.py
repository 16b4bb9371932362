"""The batch runner behind ``curalog embed``: deduplicated by content hash, resumable, and a
failing image is recorded with its reason, never aborting the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from curalog.embeddings.embedders import Embedder
from curalog.embeddings.store import EmbeddingStore, VerifyReport
from curalog.errors import ImageError
from curalog.images import load_image
from curalog.ledger.facts import FactCache

# progress(done, total, description)
Progress = Callable[[int, int, str], None]


@dataclass
class EmbedResult:
    requested: int = 0  # image paths asked for
    distinct: int = 0  # distinct contents among them
    embedded: int = 0  # vectors computed and written (or adopted) this run
    reused: int = 0  # paths indexed this run using a vector already on disk
    up_to_date: int = 0  # paths that already had a sound vector of this model
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    temp_files_removed: list[str] = field(default_factory=list)
    verify: VerifyReport | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and (self.verify is None or self.verify.ok)


def embed_paths(
    paths: Sequence[str],
    *,
    store: EmbeddingStore,
    facts: FactCache,
    embedder: Embedder,
    batch_size: int = 32,
    missing_only: bool = False,
    session_id: str = "",
    progress: Progress | None = None,
    verify: bool = True,
) -> EmbedResult:
    """Embed the images at canonical ``paths`` into ``store``.

    A path is skipped when its index entry already has a sound vector of this embedder (with
    ``missing_only``: of any embedder). Images with the same bytes are embedded once. Vectors
    are committed per batch, so a run killed at any point loses at most one batch of work.
    """
    result = EmbedResult(requested=len(paths))
    result.temp_files_removed = store.clean_temp_files(session_id)
    pending = []
    for path in paths:
        entry = store.lookup(path)
        if (
            entry is not None
            and (missing_only or entry.model == embedder.fingerprint)
            and store.vector_problem(entry.hash) is None
        ):
            result.up_to_date += 1
        else:
            pending.append(path)
    total = len(pending)

    def hashing(n: int) -> None:
        if progress and (n % 64 == 0 or n == total):
            progress(n, total, "hashing")

    found, failed = facts.get_many(pending, hashing)
    result.failed.extend(failed)
    todo: dict[str, list[str]] = {}  # content hash -> paths with those bytes
    for path in pending:
        if path in found:
            todo.setdefault(found[path].sha256, []).append(path)
    result.distinct = len(todo)

    items = list(todo.items())
    done = 0
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        images, ok = [], []
        for digest, group in batch:
            # One already-stored vector of this model serves every path with the same bytes.
            if store.vector_problem(digest) is None and _model_of(store, digest) == embedder.fingerprint:
                store.put_many([(digest, group, store.load(digest))], embedder.fingerprint)
                result.reused += len(group)
                continue
            try:
                images.append(load_image(store.root / group[0]))
                ok.append((digest, group))
            except ImageError as exc:
                result.failed.extend((p, exc.reason) for p in group)
        if images:
            try:
                vectors = embedder.embed(images)
            except Exception as exc:  # an embedder bug must not lose the rest of the run
                result.failed.extend((p, f"embedder failed: {exc}") for _, g in ok for p in g)
            else:
                res = store.put_many(
                    [(d, g, vectors[i]) for i, (d, g) in enumerate(ok)],
                    embedder.fingerprint,
                    session_id,
                )
                for r in res:
                    if r.error:
                        result.failed.extend((p, r.error) for p in r.paths)
                    else:
                        result.embedded += 1
        done += len(batch)
        if progress:
            progress(done, len(items), "embedding")
    if result.failed:
        store.record_failures(result.failed, embedder.fingerprint)
    if verify:
        result.verify = store.verify(progress)
    return result


def _model_of(store: EmbeddingStore, digest: str) -> str | None:
    rows = store.db.query("SELECT model FROM embedding_index WHERE hash = ? LIMIT 1", (digest,))
    return rows[0]["model"] if rows else None

"""The batch runner behind ``curalog embed``: deduplicated by content hash, resumable, and a
failing image is recorded with its reason, never aborting the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from curalog.db.facts import FactCache
from curalog.embeddings.embedders import Embedder, StagedEmbedder
from curalog.embeddings.pipeline import DecodePool
from curalog.embeddings.store import EmbeddingStore
from curalog.embeddings.verify import VerifyReport, verify_store
from curalog.errors import ImageError
from curalog.images import load_image
from curalog.paths import NOT_UTF8, utf8
from curalog.progress import Progress


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
    decode_workers: int | None = 0,
) -> EmbedResult:
    """Embed the images at canonical ``paths`` into ``store``.

    A path is skipped when its index entry already has a sound vector of this embedder (with
    ``missing_only``: of any embedder). Images with the same bytes are embedded once. Vectors
    are committed per batch, so a run killed at any point loses at most one batch of work.
    An embedder with a preprocessing stage (``StagedEmbedder``) gets its images decoded by
    ``decode_workers`` processes (0: one per core; None: in this process).
    """
    result = EmbedResult(requested=len(paths))
    result.temp_files_removed = store.clean_temp_files(session_id)
    pending = []
    for path in paths:
        if not utf8(path):  # a name copied from a Samba share: the index cannot hold it
            result.failed.append((path, NOT_UTF8))
            continue
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

    items = []
    for digest, group in todo.items():
        # One already-stored vector of this model serves every path with the same bytes.
        if store.vector_problem(digest) is None and store.model_of(digest) == embedder.fingerprint:
            store.put_many([(digest, group, store.load(digest))], embedder.fingerprint)
            result.reused += len(group)
        else:
            items.append((digest, group))
    if isinstance(embedder, StagedEmbedder):
        _embed_staged(items, store, embedder, batch_size, session_id, progress, result, decode_workers)
    else:
        _embed_decoded(items, store, embedder, batch_size, session_id, progress, result)
    if result.failed:
        store.record_failures([f for f in result.failed if f[1] != NOT_UTF8], embedder.fingerprint)
    if verify:
        result.verify = verify_store(store, progress)
    return result


def _write(store: EmbeddingStore, embedder: Embedder, ok: list[tuple[str, list[str]]], vectors: np.ndarray,
           session_id: str, result: EmbedResult) -> None:  # fmt: skip
    """Vectors of one batch through the store's crash-safe protocol."""
    res = store.put_many(
        [(d, g, vectors[i]) for i, (d, g) in enumerate(ok)], embedder.fingerprint, session_id
    )
    for r in res:
        if r.error:
            result.failed.extend((p, r.error) for p in r.paths)
        else:
            result.embedded += 1


def _embed_decoded(items: list[tuple[str, list[str]]], store: EmbeddingStore, embedder: Embedder,
                   batch_size: int, session_id: str, progress: Progress | None,
                   result: EmbedResult) -> None:  # fmt: skip
    """Embedders that take decoded images: decode here, one batch at a time."""
    done = 0
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        images, ok = [], []
        for digest, group in batch:
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
                _write(store, embedder, ok, vectors, session_id, result)
        done += len(batch)
        if progress:
            progress(done, len(items), "embedding")


def _embed_staged(items: list[tuple[str, list[str]]], store: EmbeddingStore, embedder: StagedEmbedder,
                  batch_size: int, session_id: str, progress: Progress | None, result: EmbedResult,
                  workers: int | None) -> None:  # fmt: skip
    """Embedders with a preprocessing stage: worker processes decode ahead while the model runs
    on the batch before; a bad or hung image is recorded and skipped."""
    pending: list[np.ndarray] = []
    ok: list[tuple[str, list[str]]] = []
    done = 0

    def flush() -> None:
        nonlocal pending, ok
        if pending:
            try:
                vectors = embedder.embed_pixels(np.stack(pending))
            except Exception as exc:  # an embedder bug must not lose the rest of the run
                result.failed.extend((p, f"embedder failed: {exc}") for _, g in ok for p in g)
            else:
                _write(store, embedder, ok, vectors, session_id, result)
        pending, ok = [], []

    jobs = (((digest, group), str(store.root / group[0])) for digest, group in items)
    with DecodePool(embedder.prep, workers if len(items) > 1 else None, embedder.decode_timeout) as pool:
        for (digest, group), pixels, why in pool.map(jobs):
            if pixels is None:
                result.failed.extend((p, why) for p in group)
            else:
                pending.append(pixels)
                ok.append((digest, group))
                if len(pending) >= batch_size:
                    flush()
            done += 1
            if progress and (done % 8 == 0 or done == len(items)):
                progress(done, len(items), "embedding")
        flush()
    if progress and items:
        progress(len(items), len(items), "embedding")

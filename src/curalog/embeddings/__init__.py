"""Embedding vectors: the crash-safe store, embedder plugins and the batch runner."""

from curalog.embeddings.embedders import (
    Embedder,
    ThumbnailEmbedder,
    get_embedder,
    register_embedder,
)
from curalog.embeddings.store import EmbeddingStore, IndexEntry
from curalog.embeddings.verify import StoreProblem, VerifyReport

__all__ = [
    "Embedder",
    "EmbeddingStore",
    "IndexEntry",
    "StoreProblem",
    "ThumbnailEmbedder",
    "VerifyReport",
    "get_embedder",
    "register_embedder",
]

"""Embedders: anything that turns decoded images into one vector each.

``thumbnail`` is built in and model-free (a small colour thumbnail plus colour histograms):
deterministic, fast, and good enough to find near-duplicates; it is what the demo and the tests
use. Model-backed embedders (CLIP) plug in through the same protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from curalog.config import EmbedSettings
from curalog.embeddings.preprocess import ClipPrep
from curalog.errors import ConfigError


@runtime_checkable
class Embedder(Protocol):
    name: str
    fingerprint: str  # model + revision + preprocessing; stored with every vector
    dim: int

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One float32 row per image, shape ``(len(images), dim)``."""
        ...


@runtime_checkable
class StagedEmbedder(Embedder, Protocol):
    """An embedder whose images are decoded and preprocessed by worker processes
    (``preprocess.clip_pixels`` with ``prep``) into uint8 arrays, then embedded in batches."""

    prep: ClipPrep
    decode_timeout: float

    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (n, h, w, 3) -> float32 (n, dim)."""
        ...


class ThumbnailEmbedder:
    """8x8 RGB thumbnail (192 values) + 16-bin histogram per channel (48 values)."""

    name = "thumbnail"
    side = 8
    bins = 16
    dim = side * side * 3 + bins * 3
    fingerprint = f"thumbnail-v1:rgb{side}x{side}+hist{bins}:dim{dim}"

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for i, im in enumerate(images):
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            small = rgb.resize((64, 64), Image.Resampling.BILINEAR, reducing_gap=2.0)
            thumb = np.asarray(small.resize((self.side, self.side), Image.Resampling.BOX))
            pixels = np.asarray(small).reshape(-1, 3)
            hist = np.concatenate(
                [np.bincount(pixels[:, c] >> 4, minlength=self.bins) for c in range(3)]
            ).astype(np.float32)
            hist /= pixels.shape[0]
            out[i, : self.side * self.side * 3] = thumb.reshape(-1) / 255.0
            out[i, self.side * self.side * 3 :] = hist
        return out


def _clip(settings: EmbedSettings) -> Embedder:
    from curalog.embeddings.clip import ClipEmbedder

    return ClipEmbedder(
        settings.model, device=settings.device, draft_factor=settings.jpeg_draft,
        decode_timeout=settings.decode_timeout, precision=settings.precision,
    )  # fmt: skip


_REGISTRY: dict[str, Callable[[EmbedSettings], Embedder]] = {
    "thumbnail": lambda _settings: ThumbnailEmbedder(),
    "clip": _clip,
}


def register_embedder(name: str, factory: Callable[[EmbedSettings], Embedder]) -> None:
    """Make an embedder available by name (to ``curalog embed --embedder`` and curalog.toml);
    ``factory`` gets the project's ``[embed]`` settings."""
    _REGISTRY[name] = factory


def get_embedder(name: str, settings: EmbedSettings | None = None) -> Embedder:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown embedder {name!r} (known: {known})") from None
    return factory(settings or EmbedSettings())


def choose_embedder(name: str | None, model: str | None) -> str | None:
    """The embedder a run asks for: ``name`` when given; else ``"clip"`` when a ``model`` is named
    (only CLIP takes a model, so naming one implies it); else None, the project's configured one."""
    if name is None and model is not None:
        return "clip"
    return name

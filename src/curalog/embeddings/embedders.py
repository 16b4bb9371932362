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

from curalog.errors import ConfigError


@runtime_checkable
class Embedder(Protocol):
    name: str
    fingerprint: str  # model + revision + preprocessing; stored with every vector
    dim: int

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One float32 row per image, shape ``(len(images), dim)``."""
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


_REGISTRY: dict[str, Callable[[], Embedder]] = {"thumbnail": ThumbnailEmbedder}


def register_embedder(name: str, factory: Callable[[], Embedder]) -> None:
    """Make an embedder available by name (to ``curalog embed --embedder`` and curalog.toml)."""
    _REGISTRY[name] = factory


def get_embedder(name: str) -> Embedder:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown embedder {name!r} (known: {known})") from None
    return factory()

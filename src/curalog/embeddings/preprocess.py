"""CLIP preprocessing without the slow path, run in decode worker processes.

Pillow only (no torch, no transformers: workers start fast): decode (JPEG draft mode where it
applies), EXIF transpose, RGB, resize the shortest side with bicubic, center crop. The result
is uint8 HxWx3 — a quarter of the bytes of float32 to pass between processes; rescaling and
normalizing happen on the model's device (``normalize``). Without draft mode the pixels equal
what transformers' CLIP image processor computes on the same (transposed) image; a test holds
the two within 1e-3 per element after normalization.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from curalog.errors import ImageError
from curalog.images import open_image

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipPrep(NamedTuple):
    """What CLIP preprocessing does, as in a model's preprocessor_config.json."""

    shortest_edge: int = 224
    crop: int = 224
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD
    # JPEG draft mode: let the decoder scale by 1/2, 1/4 or 1/8 while keeping the shortest side
    # at least ``draft_factor`` x the target. 0 turns it off (exact parity with transformers).
    draft_factor: int = 2

    @property
    def tag(self) -> str:
        """The preprocessing part of an embedding's fingerprint."""
        draft = f"-jpegdraft{self.draft_factor}x" if self.draft_factor else ""
        return f"pil-bicubic-short{self.shortest_edge}-crop{self.crop}{draft}"


def _resized_size(width: int, height: int, shortest: int) -> tuple[int, int]:
    """transformers' ``get_resize_output_image_size(default_to_square=False)``, as (w, h)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shortest, int(shortest * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def pixels_of(im: Image.Image, prep: ClipPrep) -> np.ndarray:
    """The crop of an upright image, uint8 (crop, crop, 3)."""
    if "A" in im.getbands() or im.info.get("transparency") is not None:
        # transparency is composited onto white (as transformers does), not dropped
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    elif im.mode != "RGB":
        im = im.convert("RGB")
    w, h = _resized_size(im.width, im.height, prep.shortest_edge)
    resized = np.asarray(im.resize((w, h), Image.Resampling.BICUBIC))
    top, left = (h - prep.crop) // 2, (w - prep.crop) // 2
    if top >= 0 and left >= 0:
        return np.ascontiguousarray(resized[top : top + prep.crop, left : left + prep.crop])
    # smaller than the crop (only with a crop larger than the shortest edge): zero padding, as
    # transformers does
    out = np.zeros((prep.crop, prep.crop, 3), dtype=np.uint8)
    ty, tx = max(0, -top), max(0, -left)
    src = resized[max(0, top) : max(0, top) + prep.crop, max(0, left) : max(0, left) + prep.crop]
    out[ty : ty + src.shape[0], tx : tx + src.shape[1]] = src
    return out


DEFAULT_PREP = ClipPrep()


def clip_pixels(path: str | os.PathLike[str], prep: ClipPrep = DEFAULT_PREP) -> np.ndarray:
    """Decode and preprocess one image file. Raises ImageError (truncated, unreadable, bomb)."""
    with open_image(path) as im:
        try:
            if prep.draft_factor and im.format == "JPEG":
                # keep the shortest side >= draft_factor x target after the orientation swap
                need = prep.shortest_edge * prep.draft_factor
                scale = min(im.width, im.height) / need
                if scale >= 2:
                    im.draft("RGB", (max(1, int(im.width / scale)), max(1, int(im.height / scale))))
            upright = ImageOps.exif_transpose(im)
            upright.load()
            return pixels_of(upright, prep)
        except OSError as exc:
            reason = "truncated file" if "truncated" in str(exc) else f"cannot decode ({exc})"
            raise ImageError(str(path), reason) from exc
        except (SyntaxError, ValueError) as exc:
            raise ImageError(str(path), f"cannot decode ({exc})") from exc


def decode_job(path: str, prep: ClipPrep) -> tuple[np.ndarray | None, str]:
    """For worker processes: (pixels, "") or (None, why). Never raises for a bad image, so
    nothing custom has to cross the process boundary."""
    try:
        return clip_pixels(path, prep), ""
    except ImageError as exc:
        return None, exc.reason
    except Exception as exc:  # any decoder bug: this image fails, the run goes on
        return None, f"cannot decode ({type(exc).__name__}: {exc})"


def normalize(batch: np.ndarray, prep: ClipPrep) -> np.ndarray:
    """uint8 (n, h, w, 3) -> float32 (n, 3, h, w), rescaled and normalized (NumPy reference of
    what the embedder does on its device)."""
    x = batch.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    mean = np.asarray(prep.mean, dtype=np.float32)[None, :, None, None]
    std = np.asarray(prep.std, dtype=np.float32)[None, :, None, None]
    return (x - mean) / std

"""Image facts: size from the header (EXIF orientation applied), content hash, safe decoding.

Reading a size never decodes pixels. Decompression bombs and truncated or unreadable files are
refused with an ``ImageError`` that says which file and why.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from curalog.errors import ImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
ORIENTATION_TAG = 0x0112
# Orientations 5-8 rotate by 90 degrees: the person saw the image with width and height swapped.
_SWAPPING = frozenset({5, 6, 7, 8})


def _orientation(im: Image.Image) -> int:
    raw = im.info.get("exif")
    if isinstance(raw, bytes | bytearray) and raw:
        exif = Image.Exif()
        try:
            exif.load(bytes(raw))
        except Exception:  # a broken EXIF block: orientation unknown, treat as upright
            return 1
        value = exif.get(ORIENTATION_TAG, 1)
    else:
        tags = getattr(im, "tag_v2", None)  # TIFF keeps EXIF tags in its own directory
        value = tags.get(ORIENTATION_TAG, 1) if tags is not None else 1
    return value if isinstance(value, int) else 1


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(str(path), f"refused as a decompression bomb ({exc})") from exc
    except FileNotFoundError as exc:
        raise ImageError(str(path), "file not found") from exc
    except IsADirectoryError as exc:
        raise ImageError(str(path), "is a folder, not an image") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(str(path), "not a readable image (unknown or broken header)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(str(path), f"not a readable image ({exc})") from exc


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) as the person saw it: header only, EXIF orientation applied."""
    p = Path(path)
    with _open(p) as im:
        w, h = im.size
        if _orientation(im) in _SWAPPING:
            w, h = h, w
    if w <= 0 or h <= 0:
        raise ImageError(str(p), f"header says {w}x{h}")
    return w, h


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Fully decoded RGB image, EXIF-transposed. Truncated files are refused, never padded."""
    p = Path(path)
    im = _open(p)
    out = im
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
            if _orientation(im) != 1:
                out = ImageOps.exif_transpose(out)
            if out.mode != "RGB":
                out = out.convert("RGB")
    except OSError as exc:
        reason = "truncated file" if "truncated" in str(exc) else f"cannot decode ({exc})"
        raise ImageError(str(p), reason) from exc
    except (SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise ImageError(str(p), f"cannot decode ({exc})") from exc
    finally:
        if out is not im:  # the decoded copy is returned; release the file now
            im.close()
    return out


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, streamed in 1 MiB chunks."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise ImageError(str(path), f"cannot read ({exc.strerror or exc})") from exc


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What identifies one version of a file without reading it."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)

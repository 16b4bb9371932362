"""Image facts: size from the header (EXIF orientation applied), content hash, safe decoding.

Reading a size never decodes pixels. Decompression bombs and truncated or unreadable files are
refused with an ``ImageError`` that says which file and why.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
import zlib
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from curalog.errors import ImageError
from curalog.files import chunks_of, open_regular, read_regular

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


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """The image at ``path``, opened lazily (header read), with the errors made ``ImageError``."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # Pillow would block forever on a named pipe
            raise ImageError(str(path), "not a regular file (a named pipe, a device or a socket)")
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


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (bit depth, colour type) of the PNGs Pillow opens in a standard mode
_PNG_PLAIN_MODES = frozenset({(1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3), (2, 3),
                              (4, 3), (8, 3), (8, 4), (16, 4), (8, 6), (16, 6)})  # fmt: skip


def _plain_png_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) of a plain PNG read from its first 4 KiB, or None to let Pillow decide.

    Plain: every chunk before the first IDAT is complete with a correct CRC, the IHDR is
    well-formed in a standard mode, there is no eXIf chunk (so no EXIF orientation), and the
    size is within Pillow's decompression-bomb limit. Pillow takes ~10x longer to say the same
    (its plugin machinery), which the validator would pay once per crop row.
    """
    try:
        head = read_regular(path, 4096)
    except OSError:
        return None
    if len(head) < 33 or head[:16] != _PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR":
        return None
    ihdr = head[16:29]
    size = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    if (ihdr[8], ihdr[9]) not in _PNG_PLAIN_MODES or ihdr[10] or ihdr[11] or ihdr[12] > 1:
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if size[0] <= 0 or size[1] <= 0 or (limit is not None and size[0] * size[1] > limit):
        return None
    pos, n = 8, len(head)
    while pos + 12 <= n:
        ctype = head[pos + 4 : pos + 8]
        if ctype == b"IDAT":
            return size
        end = pos + 8 + int.from_bytes(head[pos : pos + 4], "big")
        if ctype == b"eXIf" or end + 4 > n:
            return None
        if zlib.crc32(head[pos + 4 : end]) != int.from_bytes(head[end : end + 4], "big"):
            return None
        pos = end + 4
    return None


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) as the person saw it: header only, EXIF orientation applied."""
    plain = _plain_png_size(path)
    if plain is not None:
        return plain
    p = Path(path)
    with open_image(p) as im:
        w, h = im.size
        if _orientation(im) in _SWAPPING:
            w, h = h, w
    if w <= 0 or h <= 0:
        raise ImageError(str(p), f"header says {w}x{h}")
    return w, h


def load_image(path: str | os.PathLike[str], draft: int | None = None) -> Image.Image:
    """Fully decoded RGB image, EXIF-transposed. Truncated files are refused, never padded.

    ``draft``: a JPEG may be decoded at a reduced scale that keeps both sides >= ``draft``.
    """
    p = Path(path)
    im = open_image(p)
    out = im
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", (draft, draft))
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


def preview_jpeg(path: str | os.PathLike[str], max_side: int, quality: int = 85) -> bytes:
    """A JPEG of the image as the person sees it (EXIF orientation applied), its longer side at
    most ``max_side`` pixels. Normalized coordinates on it are normalized coordinates on the
    image's real (oriented) size."""
    im = load_image(path, draft=max_side)
    im.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, streamed in 1 MiB chunks."""
    try:
        fd = open_regular(path)
        try:
            digest = hashlib.sha256()
            for data in chunks_of(fd):
                digest.update(data)
            return digest.hexdigest()
        finally:
            os.close(fd)
    except OSError as exc:
        raise ImageError(str(path), f"cannot read ({exc.strerror or exc})") from exc

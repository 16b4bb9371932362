"""Finding a saved cropped output inside its original: ``locate_crop``.

OpenCV (optional extra ``curalog[repair]``, imported lazily). Two stages:
  1. scale 1: normalized cross-correlation template matching; an exact crop is found to the
     pixel;
  2. scale-tolerant: the same matching over a range of sizes (the crop resized by 0.4x-2.5x) on a
     reduced copy of the original, the best candidates refined at full resolution.
Every candidate box is then verified: the original's pixels in the box, resized to the crop's
size, must correlate with the crop in intensity *and* in structure (gradients). That correlation
is the confidence; a wrong image does not pass it (0 false accepts on the benchmark's negatives).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import ImageOps

from curalog.images import open_image

WORK_SIDE = 384  # the reduced original's longest side for the scale search
SCALES = 48  # box sizes tried in the scale search
MIN_SIDE = 10  # a template smaller than this (pixels, reduced) says nothing
VERIFY_SIDE = 160  # the common size (longest side) at which a candidate is verified
SCALE1_ACCEPT = 0.95  # verified confidence that ends the search after a scale-1 match (NCC > 0.98)
COLOUR_SCALE = 50.0  # a mean absolute RGB difference of this (0-255) scores a colour agreement of 0


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _rgb(path: str | os.PathLike[str]) -> np.ndarray:
    with open_image(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


def _cv() -> Any:
    try:
        import cv2
    except ImportError:
        from curalog.errors import ConfigError

        raise ConfigError("locating crops needs OpenCV: pip install 'curalog[repair]'") from None
    return cv2


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-6 else 0.0


def verify(orig: np.ndarray, crop: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """How well the original's pixels in ``box`` match the crop (both RGB float arrays): the
    lowest of the intensity correlation, the structure (gradient) correlation and the colour
    agreement (1 − mean absolute difference / COLOUR_SCALE), compared at a common size of at
    most VERIFY_SIDE pixels, lightly blurred, so resampling, JPEG noise and a pixel of
    misalignment do not count while a different picture, or the same shapes in other colours,
    do."""
    cv2 = _cv()
    x1, y1, x2, y2 = box
    if x2 - x1 < 2 or y2 - y1 < 2:
        return 0.0
    h, w = crop.shape[:2]
    k = min(1.0, VERIFY_SIDE / max(h, w))
    size = (max(2, round(w * k)), max(2, round(h * k)))
    a = cv2.GaussianBlur(cv2.resize(orig[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA), (0, 0), 1.5)
    b = cv2.GaussianBlur(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), (0, 0), 1.5)
    colour = 1.0 - float(np.abs(a - b).mean()) / COLOUR_SCALE
    ga, gb = _gray(a), _gray(b)
    grad = [
        np.hypot(cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3))
        for x in (ga, gb)
    ]
    return min(_ncc(ga, gb), _ncc(grad[0], grad[1]), colour)


def difference(original_path: str | os.PathLike[str], cropped_path: str | os.PathLike[str],
               box: tuple[int, int, int, int]) -> float:  # fmt: skip
    """Mean absolute RGB difference (0-255) between the original's pixels in ``box`` and the
    crop, at a common size: what tells apart variants that differ only in brightness, contrast
    or colour, which correlation cannot."""
    cv2 = _cv()
    orig, crop = _rgb(original_path), _rgb(cropped_path)
    h, w = crop.shape[:2]
    k = min(1.0, VERIFY_SIDE / max(h, w))
    size = (max(2, round(w * k)), max(2, round(h * k)))
    x1, y1, x2, y2 = box
    a = cv2.resize(orig[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA)
    b = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return float(np.abs(a - b).mean())


def _best(cv2: Any, image: np.ndarray, template: np.ndarray) -> tuple[float, tuple[int, int]]:
    if template.shape[0] > image.shape[0] or template.shape[1] > image.shape[1] or template.std() < 1e-3:
        return -1.0, (0, 0)
    res = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)
    _lo, hi, _lo_loc, loc = cv2.minMaxLoc(res)
    return (float(hi) if np.isfinite(hi) else -1.0), loc


def locate_crop(original_path: str | os.PathLike[str], cropped_path: str | os.PathLike[str],
                *, min_confidence: float = 0.5) -> tuple[int, int, int, int, float] | None:  # fmt: skip
    """Where ``cropped_path`` was cut from ``original_path``: ``(x1, y1, x2, y2, confidence)`` in
    the original's pixels (EXIF orientation applied), or None when nothing matches with at least
    ``min_confidence``. Raises ImageError when either file cannot be read."""
    cv2 = _cv()
    orig_rgb, crop_rgb = _rgb(original_path), _rgb(cropped_path)
    orig, crop = _gray(orig_rgb), _gray(crop_rgb)
    H, W = orig.shape
    ch, cw = crop.shape
    found: list[tuple[float, tuple[int, int, int, int]]] = []
    # 1. scale 1
    if ch <= H and cw <= W:
        score, (x, y) = _best(cv2, orig, crop)
        if score > 0.98:
            box = (x, y, x + cw, y + ch)
            found.append((verify(orig_rgb, crop_rgb, box), box))
            # a full-resolution correlation this high at scale 1 is the same picture: no need to
            # search other sizes once the verification (colour included) agrees
            if found[-1][0] >= SCALE1_ACCEPT:
                return (*box, round(found[-1][0], 4))
    # 2. scale-tolerant: box widths from 0.4x to 2.5x the crop's, on a reduced original
    f = min(1.0, WORK_SIDE / max(H, W))
    small = cv2.resize(orig, (max(1, round(W * f)), max(1, round(H * f))), interpolation=cv2.INTER_AREA)
    aspect = ch / cw
    w_lo, w_hi = max(MIN_SIDE / f, cw * 0.4), min(W, H / aspect, cw * 2.5)
    coarse: list[tuple[float, float, tuple[int, int]]] = []
    if w_lo <= w_hi:
        for bw in np.geomspace(w_lo, w_hi, SCALES):
            tw, th = round(bw * f), round(bw * aspect * f)
            if tw < MIN_SIDE or th < MIN_SIDE:
                continue
            template = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA)
            score, loc = _best(cv2, small, template)
            coarse.append((score, float(bw), loc))
    coarse.sort(key=lambda c: -c[0])
    for score, bw, (sx, sy) in coarse[:3]:
        if score < 0.3:
            break
        found.append(_refine(cv2, orig, crop, bw, sx / f, sy / f, aspect, orig_rgb, crop_rgb))
    if not found:
        return None
    confidence, box = max(found, key=lambda c: c[0])
    if confidence < min_confidence:
        return None
    return (*box, round(confidence, 4))


def _refine(cv2: Any, orig: np.ndarray, crop: np.ndarray, bw: float, x: float, y: float, aspect: float,
            orig_rgb: np.ndarray, crop_rgb: np.ndarray) -> tuple[float, tuple[int, ...]]:  # fmt: skip
    """Full-resolution search around a coarse match: sizes within +-8%, positions within a few
    pixels; returns (verified confidence, box)."""
    H, W = orig.shape
    best_score, best_box = -1.0, (0, 0, 1, 1)
    margin = max(4, round(bw * 0.1))
    for w in np.linspace(bw * 0.92, bw * 1.08, 9):
        tw, th = round(w), round(w * aspect)
        if tw < 2 or th < 2 or tw > W or th > H:
            continue
        x0, y0 = max(0, round(x) - margin), max(0, round(y) - margin)
        x1, y1 = min(W, round(x) + tw + margin), min(H, round(y) + th + margin)
        region = orig[y0:y1, x0:x1]
        interp = cv2.INTER_AREA if tw < crop.shape[1] else cv2.INTER_CUBIC
        template = cv2.resize(crop, (tw, th), interpolation=interp)
        score, (dx, dy) = _best(cv2, region, template)
        if score > best_score:
            best_score, best_box = score, (x0 + dx, y0 + dy, x0 + dx + tw, y0 + dy + th)
    return verify(orig_rgb, crop_rgb, best_box), best_box

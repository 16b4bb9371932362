"""Reference validator: an independent, plain reading of the validation specification.

This module is the *second opinion* a property test holds the real validator against. It is
written from the written rules alone (the specs, now docs/findings.md and docs/legacy-formats.md,
the project's NOTES.md and the path rule of the validator issue) and must share no code with
``src/curalog/validate`` (nor with ``paths.py``, ``legacy.py``, ``csvlines.py``, ``images.py``):
it imports nothing from ``curalog``. It is deliberately slow: one loop per line, no caches, no
fast paths. Only the default file locations are read (no ``curalog.toml``), no ledger database,
and never ``--deep`` (so ``embedding.stale`` is never reported).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SEL = "data/training/selection_only_log.csv"
CROP = "data/training/select_crop_log.csv"
INDEX = "data/ai_data/cache/processed_images.jsonl"
EMB = "data/ai_data/cache/embeddings"
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
SKIPPED_TOP_FOLDERS = {"data", "node_modules", "__pycache__"}
HEX64 = re.compile(r"[0-9a-f]{64}")
WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]")

Finding = tuple[str, str, str, int | None, str]  # (code, severity, source, line, path)


@dataclass
class RefReport:
    summary: dict
    findings: list[Finding] = field(default_factory=list)


# --- paths ---------------------------------------------------------------------------------------


def split_path(raw: str) -> tuple[bool, list[str]] | None:
    """(absolute, components) of a raw path, `..` applied; None for a relative path leaving the root."""
    text = raw.strip()
    if WINDOWS_ABSOLUTE.match(text):
        absolute, pieces = True, re.split(r"[\\/]", text)
    else:
        if "\\" in text and "/" not in text:
            text = text.replace("\\", "/")
        absolute, pieces = text.startswith("/"), text.split("/")
    parts: list[str] = []
    for piece in pieces:
        if piece in ("", "."):
            continue
        if piece == "..":
            if parts:
                parts.pop()
            elif not absolute:
                return None  # leaves the root
            continue
        parts.append(piece)
    return absolute, parts


def scan_images(root: Path) -> tuple[set[str], set[str]]:
    """(canonical paths of the images on disk, names of the top-level folders)."""
    images: set[str] = set()
    top_folders: set[str] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        rel = Path(folder).relative_to(root).as_posix()
        kept = [d for d in dirnames if not d.startswith(".")]
        if rel == ".":
            kept = [d for d in kept if d not in SKIPPED_TOP_FOLDERS]
            top_folders = set(kept)  # not data/ & co.: no image path starts there
        dirnames[:] = kept
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            images.add(name if rel == "." else f"{rel}/{name}")
    return images, top_folders


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Places:
    """What the root holds: images on disk, top-level folders, and (once read) the index's paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images, self.top_folders = scan_images(root)
        self.root_forms = {root.resolve().parts[1:], root.absolute().parts[1:]}
        self.lent: dict[str, set[str]] = {}  # written text -> images it was landed on by file name
        self.gone: set[str] = set()  # canonical paths of index lines whose image is not on disk

    def images_named(self, name: str) -> list[str]:
        return sorted(p for p in self.images if p.rsplit("/", 1)[-1] == name)

    def under_root(self, parts: list[str]) -> list[str] | None:
        """The components below this machine's root for an absolute path under it, else None."""
        for form in self.root_forms:
            if tuple(parts[: len(form)]) == form:
                return parts[len(form) :]
        return None

    def written_text(self, absolute: bool, parts: list[str]) -> str | None:
        """Rule 5's text: from the first top-level folder on (a relative path: else as it stands)."""
        for i, part in enumerate(parts):
            if part in self.top_folders:
                return "/".join(parts[i:])
        if not absolute and parts:
            return "/".join(parts)
        return None

    def place_index_path(self, raw: str, digest: str) -> tuple[str | None, str | None]:
        """(canonical path or None when it cannot be placed, text it lends or None)."""
        split = split_path(raw)
        if split is None or not split[1]:
            return None, None
        absolute, parts = split
        # 1. exact
        if absolute:
            below = self.under_root(parts)
            if below and "/".join(below) in self.images:
                return "/".join(below), None
        elif "/".join(parts) in self.images:
            return "/".join(parts), None
        # 2. another machine's prefix
        if absolute:
            for k in range(1, len(parts)):
                if "/".join(parts[k:]) in self.images:
                    return "/".join(parts[k:]), None
        written = self.written_text(absolute, parts)
        # 3. the unique file name, unless the written path names a folder below a project folder
        # that is still on disk (the image left it: a same-named one elsewhere must prove it is
        # the same bytes); 4. among several (or that case), the one with the line's hash. Only a
        # line placed by its hash lends its written text, and only a text with a folder in it.
        same_name = self.images_named(parts[-1])
        folder = written.rsplit("/", 1)[0] if written and "/" in written else ""
        left_its_folder = "/" in folder and (self.root / folder).is_dir()
        if len(same_name) == 1 and not left_its_folder:
            return same_name[0], None
        if same_name:
            matching = [p for p in same_name if file_sha256(self.root / p) == digest]
            if len(matching) == 1:
                return matching[0], written if written and "/" in written else None
        # 5. gone
        return written, None

    def directory_parts(self, directory: str) -> list[str] | None:
        split = split_path(directory)
        if split is None or not split[1]:
            return None
        absolute, parts = split
        if not absolute:
            return parts if (self.root / "/".join(parts)).is_dir() else None
        below = self.under_root(parts)
        if below and (self.root / "/".join(below)).is_dir():
            return below
        for k in range(len(parts)):
            if (self.root / "/".join(parts[k:])).is_dir():
                return parts[k:]
        return None

    def resolve_row_path(self, raw: str, directory: str) -> tuple[str, str | None]:
        """("resolved", canonical) | ("ambiguous", None) | ("unresolved", None) for a log row."""
        split = split_path(raw)
        if split is None or not split[1]:
            return "unresolved", None
        absolute, parts = split
        texts: list[str] = []
        if absolute:
            below = self.under_root(parts)
            if below:
                texts.append("/".join(below))
            texts += ["/".join(parts[k:]) for k in range(1, len(parts))]
        else:
            texts.append("/".join(parts))
            folder = self.directory_parts(directory)
            if folder is not None:
                texts.append("/".join(folder + parts))
        for text in texts:  # on disk first
            if text in self.images:
                return "resolved", text
        for text in texts:  # then through the index
            lent_to = self.lent.get(text, set())
            if len(lent_to) == 1:
                return "resolved", next(iter(lent_to))
            if text in self.gone:
                return "resolved", text
        name = parts[-1]
        candidates = set(self.images_named(name)) | {g for g in self.gone if g.rsplit("/", 1)[-1] == name}
        if len(candidates) == 1:
            return "resolved", candidates.pop()
        return ("ambiguous", None) if candidates else ("unresolved", None)


# --- files ---------------------------------------------------------------------------------------


def physical_lines(path: Path) -> list[str]:
    """Lines split on \\n (a \\r before it dropped), decoded as UTF-8 with replacement characters."""
    if not path.is_file():
        return []
    chunks = path.read_bytes().split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()
    return [(c[:-1] if c.endswith(b"\r") else c).decode("utf-8", errors="replace") for c in chunks]


def parse_csv_line(line: str) -> list[str] | None:
    try:
        rows = list(csv.reader([line], strict=True))  # a stray quote spoils its line
    except csv.Error:
        return None
    return [f.strip() for f in rows[0]] if len(rows) == 1 else None


def parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_int(text: str) -> int | None:
    """An integer, also when written as a float ("2.0")."""
    value = parse_float(text)
    return int(value) if value is not None and value.is_integer() else None


def image_size_as_seen(path: Path) -> tuple[int, int] | None:
    """Pillow's size with the EXIF orientation applied (5-8 swap width and height); None if unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                width, height = im.size
                try:
                    orientation = im.getexif().get(0x0112)
                except Exception:
                    orientation = None
    except Exception:
        return None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def judge_vector(path: Path) -> tuple[bool, int | None]:
    """(corrupt by itself, length) of one vector file."""
    try:
        with open(path, "rb") as fh:
            arr = np.load(fh, allow_pickle=False)
    except Exception:
        return True, None
    if not isinstance(arr, np.ndarray) or arr.ndim != 1 or not np.issubdtype(arr.dtype, np.floating):
        return True, None
    bad = not bool(np.all(np.isfinite(arr))) or bool(np.all(arr == 0))
    return bad, int(arr.shape[0])


# --- the validator -------------------------------------------------------------------------------


@dataclass
class Row:
    source: str
    line: int
    findings: list[tuple[str, str]]  # (code, severity)
    path: str
    key: tuple | None = None
    resolved: bool = False
    sound: bool = False
    duplicate: bool = False


def reference_validate(root: Path, policy: str = "crops") -> RefReport:
    policy = {"crop": "crops"}.get(policy, policy)  # curalog.toml spells it "crop"
    if policy not in ("crops", "all", "off"):
        raise ValueError(f"unknown embedding policy {policy!r}")
    root = Path(root)
    places = Places(root)
    findings: list[Finding] = []

    # the index: one entry per non-empty line; the last line for a canonical path counts
    index_entries = 0
    named_hashes: set[str] = set()
    dims_naming: dict[str, list[int]] = {}
    lines_for: dict[str, list[tuple[int, str, int | None]]] = {}  # canonical -> its (line, hash, dim)
    index_lines: list[tuple[int, str, str]] = []  # (line, hash, canonical or raw) of valid lines
    placed: list[list] = []  # [line, raw, hash, dim, canonical, lent text] of valid lines
    for number, text in enumerate(physical_lines(root / INDEX), start=1):
        if not text.strip():
            continue
        index_entries += 1
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj = None
        raw = obj.get("image_path") if isinstance(obj, dict) else None
        digest = obj.get("hash") if isinstance(obj, dict) else None
        dim = obj.get("embedding_dim") if isinstance(obj, dict) else None
        valid = (
            isinstance(obj, dict)
            and isinstance(raw, str)
            and raw != ""
            and isinstance(digest, str)
            and HEX64.fullmatch(digest) is not None
            and (dim is None or (type(dim) is int and dim > 0))  # null counts as absent
        )
        if not valid:
            findings.append(("row.malformed", "error", INDEX, number, ""))
            continue
        named_hashes.add(digest)
        if dim is not None:
            dims_naming.setdefault(digest, []).append(dim)
        canonical, lends = places.place_index_path(raw, digest)
        placed.append([number, raw, digest, dim, canonical, lends])

    # An image on disk whose lines disagree on the hash: a line whose hash is not the image's
    # content names instead the other image with the same file name whose content it is (of
    # identical copies, the first in path order; it then lends its written text, like any line
    # placed by content hash).
    def disagreeing() -> dict[str, str]:
        hashes: dict[str, set[str]] = {}
        for _n, _raw, digest, _dim, canonical, _lends in placed:
            if canonical in places.images:
                hashes.setdefault(canonical, set()).add(digest)
        return {c: file_sha256(root / c) for c, seen in sorted(hashes.items()) if len(seen) > 1}

    contents = disagreeing()
    for entry in placed:
        _n, raw, digest, _dim, canonical, _lends = entry
        if canonical not in contents or contents[canonical] == digest:
            continue
        name = canonical.rsplit("/", 1)[-1]
        others = [p for p in places.images_named(name) if p != canonical and file_sha256(root / p) == digest]
        if others:  # several only when identical copies: the first in path order
            split = split_path(raw)
            written = places.written_text(*split) if split else None
            entry[4], entry[5] = others[0], written if written and "/" in written else None
    for number, raw, digest, dim, canonical, lends in placed:
        if lends is not None:
            places.lent.setdefault(lends, set()).add(canonical)
        if canonical is not None:
            lines_for.setdefault(canonical, []).append((number, digest, dim))
            if canonical not in places.images:
                places.gone.add(canonical)
        index_lines.append((number, digest, canonical if canonical is not None else raw))

    all_lines = [(number, digest, dim) for number, _raw, digest, dim, _c, _l in placed]
    # the vector files
    emb = root / EMB
    names = sorted(os.listdir(emb)) if emb.is_dir() else []
    vectors: dict[str, tuple[bool, int | None]] = {}  # hash -> (corrupt, length)
    for name in names:
        if not (name.endswith(".npy") and HEX64.fullmatch(name[:-4]) and (emb / name).is_file()):
            continue
        digest = name[:-4]
        corrupt, length = judge_vector(emb / name)
        expected = dims_naming.get(digest, [])
        if length is not None and expected and length not in expected:  # no naming line expects it
            corrupt = True
        vectors[digest] = (corrupt, length)
        if corrupt:
            findings.append(("embedding.corrupt", "error", EMB, None, f"{EMB}/{name}"))
        if digest not in named_hashes:
            findings.append(("embedding.orphan_file", "warning", EMB, None, f"{EMB}/{name}"))
    for number, digest, path in index_lines:
        if digest not in vectors:
            findings.append(("embedding.file_missing", "error", INDEX, number, path))

    def line_sound(digest: str, dim: int | None) -> bool:
        if digest not in vectors:
            return False
        corrupt, length = vectors[digest]
        return not corrupt and (dim is None or length == dim)

    # The line that counts for an image: when its lines disagree on the hash and the image is on
    # disk, only the lines whose hash is its content are candidates (if any); among the
    # candidates, the last whose vector is sound, else the last.
    counting: dict[str, tuple[int, str, int | None]] = {}
    for canonical, entries in lines_for.items():
        candidates = entries
        if canonical in places.images and len({d for _, d, _ in entries}) > 1:
            content = file_sha256(root / canonical)
            candidates = [e for e in entries if e[1] == content] or entries
        sound_ones = [e for e in candidates if line_sound(e[1], e[2])]
        counting[canonical] = (sound_ones or candidates)[-1]

    def sound(canonical: str) -> bool:
        if canonical in counting:
            return line_sound(*counting[canonical][1:])
        # No line names the image: the ledger's way, by content. An index line anywhere whose
        # hash is the image's bytes and whose vector is sound gives it its vector.
        if canonical not in places.images:
            return False
        content = file_sha256(root / canonical)
        return any(d == content and line_sound(d, dim) for _n, d, dim in all_lines)

    crop_severity = "warning" if policy == "off" else "error"
    selection_severity = "error" if policy == "all" else "warning"

    def check_path(row: Row, chosen: str, directory: str, severity: str) -> str | None:
        """Path, image.missing and embedding findings; returns the canonical path when resolved."""
        status, canonical = places.resolve_row_path(chosen, directory)
        if status == "unresolved":
            row.findings.append(("path.unresolved", "error"))
            return None
        if status == "ambiguous":
            row.findings.append(("path.ambiguous", "warning"))
            return None
        row.resolved, row.path = True, canonical
        if canonical not in places.images:
            row.findings.append(("image.missing", "warning"))
        row.sound = sound(canonical)
        if not row.sound:
            row.findings.append(("decision.no_embedding", severity))
        return canonical

    def data_lines(source: str):
        lines = physical_lines(root / source)
        if not lines:
            return
        header = parse_csv_line(lines[0]) or []
        for number, text in enumerate(lines[1:], start=2):
            if not text.strip():
                continue
            fields = parse_csv_line(text)
            yield (
                number,
                (dict(zip(header, fields, strict=True)) if fields and len(fields) == len(header) else None),
            )

    # selections
    selection_rows: list[Row] = []
    for number, rec in data_lines(SEL):
        row = Row(SEL, number, [], rec.get("chosen_path", "") if rec else "")
        selection_rows.append(row)
        negatives = None
        if rec is not None:
            try:
                text = rec["negative_paths"]
                negatives = json.loads(text) if text else []  # an empty field: no negatives
            except (ValueError, KeyError, RecursionError):
                negatives = None
        listed = isinstance(negatives, list) and all(isinstance(n, str) for n in negatives)
        if not (listed and rec["chosen_path"]):  # an empty chosen path is malformed too
            row.findings.append(("row.malformed", "error"))
            continue
        check_path(row, rec["chosen_path"], rec["directory"], selection_severity)
        row.key = (rec["session_id"], rec["set_id"], row.path)

    # crops
    crop_rows: list[Row] = []
    for number, rec in data_lines(CROP):
        row = Row(CROP, number, [], rec.get("chosen_path", "") if rec else "")
        crop_rows.append(row)
        parsed = parse_crop(rec) if rec is not None else None
        if parsed is None:
            row.findings.append(("row.malformed", "error"))
            continue
        box, (w, h) = parsed
        canonical = check_path(row, rec["chosen_path"], rec["directory"], crop_severity)
        zero = not (w > 0 and h > 0)  # <= 0, or NaN: no known positive size
        if zero:
            row.findings.append(("crop.zero_dimensions", "error"))
        box_code = box_finding(box, w, h, zero)
        if box_code is not None:
            row.findings.append((box_code, "error"))
        if canonical is not None and canonical in places.images and not zero:
            seen = image_size_as_seen(root / canonical)
            if seen is not None and (w, h) != (float(seen[0]), float(seen[1])):
                row.findings.append(("crop.dimension_mismatch", "warning"))
        row.key = (rec["session_id"], rec["set_id"], row.path, box)

    # repeats, among the rows of one log without an error, in line order
    for rows in (selection_rows, crop_rows):
        seen_keys: set[tuple] = set()
        for row in rows:
            if row.key is None or any(sev == "error" for _, sev in row.findings):
                continue
            if row.key in seen_keys:
                row.duplicate = True
                row.findings.append(("row.duplicate", "warning"))
            seen_keys.add(row.key)

    def usable(row: Row) -> bool:
        no_error = all(sev != "error" for _, sev in row.findings)
        return no_error and not row.duplicate and row.resolved and row.sound

    for row in selection_rows + crop_rows:
        for code, severity in row.findings:
            findings.append((code, severity, row.source, row.line, row.path))

    severities = Counter(f[1] for f in findings)
    summary = {
        "selections": len(selection_rows),
        "crops": len(crop_rows),
        "index_entries": index_entries,
        "embedding_files": len(vectors),
        "usable_selections": sum(usable(r) for r in selection_rows),
        "usable_crops": sum(usable(r) for r in crop_rows),
        "errors": severities["error"],
        "warnings": severities["warning"],
        "by_code": dict(Counter(f[0] for f in findings)),
    }
    return RefReport(summary=summary, findings=findings)


def parse_crop(rec: dict[str, str]) -> tuple[tuple[float, float, float, float], tuple[float, float]] | None:
    """(box, logged size of the chosen image), or None when the row is malformed."""
    count = parse_int(rec["image_count"])
    chosen = parse_int(rec["chosen_index"])
    if not rec["chosen_path"] or count is None or chosen is None or not 0 <= chosen < count <= 4:
        return None
    x1, y1, x2, y2 = (parse_float(rec[c]) for c in ("crop_x1", "crop_y1", "crop_x2", "crop_y2"))
    sizes = [(parse_float(rec[f"width_{i}"]), parse_float(rec[f"height_{i}"])) for i in range(count)]
    if x1 is None or y1 is None or x2 is None or y2 is None:
        return None
    if any(v is None for size in sizes for v in size):
        return None
    return (x1, y1, x2, y2), sizes[chosen]  # type: ignore[return-value]


def box_finding(box: tuple[float, float, float, float], w: float, h: float, zero: bool) -> str | None:
    """The one box finding of a crop row (placeholder, invalid_box, out_of_bounds), or None."""
    x1, y1, x2, y2 = box
    if box == (0.0, 0.0, 1.0, 1.0) or (not zero and box == (0.0, 0.0, w, h)):
        return "crop.placeholder"
    if not all(math.isfinite(v) for v in box) or min(box) < 0 or x2 <= x1 or y2 <= y1:
        return "crop.invalid_box"
    normalised = all(0 <= v <= 1 for v in box) and (w > 1 or h > 1)  # larger than 1x1
    if normalised:
        return "crop.out_of_bounds" if any(v > 1 for v in box) else None
    if not zero and (x2 / w <= x1 / w or y2 / h <= y1 / h):
        return "crop.invalid_box"  # nothing left once divided by the size (a box of 1e-320 pixels)
    if not zero and (x2 > w or y2 > h):
        return "crop.out_of_bounds"
    return None

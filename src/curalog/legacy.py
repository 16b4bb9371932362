"""Reading the legacy logs (legacy-formats.md), read-only and line-exact.

Every data line of a log becomes either a parsed row or a ``Malformed`` record naming its line
(1-based; the CSV header is line 1) and what is wrong. Nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from curalog.csvlines import CsvColumns, read_columns

MAX_IMAGES = 4
_HASH = re.compile(r"^[0-9a-f]{64}$")
# The shape the legacy tools wrote, with plain strings only: a line that matches is valid JSON
# with exactly these values, so it is read without the JSON parser (any other line is parsed).
_INDEX_LINE = re.compile(
    r'^\{"image_path": "([^"\\\x00-\x1f]+)", "hash": "([0-9a-f]{64})", "embedding_dim": ([1-9][0-9]*)'
    r'(?:, "model": "([^"\\\x00-\x1f]*)")?(?:, "timestamp": "[^"\\\x00-\x1f]*")?\}\s*$'
)
CROP_COORDS = ("crop_x1", "crop_y1", "crop_x2", "crop_y2")
SELECTION_REQUIRED = ("set_id", "chosen_path")
CROP_REQUIRED = ("set_id", "chosen_path", "image_count", "chosen_index", *CROP_COORDS)


class Malformed(NamedTuple):
    source: str
    line: int
    message: str
    raw_path: str = ""  # a chosen path, when one could still be read from the line


class SelectionRow(NamedTuple):
    source: str
    line: int
    timestamp: str
    session_id: str
    set_id: str
    directory: str
    chosen_path: str
    negative_paths: tuple[str, ...]


class CropRow(NamedTuple):
    source: str
    line: int
    timestamp: str
    session_id: str
    set_id: str
    directory: str
    chosen_index: int
    chosen_path: str
    box: tuple[float, float, float, float]
    image_paths: tuple[str, ...]
    image_stages: tuple[str, ...]
    sizes: tuple[tuple[float, float], ...]  # logged (width, height) per image

    @property
    def chosen_size(self) -> tuple[float, float]:
        return self.sizes[self.chosen_index]


class IndexLine(NamedTuple):
    source: str
    line: int
    image_path: str
    hash: str
    dim: int | None
    model: str


@dataclass
class LogRead:
    """What one log file held: parsed rows, malformed lines, and the number of data lines."""

    source: str
    exists: bool = False
    data_lines: int = 0
    rows: list = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)


def line_sha(text: str) -> str:
    """A legacy line's identity (sha256 of its text): import-legacy and the repairs record it, so
    an edited line is a new line."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _malformed(read: LogRead, found: CsvColumns) -> None:
    read.malformed.extend(Malformed(read.source, line, why) for line, why in found.malformed)
    read.data_lines += found.data_lines


def _sorted_malformed(read: LogRead) -> LogRead:
    read.malformed.sort(key=lambda m: m.line)
    return read


_scan_json = json.JSONDecoder().scan_once  # the C scanner json.loads runs, without its wrapper


def _path_list(text: str) -> tuple[str, ...] | str:
    """negative_paths as a tuple of paths, or why it is not a JSON list of paths. The text is
    stripped, so when the scanner reads all of it the value is what json.loads returns; in any
    other case json.loads runs, for its verdict and its message."""
    if not text:
        return ()
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, json.JSONDecodeError):
        end = -1
    if end != len(text):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"negative_paths is not valid JSON ({exc.msg})"
    if type(value) is not list or not all(type(p) is str for p in value):
        return "negative_paths is not a JSON list of paths"
    return tuple(value)


def read_selection_log(path: Path, source: str) -> LogRead:
    read = LogRead(source, exists=path.is_file())
    if not read.exists:
        return read
    t = read_columns(path, SELECTION_REQUIRED)
    _malformed(read, t)
    common = zip(
        t.pylist("timestamp"), t.pylist("session_id"), t.pylist("set_id"), t.pylist("directory"), strict=True
    )
    rows, malformed = read.rows, read.malformed
    for line, (ts, session, set_id, directory), chosen, negatives in zip(
        t.lines.tolist(),
        common,
        t.pylist("chosen_path"),
        map(_path_list, t.pylist("negative_paths")),
        strict=True,
    ):
        if not chosen:
            malformed.append(Malformed(source, line, "chosen_path is empty"))
        elif isinstance(negatives, str):
            malformed.append(Malformed(source, line, negatives, chosen))
        else:
            rows.append(SelectionRow(source, line, ts, session, set_id, directory, chosen, negatives))
    return _sorted_malformed(read)


def _numbers(values: list[str]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            out.append(None)
    return out


def read_crop_log(path: Path, source: str) -> LogRead:
    read = LogRead(source, exists=path.is_file())
    if not read.exists:
        return read
    t = read_columns(path, CROP_REQUIRED)
    _malformed(read, t)
    col, n_rows, lines = t.pylist, len(t), t.lines.tolist()
    common = list(zip(col("timestamp"), col("session_id"), col("set_id"), col("directory"), strict=True))
    counts_text, index_text = col("image_count"), col("chosen_index")
    counts, indexes = _numbers(counts_text), _numbers(index_text)
    box_text = [col(c) for c in CROP_COORDS]
    boxes = list(zip(*map(_numbers, box_text), strict=True)) if n_rows else []
    images = [
        (col(f"image_{i}_path"), col(f"image_{i}_stage"), col(f"width_{i}"), col(f"height_{i}"))
        for i in range(MAX_IMAGES)
    ]
    widths = [_numbers(im[2]) for im in images]
    heights = [_numbers(im[3]) for im in images]
    chosen_col = col("chosen_path")
    for r in range(n_rows):
        chosen = chosen_col[r]
        problems: list[str] = []
        if not chosen:
            problems.append("chosen_path is empty")
        count = counts[r]
        if count is None or count != int(count) or not 1 <= count <= MAX_IMAGES:
            problems.append(f"image_count {counts_text[r]!r} is not a whole number 1..{MAX_IMAGES}")
            count = 0
        count = int(count)
        index = indexes[r]
        if index is None or index != int(index):
            problems.append(f"chosen_index {index_text[r]!r} is not a whole number")
        elif count and not 0 <= index < count:
            problems.append(f"chosen_index {int(index)} is out of range for {count} image(s)")
        box = boxes[r]
        for name, value, text in zip(CROP_COORDS, box, box_text, strict=True):
            if value is None:
                problems.append(f"{name} {text[r]!r} is not a number")
        sizes: list[tuple[float, float]] = []
        for i in range(count):
            w, h = widths[i][r], heights[i][r]
            if w is None or h is None:
                problems.append(
                    f"width_{i}/height_{i} {images[i][2][r]!r}/{images[i][3][r]!r} are not numbers"
                )
            else:
                sizes.append((w, h))
        if problems:
            read.malformed.append(Malformed(source, lines[r], "; ".join(problems), chosen))
            continue
        read.rows.append(
            CropRow(
                source, lines[r], *common[r], int(index or 0), chosen, box,  # type: ignore[arg-type]
                tuple(images[i][0][r] for i in range(count)),
                tuple(images[i][1][r] for i in range(count)),
                tuple(sizes),
            )
        )  # fmt: skip
    return _sorted_malformed(read)


def read_index(path: Path, source: str) -> LogRead:
    """The legacy embedding index (processed_images.jsonl), one ``IndexLine`` per good line."""
    read = LogRead(source, exists=path.is_file())
    if not read.exists:
        return read
    with open(path, encoding="utf-8", errors="replace") as fh:  # lines as iterating the file gives
        lines = fh.read().split("\n")
    if lines[-1] == "":
        lines.pop()
    rows = read.rows
    for n, (text, fast) in enumerate(zip(lines, map(_INDEX_LINE.match, lines), strict=True), start=1):
        if fast is not None:
            image_path, digest, dim, model = fast.groups()
            image_path = image_path.strip()
            if image_path:
                read.data_lines += 1
                rows.append(IndexLine(source, n, image_path, digest, int(dim), model or ""))
                continue
        if not text.strip():
            continue
        read.data_lines += 1
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            read.malformed.append(Malformed(source, n, f"invalid JSON ({exc.msg})"))
            continue
        if not isinstance(obj, dict):
            read.malformed.append(Malformed(source, n, "not a JSON object"))
            continue
        image_path, digest, dim = obj.get("image_path"), obj.get("hash"), obj.get("embedding_dim")
        problems = []
        if not isinstance(image_path, str) or not image_path.strip():
            problems.append("image_path missing")
        if not isinstance(digest, str) or not _HASH.match(digest):
            problems.append("hash is not 64 lowercase hex digits")
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0):
            problems.append(f"embedding_dim {dim!r} is not a positive whole number")
        if problems:
            read.malformed.append(Malformed(source, n, "; ".join(problems)))
            continue
        read.rows.append(
            IndexLine(source, n, str(image_path).strip(), str(digest), dim, str(obj.get("model", "")))
        )
    return read

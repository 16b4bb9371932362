"""Reading the legacy logs (legacy-formats.md), read-only and line-exact.

Every data line of a log becomes either a parsed row or a ``Malformed`` record naming its line
(1-based; the CSV header is line 1) and what is wrong. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

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


def _physical_lines(path: Path) -> list[str]:
    """The file's lines, split on "\n" only (as editors and ``wc -l`` count them)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _parse_line(line: str) -> list[str]:
    """One CSV record from one physical line. Raises csv.Error for unbalanced quotes or NUL."""
    return next(csv.reader([line], strict=True))


def _parse_lines(lines: list[str]) -> list[list[str] | csv.Error]:
    """Each physical line parsed on its own, fast: one reader over all lines, and only if some
    record would span lines (a stray quote) or fail, the lines are parsed one by one."""
    reader = csv.reader(lines, strict=True)
    out: list[list[str] | csv.Error] = []
    try:
        for n, fields in enumerate(reader, start=1):
            if reader.line_num != n:
                break
            out.append(fields)
        else:
            if len(out) == len(lines):
                return out
    except csv.Error:
        pass
    out = []
    for line in lines:
        try:
            out.append(_parse_line(line))
        except csv.Error as exc:
            out.append(exc)
        except StopIteration:
            out.append([])
    return out


class _Table(NamedTuple):
    """The well-formed data lines of a legacy CSV log, by column: ``lines[i]`` is the line number
    of the i-th record, ``column(name)[i]`` its value (stripped; "" where the header lacks it)."""

    lines: list[int]
    columns: dict[str, list[str]]

    def column(self, name: str) -> list[str]:
        found = self.columns.get(name)
        return found if found is not None else [""] * len(self.lines)


def _csv_table(path: Path, read: LogRead, required: tuple[str, ...]) -> _Table:
    """The data lines of a legacy CSV log, parsed and transposed into columns.

    Legacy logs hold one decision per line, so each physical line is parsed on its own: a stray
    quote spoils its own line (reported as malformed), never the lines after it. A line whose
    number of fields differs from the header's is malformed. A header that lacks a required
    column is reported on line 1 and the file is not read further.
    """
    empty = _Table([], {})
    lines = _physical_lines(path)
    if not lines:
        return empty
    try:
        header = [h.strip() for h in _parse_line(lines[0])]
    except csv.Error as exc:
        read.malformed.append(Malformed(read.source, 1, f"header is not a CSV record ({exc}): file not read"))
        return empty
    missing = [c for c in required if c not in header]
    if missing:
        read.malformed.append(
            Malformed(read.source, 1, f"header lacks column(s) {', '.join(missing)}: file not read")
        )
        return empty
    width = len(header)
    numbers: list[int] = []
    records: list[list[str]] = []
    bad = 0
    for n, (line, fields) in enumerate(zip(lines[1:], _parse_lines(lines[1:]), strict=True), start=2):
        if isinstance(fields, list) and len(fields) == width and (width > 1 or line.strip()):
            numbers.append(n)
            records.append(fields)
            continue
        if not line.strip():
            continue
        bad += 1
        if isinstance(fields, csv.Error):
            read.malformed.append(Malformed(read.source, n, f"not a CSV record ({fields})"))
        else:
            read.malformed.append(
                Malformed(read.source, n, f"{len(fields)} fields where the header has {width}")
            )
    read.data_lines += len(records) + bad
    by_name = {name: i for i, name in enumerate(header)}  # a repeated name: the last one counts
    transposed = list(zip(*records, strict=True)) if records else [() for _ in header]
    return _Table(numbers, {name: [v.strip() for v in transposed[i]] for name, i in by_name.items()})


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
    t = _csv_table(path, read, SELECTION_REQUIRED)
    common = zip(
        t.column("timestamp"), t.column("session_id"), t.column("set_id"), t.column("directory"), strict=True
    )
    rows, malformed = read.rows, read.malformed
    for line, (ts, session, set_id, directory), chosen, negatives in zip(
        t.lines, common, t.column("chosen_path"), map(_path_list, t.column("negative_paths")), strict=True
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
    t = _csv_table(path, read, CROP_REQUIRED)
    col, n_rows = t.column, len(t.lines)
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
            read.malformed.append(Malformed(source, t.lines[r], "; ".join(problems), chosen))
            continue
        read.rows.append(
            CropRow(
                source, t.lines[r], *common[r], int(index or 0), chosen, box,  # type: ignore[arg-type]
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

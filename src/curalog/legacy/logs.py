"""Reading the legacy logs (docs/legacy-formats.md), read-only and line-exact.

Every data line of a log becomes either a parsed row or a ``Malformed`` record naming its line
(1-based; the CSV header is line 1) and what is wrong. Nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from curalog.arrays import flags, indices, mask, numbers, scalar, strings
from curalog.errors import ConfigError, shown
from curalog.files import read_regular
from curalog.legacy.csvlines import CsvColumns, Tail, read_columns
from curalog.paths import utf8

MAX_IMAGES = 4
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


@dataclass
class LogRead:
    """What one log file held: parsed rows, malformed lines, and the number of data lines."""

    source: str
    exists: bool = False
    data_lines: int = 0
    rows: list = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    #: why a log that exists as a name cannot be read as a file (a dangling symlink, a folder ...)
    problem: str | None = None


def log_problem(path: Path) -> str | None:
    """Why the log at ``path`` cannot be read, or None when it is a readable file or absent.

    A name that exists but is not a readable regular file (a symlink to a share that is not
    mounted, a symlink loop, a folder, a named pipe, no permission) is a problem: the log must
    never vanish from validation as if it were empty."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return None  # no log at all: a project without crops, say
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if path.is_symlink():
        try:
            os.stat(path)
        except FileNotFoundError:
            to = shown(os.readlink(path))
            return f"is a symlink to {to}, which does not exist (a share that is not mounted?)"
        except OSError as exc:
            return f"is a symlink that cannot be followed ({exc.strerror or exc})"
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a log file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file (a named pipe or a device)"
    try:
        head = read_regular(path, 4096)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    # UTF-16 text (half its bytes NUL), with or without its byte-order mark; a stray NUL on one
    # line is that line's problem, not the file's
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_like(head):
        return "is UTF-16 or binary, not UTF-8 text: save it as UTF-8 (CSV UTF-8 in Excel)"
    return None


def _utf16_like(head: bytes) -> bool:
    """UTF-16 text without a byte-order mark: NUL in (nearly) every other byte, text in the rest.
    A run of NULs (a crash-zeroed tail, a stray NUL) is not UTF-16: those lines are malformed."""
    even, odd = head[0::2], head[1::2]
    if len(odd) < 8:
        return False
    for zeros, text in ((odd, even), (even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and text.count(0) <= 0.1 * len(text):
            return True
    return False


def log_read(path: Path, source: str) -> LogRead:
    """A LogRead that says whether the log is there to read (``exists``) or why it cannot be."""
    problem = log_problem(path)
    return LogRead(source, exists=problem is None and path.is_file(), problem=problem)


def require_logs(logs: list[tuple[str, Path]], doing: str) -> None:
    """Raise ``ConfigError`` naming every log of ``(source, path)`` that exists but cannot be read:
    a command that writes must not go on as if such a log were empty."""
    problems = [f"{source} {why}" for source, path in logs if (why := log_problem(path)) is not None]
    if problems:
        raise ConfigError(f"cannot {doing}: " + "; ".join(problems) + "; nothing was changed")


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
    except (StopIteration, json.JSONDecodeError, RecursionError):
        end = -1
    if end != len(text):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"negative_paths is not valid JSON ({exc.msg})"
        except RecursionError:
            return "negative_paths is nested too deeply to be a list of paths"
    if type(value) is not list or not all(type(p) is str for p in value):
        return "negative_paths is not a JSON list of paths"
    if not all(map(utf8, value)):
        return "negative_paths holds an unpaired surrogate escape (\\ud800...): not a file name"
    return tuple(value)


# negative_paths that is a JSON list of plain strings (no escapes, ", " or "," between items), or
# empty: valid, and its items are the text between the quotes. RE2 syntax.
_PLAIN_PATH_LIST = r'^(?:|\[\]|\["[^"\\\x00-\x1f]*"(?:, ?"[^"\\\x00-\x1f]*")*\])$'


@dataclass
class SelectionColumns:
    """The selection log's parsed rows by column (pyarrow string arrays, in line order)."""

    source: str
    lines: np.ndarray  # int64
    timestamp: Any
    session_id: Any
    set_id: Any
    directory: Any
    chosen_path: Any
    negative_paths: Any  # the JSON text
    plain_negatives: np.ndarray  # bool: the text is a plain list (see _PLAIN_PATH_LIST)

    def __len__(self) -> int:
        return len(self.lines)

    def rows(self, at: np.ndarray | None = None) -> list[SelectionRow]:
        """Every row, or those at positions ``at`` (malformed rows are not in the columns: each
        one's negative paths are a list)."""
        columns = [self.timestamp, self.session_id, self.set_id, self.directory, self.chosen_path,
                   self.negative_paths]  # fmt: skip
        lines = self.lines
        if at is not None:
            take = indices(at)
            columns, lines = [c.take(take) for c in columns], lines[at]
        *values, negative_texts = (c.to_pylist() for c in columns)
        negatives = map(_path_list, negative_texts)
        return [
            SelectionRow(self.source, line, *row, negs)  # type: ignore[arg-type]
            for line, *row, negs in zip(lines.tolist(), *values, negatives, strict=True)
        ]

    def negatives(self, at: np.ndarray) -> tuple[np.ndarray, Any]:
        """The non-empty negative paths of the rows at positions ``at``, flattened: (for each
        path, its index into ``at``; the paths as a pyarrow string array)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        text = self.negative_paths.take(indices(at))
        plain = self.plain_negatives[at]
        inner = pc.utf8_slice_codeunits(text, 2, -2)
        listed = pc.if_else(
            mask(plain & ~flags(pc.is_in(text, value_set=strings(["", "[]"])))), inner, scalar(None)
        )
        split = pc.split_pattern_regex(listed, '", ?"')
        parents = numbers(pc.list_parent_indices(split))
        paths = pc.list_flatten(split)
        odd = np.flatnonzero(~plain)
        if len(odd):  # lists with escapes or other spacing: through the JSON parser
            extra = [(k, p) for k in odd.tolist() for p in _path_list(text[k].as_py())]  # type: ignore[union-attr]
            parents = np.concatenate([parents, np.array([k for k, _p in extra], dtype=np.int64)])
            paths = pa.concat_arrays([paths, strings([p for _k, p in extra])])
        keep = flags(pc.not_equal(paths, scalar("")))
        return parents[keep], paths.filter(mask(keep))


def read_selection_columns(
    path: Path, source: str, tail: Tail | None = None
) -> tuple[LogRead, SelectionColumns | None]:
    """The selection log as columns (rows with a problem become ``Malformed`` in the LogRead);
    with ``tail``, only those lines."""
    import pyarrow.compute as pc

    read = log_read(path, source)
    if not read.exists:
        return read, None
    t = read_columns(path, SELECTION_REQUIRED, tail)
    _malformed(read, t)
    chosen, negatives = t.column("chosen_path"), t.column("negative_paths")
    plain = flags(pc.match_substring_regex(negatives, _PLAIN_PATH_LIST))
    empty = flags(pc.equal(chosen, scalar("")))
    good = ~empty
    lines = t.lines
    for i in np.flatnonzero(empty).tolist():
        read.malformed.append(Malformed(source, int(lines[i]), "chosen_path is empty"))
    for i in np.flatnonzero(~plain & ~empty).tolist():
        why = _path_list(negatives[i].as_py())
        if isinstance(why, str):
            read.malformed.append(Malformed(source, int(lines[i]), why, chosen[i].as_py()))
            good[i] = False
    keep = mask(good)
    columns = SelectionColumns(
        source, lines[good],
        *(t.column(name).filter(keep) for name in ("timestamp", "session_id", "set_id", "directory")),
        chosen.filter(keep), negatives.filter(keep), plain[good],
    )  # fmt: skip
    return _sorted_malformed(read), columns


def read_selection_log(path: Path, source: str) -> LogRead:
    read, columns = read_selection_columns(path, source)
    if columns is not None:
        read.rows = columns.rows()
    return read


def _numbers(values: list[str]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            out.append(None)
    return out


def read_crop_log(path: Path, source: str, tail: Tail | None = None) -> LogRead:
    """The crop log's rows (rows with a problem become ``Malformed``); with ``tail``, only those
    lines."""
    read = log_read(path, source)
    if not read.exists:
        return read
    t = read_columns(path, CROP_REQUIRED, tail)
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
        if count is None or not math.isfinite(count) or count != int(count) or not 1 <= count <= MAX_IMAGES:
            problems.append(f"image_count {counts_text[r]!r} is not a whole number 1..{MAX_IMAGES}")
            count = 0
        count = int(count)
        index = indexes[r]
        if index is None or not math.isfinite(index) or index != int(index):
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

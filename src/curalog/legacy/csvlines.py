"""Line-exact CSV: one record per physical line, read in bulk by Arrow, checked by Python's rules.

Legacy logs hold one decision per line, and a stray quote must spoil its own line only. Python's
``csv`` module applied to each line on its own is the reference. Lines that are *plain* CSV (each
field either unquoted without quotes, or quoted with doubled inner quotes, and no character on
which the two could disagree) are parsed by Arrow's CSV reader in bulk, which gives the same
fields (a property test checks it); every other line goes through the reference, and the result
is merged back in line order. A file that Arrow cannot split into the same physical lines (a lone
carriage return, a NUL, the unit separator, invalid UTF-8) is read by the reference alone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curalog.arrays import flags, indices, scalar, strings
from curalog.arrays import mask as arrow_mask

# Characters on which Python's csv + str.strip and Arrow's CSV reader + ASCII trim could disagree
# (controls, non-ASCII white space, a byte-order mark). RE2 syntax.
_UNSAFE = (
    r"\x00-\x08\x0a-\x1f\x7f-\x9f\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
    r"\x{feff}"
)
_PLAIN_FIELD = rf'(?:"(?:[^"{_UNSAFE}]|"")*"|[^",{_UNSAFE}]*)'


@dataclass
class CsvColumns:
    """A CSV log's well-formed records by column (values stripped), with their line numbers
    (1-based; the header is line 1) and the lines that are not records."""

    header: list[str] = field(default_factory=list)
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    columns: dict[str, Any] = field(default_factory=dict)  # name -> pyarrow string array
    data_lines: int = 0  # non-blank lines after the header
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line, why)

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> Any:
        """The column as a pyarrow string array ("" where the header lacks it)."""

        found = self.columns.get(name)
        return found if found is not None else strings([""] * len(self.lines))

    def pylist(self, name: str) -> list[str]:
        found = self.columns.get(name)
        return found.to_pylist() if found is not None else [""] * len(self.lines)


def physical_lines(path: Path) -> list[str]:
    """The file's lines, split on "\\n" only (as editors and ``wc -l`` count them)."""
    return _split_lines(path.read_bytes())


def _split_lines(data: bytes) -> list[str]:
    """``physical_lines`` of bytes already read."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" not in text:
        return lines
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_line(line: str) -> list[str]:
    """One CSV record from one physical line. Raises csv.Error for unbalanced quotes or NUL."""
    return next(csv.reader([line], strict=True))


def parse_lines(lines: list[str]) -> list[list[str] | csv.Error]:
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
            out.append(parse_line(line))
        except csv.Error as exc:
            out.append(exc)
        except StopIteration:
            out.append([])
    return out


def _arrow_options(names: list[str]) -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return (
        pacsv.ReadOptions(column_names=names),
        pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )  # fmt: skip


def _arrow_lines(data: bytes) -> Any:
    """The file's physical lines as one Arrow string array, or None when Arrow's line splitting
    could differ from splitting on "\\n" (or the bytes are not UTF-8)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if b"\x00" in data or b"\x1f" in data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=["line"]),
            parse_options=pacsv.ParseOptions(
                delimiter="\x1f", quote_char=False, double_quote=False, escape_char=False,
                newlines_in_values=False, ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={"line": pa.string()}, strings_can_be_null=False
            ),
        )  # fmt: skip
    except pa.ArrowException:
        return None
    expected = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return table.column(0).combine_chunks() if table.num_rows == expected else None


def _joined(lines: Any) -> Any:
    """The Arrow buffer holding ``lines`` (a string array) each followed by "\\n"."""
    import pyarrow.compute as pc

    ended = pc.binary_join_element_wise(lines, scalar(""), scalar("\n"))
    offsets = np.frombuffer(ended.buffers()[1], dtype=np.int32)[ended.offset : ended.offset + len(ended) + 1]
    return ended.buffers()[2][int(offsets[0]) : int(offsets[-1])]


@dataclass(frozen=True)
class Tail:
    """The lines of a log after its first ``skipped`` (which hold its header when ``skipped`` is
    not 0): ``data`` is the header line followed by those lines, as bytes (the whole file when
    nothing was skipped). Lines are read one by one, so they read the same as in the whole file."""

    data: bytes
    skipped: int


def tail_of(data: bytes, skipped: int, at: int | None = None) -> Tail:
    """The ``Tail`` of a log's bytes after its first ``skipped`` lines ("\n"-ended), which end
    at byte ``at`` (found when not given)."""
    if skipped == 0:
        return Tail(data, 0)
    header_end = data.index(b"\n") + 1
    if at is None:
        at = header_end
        for _ in range(skipped - 1):
            at = data.index(b"\n", at) + 1
    return Tail(data[:header_end] + data[at:], skipped)


def read_columns(path: Path, required: tuple[str, ...], tail: Tail | None = None) -> CsvColumns:
    """The records of a CSV log, line-exact (see the module's docstring). A header that is not
    a record, or lacks a required column, is reported on line 1 and the file is not read on.
    With ``tail``, only its lines are read (numbered as in the file)."""
    out = _read_columns(path.read_bytes() if tail is None else tail.data, required)
    shift = tail.skipped - 1 if tail is not None and tail.skipped else 0
    if shift:
        out.lines = out.lines + shift
        out.malformed = [(line + shift, why) for line, why in out.malformed]
    return out


def _read_columns(data: bytes, required: tuple[str, ...]) -> CsvColumns:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    out = CsvColumns()
    arrow = _arrow_lines(data)
    text_lines = _split_lines(data) if arrow is None else None
    if (arrow is None and not text_lines) or (arrow is not None and len(arrow) == 0):
        return out
    first = text_lines[0] if text_lines is not None else arrow[0].as_py()
    first = first.removeprefix("\ufeff")  # a byte-order mark (Excel's UTF-8 CSV) is not a name
    try:
        header = [h.strip() for h in parse_line(first)]
    except csv.Error as exc:
        out.malformed.append((1, f"header is not a CSV record ({exc}): file not read"))
        return out
    missing = [c for c in required if c not in header]
    if missing:
        out.malformed.append((1, f"header lacks column(s) {', '.join(missing)}: file not read"))
        return out
    out.header = header
    width = len(header)
    names = [f"c{i}" for i in range(width)]
    columns: list[Any] = [strings([]) for _ in names]
    plain_at = np.zeros(0, dtype=np.int64)  # positions in the body (line - 2)
    if arrow is not None and width > 1 and len(arrow) > 1:
        body = arrow.slice(1)
        pattern = f"^{_PLAIN_FIELD}(?:,{_PLAIN_FIELD}){{{width - 1}}}$"
        plain = flags(pc.match_substring_regex(body, pattern))
        plain_at = np.flatnonzero(plain)
        if len(plain_at):
            if plain.all():
                source = pa.py_buffer(data)[data.index(b"\n") + 1 :]
            else:
                source = _joined(body.filter(arrow_mask(plain)))
            try:
                table = pacsv.read_csv(pa.BufferReader(source), *_arrow_options(names))
            except pa.ArrowException:
                table = None
            if table is None or table.num_rows != len(plain_at):  # never expected: the reference decides
                plain_at = np.zeros(0, dtype=np.int64)
            else:
                columns = [pc.ascii_trim_whitespace(table.column(i)).combine_chunks() for i in range(width)]
        rest_at = np.flatnonzero(~plain) if len(plain_at) else np.arange(len(body))
        rest = body.take(indices(rest_at)).to_pylist()
    else:
        rest = text_lines[1:] if text_lines is not None else arrow.slice(1).to_pylist()
        rest_at = np.arange(len(rest))
    numbers: list[int] = []
    records: list[list[str]] = []
    bad = 0
    for i, line, fields in zip(rest_at.tolist(), rest, parse_lines(rest), strict=True):
        if isinstance(fields, list) and len(fields) == width and (width > 1 or line.strip()):
            numbers.append(i + 2)
            records.append([v.strip() for v in fields])
            continue
        if not line.strip():
            continue
        bad += 1
        if isinstance(fields, csv.Error):
            out.malformed.append((i + 2, f"not a CSV record ({fields})"))
        else:
            out.malformed.append((i + 2, f"{len(fields)} fields where the header has {width}"))
    out.data_lines = len(plain_at) + len(records) + bad
    lines = plain_at + 2
    if records:  # merge the records read one by one back into line order
        lines = np.concatenate([lines, np.array(numbers, dtype=np.int64)])
        by_line = np.argsort(lines, kind="stable")
        order = indices(by_line)
        lines = lines[by_line]
        columns = [
            pa.concat_arrays([columns[j], strings(list(extra))]).take(order)
            for j, extra in enumerate(zip(*records, strict=True))
        ]
    out.lines = lines.astype(np.int64)
    by_name = {name: i for i, name in enumerate(header)}  # a repeated name: the last one counts
    out.columns = {name: columns[i] for name, i in by_name.items()}
    return out

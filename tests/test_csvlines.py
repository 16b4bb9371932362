"""The bulk CSV path (Arrow) reads every line exactly as Python's csv module does, line by line."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from curalog.legacy.csvlines import _arrow_lines, parse_line, physical_lines, read_columns, tail_of

_SCRATCH = tempfile.TemporaryDirectory(prefix="curalog-test-csvlines-")  # removed at exit
# characters on which a naive bulk parser would go wrong: quotes, commas, spaces of every kind,
# controls, a byte-order mark, non-ASCII text
_tricky = st.sampled_from(list('"", \t\r\x00\x1c\x1f\x85\xa0\u2003\u3000\ufeffaé文/_.[]\\'))
_any = st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))
_field = st.text(alphabet=st.one_of(_tricky, _any), max_size=12)
# without what sends a whole file to the line-by-line reader (NUL, the unit separator, a lone CR)
_bulk_field = st.text(alphabet=st.one_of(_tricky, _any).filter(lambda c: c not in "\x00\x1f\r"), max_size=12)


def _record(fields: list[str], quote_all: bool) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow(
        fields
    )
    return buf.getvalue()


def _reference(path: Path, width: int) -> tuple[list[int], list[list[str]], list[int], int]:
    """Python's csv on each physical line: (record lines, records, malformed lines, data lines)."""
    lines, records, numbers, malformed, data = physical_lines(path), [], [], [], 0
    for n, line in enumerate(lines[1:], start=2):
        try:
            fields = parse_line(line)
        except csv.Error:
            fields = None
        except StopIteration:
            fields = []
        if fields is not None and len(fields) == width and (width > 1 or line.strip()):
            numbers.append(n)
            records.append([f.strip() for f in fields])
            data += 1
        elif line.strip():
            malformed.append(n)
            data += 1
    return numbers, records, malformed, data


def _rows(field: st.SearchStrategy[str]) -> st.SearchStrategy:
    return st.lists(
        st.one_of(
            st.tuples(st.lists(field, min_size=1, max_size=6), st.booleans()),  # a record, maybe wrong width
            field,  # any text at all
        ),
        max_size=25,
    )


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 5), rows=_rows(_field), crlf=st.booleans(), final_newline=st.booleans())
def test_any_file_reads_as_python_csv_line_by_line(width, rows, crlf, final_newline) -> None:
    _check(width, rows, crlf, final_newline)


@settings(max_examples=300, deadline=None)
@given(width=st.integers(2, 5), rows=_rows(_bulk_field), crlf=st.booleans(), final_newline=st.booleans())
def test_bulk_path_equals_python_csv_line_by_line(width, rows, crlf, final_newline) -> None:
    path = _check(width, rows, crlf, final_newline)
    assert _arrow_lines(path.read_bytes()) is not None  # this file did take the bulk path


def _check(width: int, rows: list, crlf: bool, final_newline: bool) -> Path:
    header = ",".join(f"h{i}" for i in range(width))
    body = [_record(r[0], r[1]) if isinstance(r, tuple) else r for r in rows]
    end = "\r\n" if crlf else "\n"
    path = Path(_SCRATCH.name) / "log.csv"
    path.write_bytes(
        (end.join([header, *body]) + (end if final_newline else "")).encode("utf-8", "surrogatepass")
    )
    got = read_columns(path, ())
    numbers, records, malformed, data = _reference(path, width)
    assert got.lines.tolist() == numbers
    assert [list(r) for r in zip(*(got.pylist(f"h{i}") for i in range(width)), strict=True)] == records
    assert [line for line, _why in got.malformed] == malformed
    assert got.data_lines == data
    return path


def test_plain_lines_take_the_bulk_path_and_a_bad_line_keeps_its_place(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text('a,b\n1," x ""q"", y "\n2,"unterminated\n\n3,z\n')
    got = read_columns(path, ("a",))
    assert got.lines.tolist() == [2, 5]
    assert got.pylist("b") == ['x "q", y', "z"]
    assert [line for line, _why in got.malformed] == [3]
    assert got.data_lines == 3


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    for data in ("\ufefftimestamp,b\n2025,x\n", "\ufefftimestamp,b\r\n2025,x\r\n\x00\n"):
        path.write_text(data, encoding="utf-8", newline="")
        got = read_columns(path, ("timestamp",))
        assert got.header == ["timestamp", "b"] and got.pylist("timestamp") == ["2025"]


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 5), rows=_rows(_field), crlf=st.booleans(), cut=st.integers(0, 30))
def test_the_lines_after_the_first_k_read_as_in_the_whole_file(width, rows, crlf, cut) -> None:
    """An incremental validation reads only the lines a log gained: the header plus those
    lines, numbered as in the file, equal the whole file's reading of them."""
    path = _check(width, rows, crlf, True)
    data = path.read_bytes()
    k = min(cut, data.count(b"\n"))
    whole = read_columns(path, ())
    part = read_columns(path, (), tail_of(data, k))
    keep = whole.lines > k
    assert part.lines.tolist() == whole.lines[keep].tolist()
    for i in range(width):
        assert part.pylist(f"h{i}") == [
            v for v, m in zip(whole.pylist(f"h{i}"), keep.tolist(), strict=True) if m
        ]
    assert part.malformed == [m for m in whole.malformed if m[0] > k]
    # data lines: the whole file's, less those among the first k (the header is not one)
    first = read_columns(path, (), tail_of(data[: _offset(data, k)], 0)) if k else None
    assert part.data_lines == whole.data_lines - (first.data_lines if first is not None else 0)


def _offset(data: bytes, k: int) -> int:
    at = 0
    for _ in range(k):
        at = data.index(b"\n", at) + 1
    return at

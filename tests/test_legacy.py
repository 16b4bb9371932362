"""The legacy readers: garbage never crashes them, every line is accounted for by number."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from curalog.legacy.index import read_index
from curalog.legacy.logs import read_crop_log, read_selection_log
from tests.legacy_project import CROP_HEADER, SEL_HEADER

GOOD_CROP = [
    "2025-10-02T14:03:11", "s", "set", "mojo1/crop", "1", "0", "mojo1/crop/a.png",
    "1", "2", "30", "40", "mojo1/crop/a.png", "stage2", "64", "48",
] + [""] * 12  # fmt: skip
GOOD_SEL = ["2025-10-02T14:03:11", "s", "set", "mojo1/selected", "mojo1/selected/a.png", '["x.png"]']

_chars = st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",))
garbage = st.text(alphabet=_chars, min_size=1, max_size=80).filter(lambda t: t.strip() != "")


def _line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


_SCRATCH = tempfile.TemporaryDirectory(prefix="curalog-test-legacy-")  # removed at exit


def _scratch(name: str) -> Path:
    """One reused file per name: hypothesis runs hundreds of examples, which must not leave a
    folder each behind in the system temp dir."""
    return Path(_SCRATCH.name) / name


def _write(lines: list[str], header: list[str]) -> Path:
    path = _scratch("log.csv")
    path.write_text("\n".join([",".join(header), *lines]) + "\n", encoding="utf-8")
    return path


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(garbage, st.just(None)), min_size=1, max_size=30))
def test_garbage_never_crashes_and_is_named_by_line(items: list[str | None]) -> None:
    lines = [_line(GOOD_CROP) if item is None else item for item in items]
    read = read_crop_log(_write(lines, CROP_HEADER), "crop.csv")
    good = {n for n, item in enumerate(items, start=2) if item is None}
    parsed = {r.line for r in read.rows}
    malformed = {m.line for m in read.malformed}
    assert good <= parsed  # valid lines survive whatever surrounds them
    assert parsed | malformed == set(range(2, len(items) + 2))  # every line accounted for, by number
    assert not parsed & malformed
    assert read.data_lines == len(items)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(garbage, st.just(None)), min_size=1, max_size=30))
def test_selection_garbage(items: list[str | None]) -> None:
    lines = [_line(GOOD_SEL) if item is None else item for item in items]
    read = read_selection_log(_write(lines, SEL_HEADER), "sel.csv")
    good = {n for n, item in enumerate(items, start=2) if item is None}
    assert good <= {r.line for r in read.rows}
    assert {r.line for r in read.rows} | {m.line for m in read.malformed} == set(range(2, len(items) + 2))


@settings(max_examples=100, deadline=None)
@given(st.lists(garbage, min_size=1, max_size=20))
def test_index_garbage(items: list[str]) -> None:
    path = _scratch("index.jsonl")
    path.write_text("\n".join(items) + "\n", encoding="utf-8")
    read = read_index(path, "index.jsonl")
    assert {r.line for r in read.rows} | {m.line for m in read.malformed} == set(range(1, len(items) + 1))


def test_a_stray_quote_spoils_only_its_own_line(tmp_path: Path) -> None:
    lines = [_line(GOOD_CROP), 'x,"unterminated,quote', _line(GOOD_CROP), _line(GOOD_CROP)]
    read = read_crop_log(_write(lines, CROP_HEADER), "crop.csv")
    assert [r.line for r in read.rows] == [2, 4, 5]
    assert [m.line for m in read.malformed] == [3]


def test_header_missing_columns_is_reported_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("timestamp,session_id\n1,2\n")
    read = read_crop_log(path, "crop.csv")
    assert [(m.line, "chosen_path" in m.message) for m in read.malformed] == [(1, True)]


@settings(max_examples=300, deadline=None)
@given(
    image_path=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != ""),
    digest=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    dim=st.integers(1, 4096),
    model=st.one_of(st.none(), st.text(max_size=20)),
    timestamp=st.one_of(st.none(), st.text(max_size=20)),
)
def test_index_fast_path_reads_what_json_reads(image_path, digest, dim, model, timestamp) -> None:
    entry = {"image_path": image_path, "hash": digest, "embedding_dim": dim}
    if model is not None:
        entry["model"] = model
    if timestamp is not None:
        entry["timestamp"] = timestamp
    path = _scratch("index.jsonl")
    path.write_text(json.dumps(entry) + "\n" + json.dumps(entry, ensure_ascii=False) + "\n", encoding="utf-8")
    read = read_index(path, "index.jsonl")
    assert not read.malformed
    for row in read.rows:
        assert (row.image_path, row.hash, row.dim, row.model) == (
            image_path.strip(),
            digest,
            dim,
            model or "",
        )


def test_index_fast_path_takes_only_what_json_takes_after_the_object() -> None:
    """What may follow the object on a line: JSON's white space (space, tab, CR) and nothing
    else; a line ending in a Unicode space (U+2003, U+00A0, U+0085) or a vertical tab is not
    JSON, and the fast path used to take it (Python's \\s)."""
    entry = json.dumps({"image_path": "mojo1/a.png", "hash": "a" * 64, "embedding_dim": 8})
    tails = [" ", "\t", "  \t", "\u2003", "\xa0", "\x85", "\x0b", "\x0c", "\u3000", " x"]
    path = _scratch("index.jsonl")
    path.write_text("".join(entry + tail + "\n" for tail in tails), encoding="utf-8")
    read = read_index(path, "index.jsonl")
    expected_good = []
    for n, tail in enumerate(tails, start=1):
        try:
            json.loads(entry + tail)
            expected_good.append(n)
        except json.JSONDecodeError:
            pass
    assert [r.line for r in read.rows] == expected_good == [1, 2, 3]
    assert [m.line for m in read.malformed] == list(range(4, len(tails) + 1))

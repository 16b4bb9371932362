"""``curalog.arrays`` against pyarrow's own conversions, and the reason it exists: a full
``validate`` (and an incremental one, and a repeat) never imports pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from curalog.arrays import flags, indices, mask, numbers, scalar, strings

texts = st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(values=texts)
def test_strings_equal_pyarrow_array(values: list[str | None]) -> None:
    """NULs, lone surrogates, empty texts and nulls included: the same array, or the same error."""
    try:
        expected = pa.array(values, pa.string())
    except (UnicodeEncodeError, pa.ArrowException) as exc:
        try:
            strings(values)
        except type(exc):
            return
        raise AssertionError("strings took what pyarrow.array refuses") from None
    got = strings(values)
    got.validate(full=True)
    assert got.equals(expected) and got.null_count == expected.null_count
    assert got.to_pylist() == values


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.booleans(), max_size=40), start=st.integers(0, 9))
def test_masks_and_flags_read_back(values: list[bool], start: int) -> None:
    arrow = mask(values)
    assert arrow.equals(pa.array(values, pa.bool_()))
    assert flags(arrow).tolist() == values
    assert flags(arrow.slice(min(start, len(values)))).tolist() == values[start:]  # an offset
    with_nulls = pa.array([None if i % 3 == 0 else v for i, v in enumerate(values)], pa.bool_())
    assert flags(with_nulls).tolist() == [bool(v) and i % 3 != 0 for i, v in enumerate(values)]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(-(2**40), 2**40), max_size=40), start=st.integers(0, 9))
def test_indices_and_numbers_read_back(values: list[int], start: int) -> None:
    arrow = indices(np.array(values, dtype=np.int64))
    assert arrow.equals(pa.array(values, pa.int64()))
    assert numbers(arrow).tolist() == values
    assert numbers(arrow.slice(min(start, len(values)))).tolist() == values[start:]
    labels = [str(v % 5) for v in values]
    codes = pc.dictionary_encode(strings(labels)).indices  # int32
    assert numbers(codes).tolist() == pc.dictionary_encode(pa.array(labels)).indices.to_pylist()


def test_an_index_array_never_changes_under_its_caller() -> None:
    at = np.array([2, 0, 1])
    arrow = indices(at)
    at[0] = 7
    assert arrow.to_pylist() == [2, 0, 1]


def test_scalars_are_arrow_scalars() -> None:
    assert pc.equal(strings(["", "a"]), scalar("")).to_pylist() == [True, False]
    assert scalar(None).is_valid is False


def test_validate_never_imports_pandas(tmp_path: Path) -> None:
    """The first ``pyarrow.array`` or ``to_numpy`` of a process imports pandas (0.13 s and 40 MB
    of a full run): a full run, a repeat and an incremental run must get through without it, on
    projects with every path convention and defect of the generator."""
    import random

    from tests.project_gen import generate

    roots = []
    for seed in range(4):
        roots.append(tmp_path / f"p{seed}")
        generate(roots[-1], random.Random(seed), max_images=30, max_rows=60)
    code = """
import sys
from pathlib import Path
from curalog.validate import validate
findings = 0
for root in map(Path, sys.argv[1:]):
    findings += len(validate(root).findings)
    assert "pandas" not in sys.modules, ("full run", root)
    validate(root)
    assert "pandas" not in sys.modules, ("repeat run", root)
    for log in ("selection_only_log.csv", "select_crop_log.csv"):
        path = root / "data/training" / log
        lines = path.read_bytes().splitlines(keepends=True)
        if len(lines) > 1 and lines[-1].endswith(b"\\n"):
            path.write_bytes(b"".join(lines) + lines[-1])
    again = validate(root)
    assert "pandas" not in sys.modules, ("after lines were appended", root, again.appended)
print(findings)
"""
    out = subprocess.run([sys.executable, "-c", code, *map(str, roots)], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout) > 0  # projects with findings: the rules that build arrays ran

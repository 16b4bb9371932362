"""The bulk vector check, inline and in a forked child (which must agree, and whose failure,
even by kill -9, must only cost time)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curalog.validate import vectors
from curalog.validate.vectors import check_files, check_folder_in_background


def _name(i: int) -> str:
    return f"{i:064x}.npy"


def _folder(tmp_path: Path) -> tuple[str, list[tuple[str, str]]]:
    """Sound float32 vectors plus one of each kind of damage, in a shuffled order."""
    folder = tmp_path / "emb"
    folder.mkdir()
    rng = np.random.default_rng(0)
    files: dict[str, object] = {}
    for i in range(40):
        files[_name(i)] = rng.standard_normal(16).astype(np.float32)
    files[_name(100)] = np.full(16, np.nan, dtype=np.float32)
    files[_name(101)] = np.zeros(16, dtype=np.float32)
    files[_name(102)] = np.zeros(0, dtype=np.float32)
    files[_name(103)] = np.ones((2, 8), dtype=np.float32)
    files[_name(104)] = np.arange(16, dtype=np.int64)
    files[_name(105)] = rng.standard_normal(24).astype(np.float64)  # another model's layout
    for name, value in files.items():
        np.save(folder / name, value)
    (folder / _name(106)).write_bytes(b"not a vector")
    good = (folder / _name(0)).read_bytes()
    (folder / _name(107)).write_bytes(good[:-8])  # truncated
    (folder / _name(108)).write_bytes(good + b"trailing")  # payload intact, extra bytes
    items = sorted(((n[:64], n) for n in os.listdir(folder)), key=lambda it: it[1][::-1])
    return str(folder), items


def _names(items: list[tuple[str, str]]) -> list[str]:
    return [name for _d, name in items]


def _columns(items: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [d for d, _n in items], _names(items)


def test_verdicts(tmp_path: Path) -> None:
    folder, items = _folder(tmp_path)
    states, new = check_files(folder, _names(items), {}).as_dicts(*_columns(items))
    by_name = {name: states[digest] for digest, name in items}
    assert all(by_name[_name(i)] == (16, "") for i in range(40))
    assert by_name[_name(100)] == (16, "holds NaN or Inf")
    assert by_name[_name(101)] == (16, "all zeros")
    assert by_name[_name(102)] == (0, "empty")
    assert by_name[_name(103)].length == -1 and "1-D" in by_name[_name(103)].problem
    assert by_name[_name(104)].length == -1 and "float" in by_name[_name(104)].problem
    assert by_name[_name(105)] == (24, "")
    assert by_name[_name(106)].length == -1 and "not a .npy" in by_name[_name(106)].problem
    assert by_name[_name(107)].length == -1 and "truncated" in by_name[_name(107)].problem
    assert by_name[_name(108)] == (16, "")
    assert set(new) == {name for _d, name in items}  # every readable file is cacheable


def test_cache_entries_skip_unchanged_files_only(tmp_path: Path) -> None:
    folder, items = _folder(tmp_path)
    _states, cache = check_files(folder, _names(items), {}).as_dicts(*_columns(items))
    lie = {name: (key, 16, "") for name, (key, _n, _p) in cache.items()}  # a cache that says "sound"
    np.save(Path(folder) / _name(3), np.zeros(16, dtype=np.float32))  # changed since
    states, _ = check_files(folder, _names(items), lie).as_dicts(*_columns(items))
    assert states[_name(100)[:64]] == (16, "")  # unchanged: taken from the cache, not re-read
    assert states[_name(3)[:64]] == (16, "all zeros")  # changed: read again


@pytest.fixture
def background(monkeypatch: pytest.MonkeyPatch):
    if os.cpu_count() == 1:
        monkeypatch.setattr(os, "cpu_count", lambda: 2)


def _arrays(checked) -> tuple:
    return checked.lengths.tolist(), checked.keys.tolist(), checked.problems


def test_forked_child_agrees_with_inline(tmp_path: Path, background, monkeypatch) -> None:
    folder, items = _folder(tmp_path)
    parent = os.getpid()
    pids = tmp_path / "pids"
    real = vectors.check_files

    def recording(*args, **kwargs):
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(vectors, "check_files", recording)
    seen: list[tuple[int, int]] = []
    hashes, temps, checked = check_folder_in_background(folder, {}, lambda n, t, _w: seen.append((n, t)))()
    names = [f"{digest}.npy" for digest in hashes]  # a vector file is <hash>.npy
    assert sorted(names) == sorted(_names(items)) and temps == []
    assert _arrays(checked) == _arrays(real(folder, names, {}))
    ran_in = [int(p) for p in pids.read_text().split()]
    assert ran_in and parent not in ran_in  # it ran in a child, and only there
    assert seen and seen[-1] == (len(items), len(items))  # the child's progress reached us


@pytest.mark.parametrize("how", ["raise", "kill -9"])
def test_a_failing_child_only_costs_time(tmp_path: Path, background, monkeypatch, how: str) -> None:
    folder, _items = _folder(tmp_path)
    parent = os.getpid()
    real = vectors.check_files

    def dying(*args, **kwargs):
        if os.getpid() != parent:
            if how == "raise":
                raise MemoryError("simulated")
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    monkeypatch.setattr(vectors, "check_files", dying)
    hashes, _temps, checked = check_folder_in_background(folder, {})()
    assert _arrays(checked) == _arrays(real(folder, [f"{digest}.npy" for digest in hashes], {}))
    # no child left behind
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_no_fork_with_other_threads(tmp_path: Path, background, monkeypatch) -> None:
    import threading

    folder, _items = _folder(tmp_path)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked with another thread running"))
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        hashes, _temps, checked = check_folder_in_background(folder, {})()
    finally:
        stop.set()
        t.join()
    assert _arrays(checked) == _arrays(check_files(folder, [f"{digest}.npy" for digest in hashes], {}))


def test_validator_cache_round_trips(tmp_path: Path) -> None:
    from curalog.validate.cache import ValidateCache

    path = tmp_path / "data" / "cache.npz"
    cache = ValidateCache(path)
    names = [_name(1), _name(2), _name(3), _name(4)]
    checked = vectors.Checked(
        np.array([16, -1, 16, -1]),
        np.array([[10, 11, 12, 13], [20, 21, 22, 23], [30, 31, 32, 33], [-1, -1, -1, -1]]),
        {1: "unreadable (not a .npy file)", 2: "all zeros", 3: "unreadable (permission denied)"},
    )
    cache.set_vectors([name[:64] for name in names], checked)
    cache.images = {"mojo1/a.png": ((1, 2, 3, 4), 640, 480)}
    ident = cache.write_snapshot([("listing", np.arange(3, dtype=np.uint8))])  # first, as a full run does
    assert ident
    cache.remember("sig", "{}", ["", "mojo1"], ["mojo1/a.png"], {"logs": np.arange(2, dtype=np.uint8)}, ident)
    cache.changed = True
    cache.save()
    again = ValidateCache(path)
    again.load_memo()
    again.load()
    assert (
        again.vector_entries()
        == cache.vector_entries()
        == {
            _name(1): ((10, 11, 12, 13), 16, ""),
            _name(2): ((20, 21, 22, 23), -1, "unreadable (not a .npy file)"),
            _name(3): ((30, 31, 32, 33), 16, "all zeros"),
        }
    )  # the unreadable file (no stat key) is not remembered
    assert again.images == cache.images
    memo = (again.memo_signature, again.memo_folders, again.memo_images)
    assert memo == ("sig", ["", "mojo1"], ["mojo1/a.png"])
    kept = again.load_resume()  # the snapshot file's part and the memo file's, read when asked
    assert (kept["listing"].tolist(), kept["logs"].tolist()) == ([0, 1, 2], [0, 1])
    with np.load(path) as z:  # a vector file name that is not <hash>.npy: not this code's cache
        arrays = dict(z)
    arrays["vec_name"] = np.array([b"notes.txt", *arrays["vec_name"][1:]])
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    odd = ValidateCache(path)
    odd.load()
    assert odd.vector_entries() == {} and odd.vector_names == []
    arrays["vec_name"] = np.array([f"{'a' * 64}.npy".encode(), *arrays["vec_name"][1:]])
    arrays["vec_len"] = np.array([-2, *arrays["vec_len"][1:]])  # no check gives a length below -1
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    odd = ValidateCache(path)
    odd.load()
    assert odd.vector_entries() == {}
    path.write_bytes(b"garbage")  # a broken cache is only a slower run
    cache.memo_path.write_bytes(b"garbage")
    broken = ValidateCache(path)
    broken.load_memo()
    broken.load()
    assert broken.vector_entries() == {} and broken.memo_signature == ""


def test_read_vectors_in_bulk(tmp_path: Path) -> None:
    from curalog.embeddings import npy

    folder = tmp_path / "emb"
    folder.mkdir()
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((10, 16)).astype(np.float32)
    names = [_name(i) for i in range(10)]
    for name, v in zip(names, vecs, strict=True):
        np.save(folder / name, v)
    np.save(folder / _name(50), vecs[0].astype(np.float64))  # another layout, same values
    got = npy.read_vectors(folder, [*names, _name(50)], 16)
    assert np.array_equal(got[:10], vecs) and np.allclose(got[10], vecs[0])
    np.save(folder / _name(60), np.zeros(16, dtype=np.float32))
    np.save(folder / _name(61), np.ones(8, dtype=np.float32))
    with pytest.raises(ValueError, match=_name(60)):
        npy.read_vectors(folder, [*names, _name(60)], 16)
    with pytest.raises(ValueError, match="length 8, expected 16"):
        npy.read_vectors(folder, [_name(61)], 16)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(
        st.one_of(
            st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: h + ".npy"),
            st.text("0123456789abcdefAF-. ", min_size=63, max_size=65).map(lambda h: h + ".npy"),
            st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f".curalog-tmp-1-ab-{h}.npy"),
            st.sampled_from(["README.txt", ".DS_Store", "x.npy", "0" * 64 + ".NPY", "0" * 64 + ".npy.bak"]),
        ),
        unique=True,
        max_size=12,
    )
)
def test_vector_file_names_are_what_the_one_name_rule_says(tmp_path: Path, names: list[str]) -> None:
    """The names checked all at once equal the rule read name by name: 64 lowercase hex digits
    and ``.npy`` is a vector file, a ``.curalog-tmp-`` name a temp file, anything else neither."""
    from curalog.embeddings.store import TEMP_PREFIX, list_vector_files, vector_file_names

    folder = tmp_path / f"emb{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"")
    vectors, temps = vector_file_names(folder)
    hexdigits = set("0123456789abcdef")
    expected = [n for n in names if len(n) == 68 and n.endswith(".npy") and set(n[:64]) <= hexdigits]
    assert sorted(vectors) == sorted(expected)
    assert sorted(temps) == sorted(n for n in names if n.startswith(TEMP_PREFIX))
    assert list_vector_files(folder) == ({n[:64]: n for n in vectors}, temps)


# what a line's dimension can be: none, zero, negative, the sentinels' values, beyond int64
DIMS = [None, 0, -1, -2, -3, -4, 8, 16, 24, 2**63, 2**70]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from(DIMS)), max_size=20),
    lengths=st.dictionaries(st.sampled_from("abcd"), st.sampled_from([-1, 0, 8, 16])),
    problems=st.dictionaries(st.sampled_from("abcd"), st.sampled_from(["all zeros", "holds NaN or Inf"])),
)
def test_line_verdicts_are_the_rules_line_by_line(lines, lengths, problems) -> None:
    """``Vectors.of_lines``, the whole-index form the validator uses: which lines are sound
    (as ``sound`` says for each line: a file on disk, no problem, and the length the line says
    or none said), whose file is gone, and whose file has a length other than the non-zero one
    the line says; for any dimension a line can hold (none, zero, negative, one of the
    sentinels' values, beyond int64)."""
    from curalog.validate.index import MISSING, IndexRef, Vectors

    vectors = Vectors([], lengths, problems, "emb")
    refs = [IndexRef(h, dim, "index", None, "") for h, dim in lines]
    verdicts = vectors.of_lines(refs)
    assert verdicts.hashes == [h for h, _dim in lines]
    assert verdicts.sound.tolist() == [vectors.sound(ref) for ref in refs]
    assert (verdicts.lengths == MISSING).tolist() == [h not in lengths for h, _dim in lines]
    unexpected = [bool(d) and lengths.get(h) not in (None, d) for h, d in lines]
    assert verdicts.unexpected.tolist() == unexpected


@settings(max_examples=300, deadline=None)
@given(
    legacy=st.lists(
        st.tuples(st.sampled_from("pqrs"), st.sampled_from("abcde"), st.sampled_from([None, 8, 16])),
        max_size=12,
    ),
    ledger=st.lists(
        st.tuples(st.sampled_from("pqrst"), st.sampled_from("abcde"), st.sampled_from([None, 8])), max_size=4
    ),
    lengths=st.dictionaries(st.sampled_from("abcd"), st.sampled_from([-1, 8, 16])),
    problems=st.dictionaries(st.sampled_from("abcd"), st.sampled_from(["all zeros"])),
    contested=st.dictionaries(st.sampled_from("pqrs"), st.sampled_from("abcde")),
)
def test_the_counting_lines_positions_and_soundness(tmp_path_factory, legacy, ledger, lengths, problems,
                                                    contested) -> None:  # fmt: skip
    """``_counting_lines`` gives, with each image's counting line, that line's position (what
    ``Embedded`` reads the line's verdict by); ``Embedded.sound`` and ``problems`` are then what
    ``Vectors.sound``/``problem_of`` say of each image's counting line."""
    from curalog.legacy.index import IndexLine
    from curalog.paths import PathResolver
    from curalog.validate.index import Embedded, IndexLines, IndexRef, Vectors, _counting_lines

    problems = {h: p for h, p in problems.items() if h in lengths}  # a problem is a file's
    vectors = Vectors([], lengths, problems, "emb")
    refs = [IndexLine("index", n, p, h, d, "") for n, (p, h, d) in enumerate(legacy, start=1)]
    refs += [IndexRef(h, d, "db", None, "") for _p, h, d in ledger]
    lines = IndexLines([p for p, _h, _d in legacy + ledger], refs, len(legacy))
    index, at = _counting_lines(lines, vectors, contested)
    assert len(at) == len(index)
    assert all(refs[i] is ref for i, ref in zip(at.tolist(), index.values(), strict=True))
    resolver = PathResolver(tmp_path_factory.getbasetemp(), listing=[])
    embedded = Embedded(lines, vectors, resolver, lambda _c: None)
    index = _counting_lines(lines, vectors, {})[0]  # the resolver has no contested image
    assert embedded.sound == {path for path, ref in index.items() if vectors.sound(ref)}
    assert embedded.problems == {p: vectors.problem_of(r) for p, r in index.items() if not vectors.sound(r)}

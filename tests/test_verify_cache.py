"""``curalog verify`` with the validator's per-file verdict cache (``validate.verdicts``): the same
report with and without it, a file read again whenever its stat key changed, no read for a file the
cache proves sound, and a cache that cannot be read or written never failing ``verify``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from curalog.cli.embeddings import _report_json
from curalog.project import Project
from curalog.validate import validate
from curalog.validate.cache import CACHE_NAME, ValidateCache
from curalog.validate.verdicts import CachedVerdicts, verify_project
from tests.conftest import SET0, SET1

DIM = 240  # the thumbnail embedder's length


class Counting(CachedVerdicts):
    """The real cache, counting the files it spared and the files that were read."""

    def __init__(self, cache: ValidateCache) -> None:
        super().__init__(cache)
        self.spared = 0
        self.read: list[str] = []

    def known_sound(self, name: str, key: tuple[int, int, int], dim: int | None) -> bool:
        sound = super().known_sound(name, key, dim)
        self.spared += sound
        return sound

    def learned(self, name: str, key: tuple[int, int, int], length: int, problem: str) -> None:
        self.read.append(name)
        super().learned(name, key, length, problem)


def _cache(p: Project) -> ValidateCache:
    return ValidateCache(p.config.path("database").with_name(CACHE_NAME))


def _counted(p: Project) -> tuple[object, Counting]:
    verdicts = Counting(_cache(p))
    report = p.verify(None, verdicts)
    verdicts.save()
    return report, verdicts


def _vector(p: Project, image: str) -> Path:
    return p.embeddings.vector_path(p.embeddings.lookup(image).hash)


def _plant(p: Project) -> None:
    """Every kind of problem verify reports, plus sound files of each kind."""
    _vector(p, SET0[0]).write_bytes(b"garbage, not a .npy file at all")
    path = _vector(p, SET0[1])
    path.write_bytes(path.read_bytes()[:100])  # truncated
    np.save(_vector(p, SET0[2]), np.full(DIM, np.nan, np.float32))
    np.save(_vector(p, SET1[0]), np.zeros(DIM, np.float32))
    np.save(_vector(p, SET1[1]), np.ones(100, np.float32))  # wrong length
    path = _vector(p, SET1[2])
    path.write_bytes(path.read_bytes() + b"\0" * 8)  # sound, but not the size written
    d = p.embeddings.directory
    np.save(d / ("c" * 64 + ".npy"), np.ones(DIM, np.float32))  # a sound orphan
    (d / ("d" * 64 + ".npy")).write_bytes(b"\x93NUMPY")  # an unreadable orphan
    np.save(d / ("e" * 64 + ".npy"), np.ones(7, np.float32))  # legacy, sound (any length)
    np.save(d / ("f" * 64 + ".npy"), np.full(DIM, np.inf, np.float32))  # legacy, not sound
    (d / (".curalog-tmp-1-ab-" + "a" * 64 + ".npy")).write_bytes(b"x")  # a temp file
    index = p.config.path("embedding_index")
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(
        "".join(
            f'{{"image_path": "old/{c}.png", "hash": "{c * 64}", "embedding_dim": {DIM}}}\n' for c in "ef"
        )
    )


def test_the_report_is_the_same_with_and_without_the_cache(embedded: Project) -> None:
    _plant(embedded)
    plain = embedded.verify()
    assert {p.code for p in plain.problems} == {"embedding.corrupt", "embedding.orphan_file"}
    assert len(plain.errors) == 7 and plain.legacy_files == 2
    first, counted = _counted(embedded)  # no cache yet: every file read, its verdict learned
    assert counted.spared == 0 and len(counted.read) == plain.vector_files
    second, counted = _counted(embedded)
    third = verify_project(embedded)
    assert plain == first == second == third
    assert _report_json(plain) == _report_json(second) == _report_json(third)
    # spared: the sound indexed files (one, with trailing bytes: its size is still compared), the
    # sound orphan, the sound legacy file; read again: every file with a problem
    assert counted.spared == 3 and len(counted.read) == plain.vector_files - 3
    assert "differs from the" in str(second.problems)
    validate(embedded.root)  # the validator's own verdicts serve verify the same way
    assert verify_project(embedded) == plain
    assert verify_project(embedded, use_cache=False) == plain


def test_a_repeat_run_reads_no_sound_file(embedded: Project) -> None:
    verify_project(embedded)
    report, counted = _counted(embedded)
    assert report.problems == [] and counted.read == [] and counted.spared == 6


def test_a_file_changed_after_caching_is_read_again(embedded: Project) -> None:
    verify_project(embedded)
    path = _vector(embedded, SET1[0])
    st = path.stat()
    np.save(path, np.full(DIM, np.nan, np.float32))  # same size, new content
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == st.st_size
    report, counted = _counted(embedded)
    assert counted.read == [path.name]
    assert [p.message.endswith("holds NaN or Inf") for p in report.problems] == [True]
    assert report == embedded.verify()


def test_a_replaced_file_is_read_again_even_with_size_and_mtime_kept(embedded: Project) -> None:
    verify_project(embedded)
    path = _vector(embedded, SET1[0])
    st = path.stat()
    tmp = path.with_name("replacement")
    with open(tmp, "wb") as fh:
        np.save(fh, np.zeros(DIM, np.float32))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)  # a new inode: the stat key differs
    assert path.stat().st_ino != st.st_ino and path.stat().st_size == st.st_size
    report, counted = _counted(embedded)
    assert counted.read == [path.name] and "all zeros" in report.problems[0].message


def test_bytes_rewritten_in_place_with_mtime_restored_are_caught_by_the_ctime(embedded: Project) -> None:
    """Same size, same inode, mtime_ns put back with os.utime (what `cp -p` or a careless script
    does): size, mtime and inode cannot tell, the ctime (which no user call can put back) does,
    so the cached verdict is not used, by verify nor by validate (a hostile probe's case)."""
    from curalog.validate import validate

    verify_project(embedded)
    validate(embedded.config.root)
    path = _vector(embedded, SET1[0])
    st = path.stat()
    with open(path, "r+b") as fh:  # in place: the inode stays
        fh.seek(st.st_size - 4)
        fh.write(np.float32(np.nan).tobytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == (
        st.st_size, st.st_mtime_ns, st.st_ino,
    )  # fmt: skip
    assert "holds NaN or Inf" in str(verify_project(embedded).problems)
    report = validate(embedded.config.root)
    assert not report.reused and "embedding.corrupt" in report.by_code


def test_an_unreadable_cache_never_fails_verify(embedded: Project) -> None:
    _plant(embedded)
    plain = embedded.verify()
    cache = _cache(embedded).path
    for bad in (b"", b"not a cache", b"PK\x03\x04 a truncated zip", b"\x93NUMPY\x01\x00"):
        cache.write_bytes(bad)
        assert verify_project(embedded) == plain
    cache.unlink()
    cache.mkdir()  # a folder where the cache goes: not read, not written
    assert verify_project(embedded) == plain
    assert verify_project(embedded) == plain
    assert cache.is_dir()


def test_verify_keeps_the_validators_memo_and_image_facts(embedded: Project) -> None:
    validate(embedded.root)
    before = _cache(embedded)
    before.load_memo()
    before.load()
    assert before.memo_signature and before.vector_names
    np.save(embedded.embeddings.directory / ("c" * 64 + ".npy"), np.ones(DIM, np.float32))
    _report, counted = _counted(embedded)
    assert counted.read == ["c" * 64 + ".npy"]  # the rest were known from validate
    after = _cache(embedded)
    after.load_memo()
    after.load()
    assert (after.memo_signature, after.memo_report) == (before.memo_signature, before.memo_report)
    assert (after.images, after.hashes) == (before.images, before.hashes)
    entries = after.vector_entries()
    assert entries == {**before.vector_entries(), "c" * 64 + ".npy": entries["c" * 64 + ".npy"]}
    assert entries["c" * 64 + ".npy"][1:] == (DIM, "")
    report = validate(embedded.root)
    assert report.findings == validate(embedded.root, use_cache=False).findings

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curalog.errors import PathAmbiguous, PathError, PathOutsideRoot, PathUnresolved
from curalog.paths import PathResolver
from tests.conftest import make_image


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in ("mojo1/crop/a.png", "mojo1/selected/b.png", "mojo2/crop/b.png", "mojo2/x/c.jpg"):
        make_image(tmp_path / rel)
    return tmp_path


def test_root_relative(tree: Path) -> None:
    r = PathResolver(tree).resolve("mojo1/crop/a.png")
    assert (r.canonical, r.method, r.on_disk) == ("mojo1/crop/a.png", "exact", True)


def test_absolute_from_another_machine(tree: Path) -> None:
    r = PathResolver(tree).resolve("/Users/someone/projects/curation/mojo1/crop/a.png")
    assert (r.canonical, r.method) == ("mojo1/crop/a.png", "stripped-prefix")


def test_windows_absolute(tree: Path) -> None:
    r = PathResolver(tree).resolve(r"C:\Users\someone\curation\mojo2\x\c.jpg")
    assert r.canonical == "mojo2/x/c.jpg"


def test_absolute_on_this_machine(tree: Path) -> None:
    r = PathResolver(tree).resolve(str(tree / "mojo1" / "crop" / "a.png"))
    assert (r.canonical, r.method) == ("mojo1/crop/a.png", "exact")


def test_directory_relative(tree: Path) -> None:
    res = PathResolver(tree)
    assert res.resolve("b.png", "mojo2/crop").canonical == "mojo2/crop/b.png"
    # the directory column itself may be another machine's absolute path
    r = res.resolve("b.png", "/Users/someone/curation/mojo1/selected")
    assert (r.canonical, r.method) == ("mojo1/selected/b.png", "directory")


def test_unique_file_name_fallback(tree: Path) -> None:
    r = PathResolver(tree).resolve("old/layout/a.png")
    assert (r.canonical, r.method) == ("mojo1/crop/a.png", "file-name")


def test_ambiguous_name_lists_every_candidate(tree: Path) -> None:
    with pytest.raises(PathAmbiguous) as exc:
        PathResolver(tree).resolve("gone/b.png")
    assert exc.value.candidates == ["mojo1/selected/b.png", "mojo2/crop/b.png"]
    assert "mojo1/selected/b.png" in str(exc.value) and "mojo2/crop/b.png" in str(exc.value)
    assert exc.value.code == "path.ambiguous"


def test_unresolved(tree: Path) -> None:
    with pytest.raises(PathUnresolved, match="even by file name"):
        PathResolver(tree).resolve("mojo1/crop/nothing.png")


def test_dotdot_escape_refused(tree: Path) -> None:
    make_image(tree.parent / "secret.png")
    with pytest.raises(PathOutsideRoot):
        PathResolver(tree).resolve("mojo1/../../secret.png")


def test_symlink_escape_refused(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    make_image(outside / "leak.png")
    os.symlink(outside / "leak.png", tree / "mojo1" / "leak.png")
    with pytest.raises(PathOutsideRoot, match="link"):
        PathResolver(tree).resolve("mojo1/leak.png")
    os.symlink(outside, tree / "linkdir")
    with pytest.raises(PathOutsideRoot):
        PathResolver(tree).resolve("linkdir/leak.png")


def test_index_only_candidates(tree: Path) -> None:
    res = PathResolver(tree, index_lines=lambda: [("mojo3/gone/z.png", None)])
    r = res.resolve("/Users/x/mojo3/gone/z.png")
    assert (r.canonical, r.on_disk) == ("mojo3/gone/z.png", False)
    assert res.resolve("z.png").canonical == "mojo3/gone/z.png"


def test_new_files_are_found_after_listing(tree: Path) -> None:
    res = PathResolver(tree)
    res.resolve("mojo1/crop/a.png")
    make_image(tree / "mojo2" / "late" / "late.png")
    assert res.resolve("somewhere/late.png").canonical == "mojo2/late/late.png"


segments = st.lists(
    st.sampled_from(["..", ".", "mojo1", "crop", "a.png", "b.png", "x", "", "Users"]), max_size=7
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=segments,
    absolute=st.booleans(),
    directory=st.sampled_from([None, "", "mojo1/crop", "../..", "/a/b"]),
)
def test_resolution_never_leaves_the_root(tree: Path, parts, absolute, directory) -> None:
    raw = ("/" if absolute else "") + "/".join(parts)
    try:
        r = PathResolver(tree).resolve(raw, directory)
    except PathError:
        return
    assert ".." not in r.canonical.split("/") and not r.canonical.startswith("/")
    assert (tree / r.canonical).resolve().is_relative_to(tree.resolve())
    assert (tree / r.canonical).is_file()


def _hashes(root: Path):
    import hashlib

    return lambda c: hashlib.sha256((root / c).read_bytes()).hexdigest()


def test_index_path_without_the_subfolder_names_the_image_by_file_name(tmp_path: Path) -> None:
    """The seed: the index writes `mojo2/file.png` for an image at `mojo2/selected/file.png`."""
    make_image(tmp_path / "mojo2/selected/img_0049_stage0.png")
    make_image(tmp_path / "mojo2/selected/other.png")
    res = PathResolver(tmp_path, index_lines=lambda: [("mojo2/img_0049_stage0.png", None)])
    line = res.index_line("mojo2/img_0049_stage0.png")
    assert line == ("mojo2/selected/img_0049_stage0.png", "file-name", True)
    # the stale index path is no candidate of its own: the file name stays unique
    r = res.resolve("/Users/someone/projects/curation/mojo2/crop/img_0049_stage0.png")
    assert (r.canonical, r.method, r.on_disk) == ("mojo2/selected/img_0049_stage0.png", "file-name", True)
    # a row written like the index line finds the image through it
    r = res.resolve("/Users/x/curation/mojo2/img_0049_stage0.png")
    assert (r.canonical, r.on_disk) == ("mojo2/selected/img_0049_stage0.png", True)


def test_a_shared_file_name_is_settled_by_content_hash(tmp_path: Path) -> None:
    make_image(tmp_path / "mojo1/selected/x.png", colour=(1, 2, 3))
    make_image(tmp_path / "mojo1/crop/x.png", colour=(200, 2, 3))
    digest = _hashes(tmp_path)
    chosen = digest("mojo1/selected/x.png")
    res = PathResolver(tmp_path, index_lines=lambda: [("mojo1/x.png", chosen)], hash_of=digest)
    assert res.index_line("mojo1/x.png", chosen) == ("mojo1/selected/x.png", "content-hash", True)
    # a row written as the index line is linked by it; the same name written elsewhere is not
    r = res.resolve("/Users/someone/mojo1/x.png")
    assert (r.canonical, r.method) == ("mojo1/selected/x.png", "index (content-hash)")
    with pytest.raises(PathAmbiguous) as exc:
        res.resolve("elsewhere/x.png")
    assert exc.value.candidates == ["mojo1/crop/x.png", "mojo1/selected/x.png"]
    # a hash matching neither leaves the line's image gone, as written
    assert res.index_line("mojo1/x.png", "0" * 64) == ("mojo1/x.png", "gone", False)
    # nor does a resolver without hashes guess
    assert PathResolver(tmp_path).index_line("mojo1/x.png", chosen) == ("mojo1/x.png", "gone", False)


def test_two_index_lines_with_one_path_naming_different_images_link_nothing(tmp_path: Path) -> None:
    make_image(tmp_path / "mojo1/selected/x.png", colour=(1, 2, 3))
    make_image(tmp_path / "mojo1/crop/x.png", colour=(200, 2, 3))
    digest = _hashes(tmp_path)
    lines = [("mojo1/x.png", digest("mojo1/selected/x.png")), ("mojo1/x.png", digest("mojo1/crop/x.png"))]
    res = PathResolver(tmp_path, index_lines=lambda: lines, hash_of=digest)
    with pytest.raises(PathAmbiguous):
        res.resolve("mojo1/x.png")


def test_files_on_disk_win_over_the_index_at_each_step(tmp_path: Path) -> None:
    make_image(tmp_path / "mojo1/crop/x.png")
    # an index line written as a bare name whose image is gone
    res = PathResolver(tmp_path, index_lines=lambda: [("gone/x.png", None), ("y.png", None)])
    r = res.resolve("x.png", "mojo1/crop")
    assert (r.canonical, r.method, r.on_disk) == ("mojo1/crop/x.png", "directory", True)
    listed = PathResolver(tmp_path, index_lines=lambda: [("y.png", None)], listing=["mojo1/crop/x.png"])
    assert listed.quick("x.png", "mojo1/crop") == listed.resolve("x.png", "mojo1/crop").canonical


def test_a_fifo_named_like_a_shared_image_is_never_opened(tmp_path: Path) -> None:
    """Settling a shared file name hashes the images that share it: a FIFO among them would
    block forever if opened. validate (in a subprocess, so a hang fails the test) must finish."""
    import json
    import subprocess
    import sys

    make_image(tmp_path / "mojo1/selected/x.png")
    (tmp_path / "mojo1/crop").mkdir(parents=True)
    os.mkfifo(tmp_path / "mojo1/crop/x.png")
    index = tmp_path / "data/ai_data/cache/processed_images.jsonl"
    index.parent.mkdir(parents=True)
    index.write_text(json.dumps({"image_path": "mojo1/x.png", "hash": "a" * 64, "embedding_dim": 8}) + "\n")
    code = "import sys; from curalog.validate import validate; validate(sys.argv[1]); print('done')"
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "done" in out.stdout, out.stderr


def test_a_line_that_loses_its_image_names_the_image_with_its_bytes(tmp_path: Path) -> None:
    """The index writes `mojo1/x.png` (no subfolder) for `selected/x.png`, but a different
    `mojo1/x.png` exists and has its own line: the drifted line loses that image's contest and
    names the same-named image whose bytes it holds; of identical copies, the first by path."""
    import shutil

    make_image(tmp_path / "mojo1/x.png", colour=(9, 9, 9))
    make_image(tmp_path / "mojo1/selected/x.png", colour=(1, 2, 3))
    (tmp_path / "mojo1/crop").mkdir()
    shutil.copy(tmp_path / "mojo1/selected/x.png", tmp_path / "mojo1/crop/x.png")  # an identical copy
    digest = _hashes(tmp_path)
    lines = [("mojo1/x.png", digest("mojo1/x.png")), ("mojo1/x.png", digest("mojo1/selected/x.png"))]
    view = PathResolver(tmp_path, index_lines=lambda: lines, hash_of=digest).index_view()
    assert view.resolved == [
        ("mojo1/x.png", "exact", True),
        ("mojo1/crop/x.png", "content-hash", True),
    ]
    assert view.contested == {}  # once moved, no image's lines disagree


def test_a_fifo_chosen_in_a_crop_row_does_not_hang_validate(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.legacy_project import CROP, CROP_HEADER

    (tmp_path / "mojo1/crop").mkdir(parents=True)
    os.mkfifo(tmp_path / "mojo1/crop/x.png")
    row = ["2025-10-02T14:03:11", "s", "c", "mojo1/crop", "1", "0", "mojo1/crop/x.png", "1", "1", "9", "9",
           "mojo1/crop/x.png", "s", "20", "10"] + [""] * 12  # fmt: skip
    (tmp_path / CROP).parent.mkdir(parents=True)
    (tmp_path / CROP).write_text(",".join(CROP_HEADER) + "\n" + ",".join(row) + "\n")
    code = "import sys; from curalog.validate import validate; print(validate(sys.argv[1]).by_code)"
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "decision.no_embedding" in out.stdout, out.stderr


raw_paths = st.lists(
    st.sampled_from(
        ["mojo1", "mojo2", "crop", "a.png", "b.png", "c.jpg", "C:", ".", "..", "", " x", "Users"]
    ),
    min_size=1,
    max_size=5,
).map("/".join) | st.sampled_from(
    ["C:\\mojo1\\a.png", "mojo1\\b.png", " mojo1/a.png", "mojo1/a.png ", "a.png ", "\\a.png", "C:a.png"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raws=st.lists(raw_paths, max_size=6))
def test_the_index_view_places_each_line_as_index_line_does(tree: Path, raws: list[str]) -> None:
    """index_view answers the common cases inline (exact, a known prefix, `<project>/<name>`):
    each answer equals the one rule's (``index_line``) when no image's lines disagree."""
    view = PathResolver(tree, index_lines=lambda: [(r, None) for r in raws]).index_view()
    alone = PathResolver(tree)
    assert view.resolved == [alone.index_line(r) for r in raws]


_COMPONENTS = ["M", "x", "y", "mojo1", "Users"]
listed_paths = st.lists(st.sampled_from(_COMPONENTS), min_size=0, max_size=3).flatmap(
    lambda parts: st.sampled_from(["a.png", "b.png"]).map(lambda name: "/".join([*parts, name]))
)
absolute_paths = st.tuples(st.lists(st.sampled_from(_COMPONENTS), min_size=1, max_size=3), listed_paths).map(
    lambda t: "/" + "/".join([*t[0], t[1]])
)


def _answer(resolver: PathResolver, raw: str) -> tuple:
    try:
        r = resolver.resolve(raw)
    except PathError as exc:
        return (type(exc).__name__,)
    return (r.canonical, r.method, r.on_disk)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(listing=st.sets(listed_paths, min_size=1, max_size=8),
       raws=st.lists(absolute_paths, min_size=1, max_size=8))  # fmt: skip
def test_answers_never_depend_on_what_was_resolved_before(tmp_path: Path, listing: set[str],
                                                          raws: list[str]) -> None:  # fmt: skip
    """Prefixes learned from earlier paths are a shortcut, never a different answer: nested
    copies (``x/y/mojo1/a.png`` and ``mojo1/a.png``) under prefixes of every length, resolved in
    one order by one resolver, give what a fresh resolver gives each path alone (an incremental
    validation judges new lines with another history than a full run)."""
    shared = PathResolver(tmp_path, listing=listing)
    for raw in raws:
        alone = _answer(PathResolver(tmp_path, listing=listing), raw)
        quick = shared.quick(raw)
        assert _answer(shared, raw) == alone, raw
        assert quick is None or quick == alone[0], raw

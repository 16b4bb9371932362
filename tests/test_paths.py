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
    res = PathResolver(tree, extra_candidates=lambda: ["mojo3/gone/z.png"])
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

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import curalog
from curalog.embeddings.embedders import ThumbnailEmbedder, get_embedder
from curalog.project import Project
from tests.conftest import SET0, SET1, make_image


def test_thumbnail_is_deterministic_and_discriminative(tmp_path: Path) -> None:
    from PIL import Image

    emb = get_embedder("thumbnail")
    a = Image.new("RGB", (50, 40), "red")
    b = Image.new("RGB", (50, 40), "blue")
    out = emb.embed([a, b, a])
    assert out.shape == (3, ThumbnailEmbedder.dim) and out.dtype == np.float32
    assert np.array_equal(out[0], out[2]) and not np.allclose(out[0], out[1])
    assert np.abs(emb.embed([Image.new("RGB", (9, 9), "black")])).sum() > 0  # never all zeros


def test_embeds_referenced_images_deduplicated_by_content(root: Path) -> None:
    shutil.copy(root / SET0[0], root / "mojo1" / "selected" / "copy_of_set0_stage1.png")
    with curalog.open_project(root, tool="t") as p:
        with p.session() as s, pytest.warns(curalog.DecisionWarning, match="no_embedding"):
            s.log_selection("set0", "mojo1/selected", [*SET0, "copy_of_set0_stage1.png"], 0)
        assert p.ledger.referenced_images() == sorted([*SET0, "mojo1/selected/copy_of_set0_stage1.png"])
        result = p.embed()
        assert result.ok and result.requested == 4 and result.distinct == 3 and result.embedded == 3
        files = list(p.embeddings.directory.glob("*.npy"))
        assert len(files) == 3
        a = p.embeddings.lookup(SET0[0])
        b = p.embeddings.lookup("mojo1/selected/copy_of_set0_stage1.png")
        assert a.hash == b.hash


def test_rerun_recomputes_nothing(embedded: Project) -> None:
    mtimes = {f: f.stat().st_mtime_ns for f in embedded.embeddings.directory.glob("*.npy")}
    again = embedded.embed(SET0 + SET1)
    assert again.embedded == 0 and again.up_to_date == 6 and again.ok
    assert {f: f.stat().st_mtime_ns for f in embedded.embeddings.directory.glob("*.npy")} == mtimes


def test_a_broken_image_is_recorded_and_the_run_goes_on(project: Project, root: Path) -> None:
    (root / SET0[1]).write_bytes(b"not an image at all")
    data = (root / SET1[0]).read_bytes()
    (root / SET1[0]).write_bytes(data[: len(data) // 3])
    result = project.embed(SET0 + SET1)
    failed = dict(result.failed)
    assert set(failed) == {SET0[1], SET1[0]}
    assert "not a readable image" in failed[SET0[1]]
    assert result.embedded == 4 and not result.ok
    assert dict(project.embeddings.failures()) == failed
    # fixed later: the failure record goes away
    make_image(root / SET0[1], (30, 30), "white")
    assert project.embed([SET0[1]]).ok
    assert SET0[1] not in dict(project.embeddings.failures())


def test_missing_only_keeps_other_models(embedded: Project) -> None:
    class Other(ThumbnailEmbedder):
        fingerprint = "other-v1"

    result = embedded.embed(SET0 + SET1, embedder=Other(), missing_only=True)
    assert result.embedded == 0 and result.up_to_date == 6


def test_expand_folders_and_refusals(embedded: Project, root: Path, monkeypatch) -> None:
    monkeypatch.chdir(root)
    paths, refused = embedded.expand(["mojo1/selected", "../elsewhere.png", "nothing_like_it.png"])
    assert paths == sorted(SET0 + SET1)
    assert [t for t, _ in refused] == ["../elsewhere.png", "nothing_like_it.png"]


def test_embedding_is_audited(embedded: Project) -> None:
    entries = [e for e in embedded.audit.entries() if e.data["notes"].startswith("embedding vectors")]
    vector_files = [f for e in entries for f in e.data["files"]]
    assert sorted(vector_files) == sorted(f.name for f in embedded.embeddings.directory.glob("*.npy"))
    assert {e.data["dest_dir"] for e in entries} == {"data/ai_data/cache/embeddings"}
    assert {e.data["operation"] for e in entries} == {"create"}
    created = {e.data["dest_dir"] + "/" + f for e in embedded.audit.entries() for f in e.data["files"]}
    assert {"/curalog.toml", "data/curalog.db"} <= created

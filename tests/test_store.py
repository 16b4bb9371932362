from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from curalog.embeddings.store import TEMP_PREFIX
from curalog.project import Project
from tests.conftest import SET0, SET1

pytestmark = pytest.mark.usefixtures("both_backends")


def by_code(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in report.problems:
        out.setdefault(p.code, []).append(p)
    return out


def test_vectors_are_normalized_float32(embedded: Project) -> None:
    entry = embedded.embeddings.lookup(SET0[0])
    assert entry is not None and entry.dim == 240
    vec = np.load(embedded.embeddings.vector_path(entry.hash))
    assert vec.dtype == np.float32 and vec.shape == (240,)
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    assert embedded.verify().problems == []


def test_file_missing_reported_per_index_line(embedded: Project) -> None:
    digest = embedded.embeddings.lookup(SET0[1]).hash
    embedded.embeddings.vector_path(digest).unlink()
    report = embedded.verify()
    assert not report.ok
    problems = by_code(report)["embedding.file_missing"]
    assert [p.subject for p in problems] == [SET0[1]]
    assert problems[0].fix == f"curalog embed {SET0[1]}"


@pytest.mark.parametrize(
    "content",
    ["truncate", "nan", "zeros", "wrong_length", "two_d", "int"],
)
def test_corrupt_vectors(embedded: Project, content: str) -> None:
    digest = embedded.embeddings.lookup(SET1[0]).hash
    path = embedded.embeddings.vector_path(digest)
    if content == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        arr = {
            "nan": np.full(240, np.nan, np.float32),
            "zeros": np.zeros(240, np.float32),
            "wrong_length": np.ones(100, np.float32),
            "two_d": np.ones((2, 120), np.float32),
            "int": np.ones(240, np.int32),
        }[content]
        np.save(path, arr)
    report = embedded.verify()
    corrupt = by_code(report)["embedding.corrupt"]
    assert len(corrupt) == 1 and digest in corrupt[0].subject
    # a decision on that image would be refused, naming the corrupt file
    assert "is corrupt" in embedded.embeddings.vector_problem(digest)


def test_orphans_and_temp_files(embedded: Project) -> None:
    d = embedded.embeddings.directory
    np.save(d / ("f" * 64 + ".npy"), np.ones(240, np.float32))
    (d / f"{TEMP_PREFIX}999999-abcd-{'e' * 64}.npy").write_bytes(b"partial")
    report = embedded.verify()
    assert report.ok  # warnings only
    orphans = by_code(report)["embedding.orphan_file"]
    assert len(orphans) == 2
    assert any("temp file" in o.message for o in orphans)
    assert any("sound" in o.message for o in orphans)


def test_legacy_indexed_files_are_not_orphans(embedded: Project) -> None:
    d = embedded.embeddings.directory
    np.save(d / ("a" * 64 + ".npy"), np.ones(512, np.float32))
    (embedded.root / "data/ai_data/cache/processed_images.jsonl").write_text(
        '{"image_path": "mojo1/x.png", "hash": "' + "a" * 64 + '", "embedding_dim": 512}\n'
    )
    report = embedded.verify()
    assert report.legacy_files == 1 and report.problems == []


def test_model_mixture(embedded: Project) -> None:
    embedded.db.conn.execute("UPDATE embedding_index SET model = 'other-model' WHERE path = ?", (SET0[0],))
    report = embedded.verify()
    mix = by_code(report)["embedding.model_mixture"]
    assert len(mix) == 1 and "other-model" in mix[0].message and not report.ok


def test_foreign_file_is_never_overwritten(project: Project) -> None:
    digest = project.facts.get(SET0[0]).sha256
    project.embeddings.directory.mkdir(parents=True)
    legacy = project.embeddings.vector_path(digest)
    np.save(legacy, np.arange(1, 513, dtype=np.float32))  # a legacy CLIP vector of that image
    before = legacy.read_bytes()
    result = project.embed([SET0[0], SET0[1]])
    assert [p for p, _ in result.failed] == [SET0[0]]
    assert "left untouched" in result.failed[0][1]
    assert legacy.read_bytes() == before
    assert project.embeddings.lookup(SET0[0]) is None
    assert project.embeddings.lookup(SET0[1]) is not None
    assert project.embeddings.failures()[0][0] == SET0[0]


def test_crash_orphan_of_the_same_vector_is_adopted(embedded: Project) -> None:
    entry = embedded.embeddings.lookup(SET0[0])
    embedded.db.conn.execute("DELETE FROM embedding_index WHERE hash = ?", (entry.hash,))
    assert "orphan" in str(embedded.verify().problems)
    result = embedded.embed([SET0[0]])
    assert result.ok and result.embedded == 1
    assert embedded.verify().problems == []


def test_adopt_orphans(embedded: Project) -> None:
    entry = embedded.embeddings.lookup(SET1[2])
    embedded.db.conn.execute("DELETE FROM embedding_index WHERE hash = ?", (entry.hash,))
    np.save(embedded.embeddings.directory / ("b" * 64 + ".npy"), np.ones(240, np.float32))
    adopted, skipped = embedded.adopt_orphans()
    assert [r.paths for r in adopted if not r.error] == [(SET1[2],)]
    assert skipped == [
        (f"{embedded.embeddings.rel_dir}/{'b' * 64}.npy", "no image under the root has this content hash")
    ]
    assert embedded.embeddings.lookup(SET1[2]).hash == entry.hash


def test_temp_files_of_dead_writers_are_cleaned(embedded: Project) -> None:
    d = embedded.embeddings.directory
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = d / f"{TEMP_PREFIX}{dead_pid}-abcd-{'c' * 64}.npy"
    live = d / f"{TEMP_PREFIX}{os.getpid()}-abcd-{'d' * 64}.npy"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    removed = embedded.embeddings.clean_temp_files()
    assert removed == [stale.name] and not stale.exists() and live.exists()
    audit = "".join(p.read_text() for p in (embedded.root / "data/file_operations_logs").glob("*.log"))
    assert '"delete"' in audit and stale.name in audit


def test_reembedding_with_another_model_replaces_index_first(embedded: Project) -> None:
    from curalog.embeddings.embedders import ThumbnailEmbedder

    class Other(ThumbnailEmbedder):
        fingerprint = "other-v1"

    half = embedded.embed(SET0, embedder=Other())
    assert half.embedded == 3 and not half.ok  # the store now mixes two models: an error
    assert [p.code for p in half.verify.errors] == ["embedding.model_mixture"]
    assert {e.model for e in embedded.embeddings.entries() if e.path in SET0} == {"other-v1"}
    full = embedded.embed(SET0 + SET1, embedder=Other())
    assert full.ok and full.embedded == 3 and full.up_to_date == 3
    assert {e.model for e in embedded.embeddings.entries()} == {"other-v1"}

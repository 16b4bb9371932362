"""``curalog verify`` remembers its last report: when nothing it reads changed (every entry of the
vector folder by stat, the legacy index file, the ledger's index table by its change counter), a
repeat run returns that report as it was (issue 18's repeat-run target), and any change runs it."""

from __future__ import annotations

import json
import os

import numpy as np

from curalog.cli.embeddings import _report_json
from curalog.project import Project
from curalog.validate import validate
from curalog.validate.cache import CACHE_NAME
from curalog.validate.verdicts import verify_project
from tests.conftest import SET0, SET1, make_image


def _vector(p: Project, path: str):
    entry = p.embeddings.lookup(path)
    assert entry is not None
    return p.embeddings.directory / f"{entry.hash}.npy"


def test_a_repeat_run_returns_the_same_report_and_any_change_runs_it(embedded: Project) -> None:
    first = verify_project(embedded)
    assert not first.reused and first.ok
    again = verify_project(embedded)
    assert again.reused and again == first and _report_json(again) == _report_json(first)
    # a vector file changed: read again, its problem reported
    vec = _vector(embedded, SET0[0])
    np.save(vec, np.full(240, np.nan, dtype=np.float32))
    changed = verify_project(embedded)
    assert not changed.reused and not changed.ok and "NaN" in str(changed.problems)
    assert verify_project(embedded).reused  # remembered with its problem
    # the ledger's index changed (a new image embedded): run again
    make_image(embedded.root / "mojo1" / "selected" / "new_stage1.png", (64, 48), "#123456")
    embedded.paths.forget()
    assert embedded.embed(["mojo1/selected/new_stage1.png"]).embedded == 1
    grown = verify_project(embedded)
    assert not grown.reused and grown.index_entries == changed.index_entries + 1
    # a file dropped into the folder (an orphan, a temp file of a killed writer): run again
    (embedded.embeddings.directory / ("f" * 64 + ".npy")).write_bytes(b"\x93NUMPY junk")
    orphan = verify_project(embedded)
    assert not orphan.reused and "embedding.orphan_file" in {p.code for p in orphan.problems}


def test_validate_keeps_verifys_memo_and_a_broken_one_is_run(embedded: Project) -> None:
    first = verify_project(embedded)
    validate(embedded.root)  # writes the shared cache: verify's memo stays
    assert verify_project(embedded).reused
    # a memo of another shape (an older curalog, a damaged file): the run happens, same report
    from curalog.validate.cache import ValidateCache

    cache = ValidateCache(embedded.config.path("database").with_name(CACHE_NAME))
    cache.load_memo()
    cache.load()
    cache.verify_report = '{"problems": 3}'
    cache.changed = True
    cache.save()
    assert not (second := verify_project(embedded)).reused and second == first


def test_the_legacy_index_changing_runs_verify(embedded: Project) -> None:
    verify_project(embedded)
    index = embedded.config.path("embedding_index")
    index.parent.mkdir(parents=True, exist_ok=True)
    digest = embedded.embeddings.lookup(SET1[0]).hash  # type: ignore[union-attr]
    index.write_text(json.dumps({"image_path": SET1[0], "hash": digest, "embedding_dim": 240}) + "\n")
    os.utime(index)
    assert not verify_project(embedded).reused

from __future__ import annotations

from pathlib import Path

import pytest

from curalog.doctor import BAD, OK, WARN, run_doctor
from tests.conftest import SET0
from tests.legacy_project import build

pytestmark = pytest.mark.usefixtures("both_backends")


def test_doctor_on_a_legacy_project(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    build(root)
    steps = run_doctor(root, seed=3)
    assert [s.status for s in steps] == [OK, BAD, BAD, WARN]
    logs, index, sample, paths = steps
    assert any("select_crop_log.csv: 16 lines (15 data lines)" in line for line in logs.lines)
    assert any("2 vectors named by the index are not on disk" in line for line in index.lines)
    assert "embed --missing" in index.next
    assert any("0x0" in line and "zero.png" in line for line in sample.lines)  # all 10 readable rows sampled
    assert "repair sizes" in sample.next
    text = "\n".join(paths.lines)
    assert "absolute, another machine's prefix" in text and "relative to the project root" in text
    # the seed's drift, named with how the one path rule settles it
    assert (
        "index uses `<project>/<name>` without the subfolder for 6 lines; resolved by file name: 4, "
        "by content hash: 1, not found: 1" in text  # (not found: an image deleted since)
    )
    assert "by content hash (shared file name) 2" in text


def test_doctor_on_a_ledger_project(embedded, root: Path) -> None:
    with embedded.session() as s:
        s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50))
    steps = run_doctor(root, seed=0)
    assert steps[0].status == OK and "1 decisions in the ledger" in steps[0].lines[0]
    assert steps[1].status == OK  # every vector named and present
    assert steps[2].status == WARN  # no legacy crop rows to sample


def test_doctor_is_read_only(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    build(root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    run_doctor(root, seed=1)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert not (root / "data" / "curalog.db").exists()

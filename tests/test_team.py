"""A team on one PostgreSQL ledger: two machines that mount the same project at different places
write and read the same decisions (canonical paths are relative to each machine's root)."""

from __future__ import annotations

import shutil

import curalog
from curalog.validate import validate
from tests.conftest import SET0, SET1


def test_two_mount_points_share_one_ledger(root, pg_url, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CURALOG_DATABASE_URL", pg_url)
    with curalog.open_project(root) as a:  # machine A: /.../proj
        assert a.embed(SET0 + SET1).ok
        with a.session(tool="curator A") as s:
            s.log_crop(
                "set0", str(root / "mojo1" / "selected"), [str(root / p) for p in SET0], 1, (10, 10, 300, 200)
            )
    elsewhere = tmp_path / "mnt" / "team" / "proj"  # machine B: the same files under another prefix
    shutil.copytree(root, elsewhere)
    with curalog.open_project(elsewhere) as b:
        seen = list(b.ledger.decisions())
        assert [(d.set_id, d.chosen.path) for d in seen] == [("set0", SET0[1])]  # relative, not A's prefix
        with b.session(tool="curator B") as s:
            s.log_selection("set1", str(elsewhere / "mojo1/selected"), [str(elsewhere / p) for p in SET1], 2)
    with curalog.open_project(root) as a:
        assert [(d.set_id, d.chosen.path) for d in a.ledger.decisions()] == [
            ("set0", SET0[1]),
            ("set1", SET1[2]),
        ]
    for where in (root, elsewhere):  # both machines judge the same ledger clean
        report = validate(where, use_cache=False)
        assert report.usable_crops == 1 and report.usable_selections == 1, report.by_code
        assert not [f for f in report.findings if f.severity == "error"], report.by_code


def test_a_dataset_built_from_the_server_names_the_state_it_read(embedded, pg_url, monkeypatch) -> None:
    from curalog import dataset

    monkeypatch.setenv("CURALOG_DATABASE_URL", pg_url)
    with curalog.open_project(embedded.root) as p, p.session() as s:
        assert p.embed(SET0).ok
        s.log_crop("set0", "mojo1/selected", SET0, 0, (10, 10, 300, 200))
    built = dataset.build(embedded.root)
    kind, server, counter = built.manifest["inputs"]["ledger"]
    assert kind == "postgres" and server.startswith("postgresql://") and counter > 0
    assert "data/curalog.db" not in built.manifest["inputs"]  # no SQLite file was read

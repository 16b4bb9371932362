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


def test_a_nul_in_a_legacy_line_is_kept_on_the_server_and_announced_once(root, pg_url, monkeypatch) -> None:
    """PostgreSQL text holds no NUL; a broken legacy line has one. It is quarantined (shown as
    \\x00) and its finding is the same finding on the next night, not a new one."""
    from curalog.legacy.importer import import_legacy
    from curalog.monitor.health import take_snapshot

    monkeypatch.setenv("CURALOG_DATABASE_URL", pg_url)
    log = root / "data" / "training" / "select_crop_log.csv"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(
        b"timestamp,session_id,set_id,directory,image_count,chosen_index,chosen_path,crop_x1,crop_y1,crop_x2,crop_y2\n"
        b"2025-01-01,s,se\x00t,mojo1,1,0,mojo1/a\x00.png,0,0,1,1\n"
    )
    with curalog.open_project(root) as p:
        summary = import_legacy(p)
        assert summary.reconciles and [q[0] for q in summary.quarantine] == [
            "data/training/select_crop_log.csv"
        ]
        raw = p.db.query("SELECT raw FROM quarantine")[0]["raw"]
        assert "se\\x00t" in raw
        first = take_snapshot(p)
        again = take_snapshot(p)
    assert first.new_findings and again.new_findings == []

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from curalog.audit import AuditLog, query


def test_record_format_matches_legacy(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, script="04_desktop_multi_crop")
    log.record("crop", ["a_stage2.png"], source_dir="mojo1/selected", dest_dir="mojo1/crop", session_id="s1")
    (f,) = tmp_path.glob("file_operations_*.log")
    entry = json.loads(f.read_text())
    assert set(entry) == set(
        [
            "timestamp",
            "session_id",
            "script",
            "operation",
            "source_dir",
            "dest_dir",
            "file_count",
            "files",
            "notes",
        ]
    )
    assert entry["file_count"] == 1 and entry["operation"] == "crop" and entry["session_id"] == "s1"


def test_unknown_operation_refused(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown audit operation"):
        AuditLog(tmp_path).record("shred", ["x"])
    assert not list(tmp_path.glob("*.log"))


def test_query_since_and_path(tmp_path: Path) -> None:
    (tmp_path / "file_operations_20251002.log").write_text(
        '{"timestamp": "2025-10-02T14:05:00", "operation": "move", "source_dir": "mojo1/a", '
        '"dest_dir": "mojo1/b", "files": ["x.png"]}\nnot json\n'
    )
    log = AuditLog(tmp_path)
    log.record("create", ["y.npy"], dest_dir="data/emb")
    assert len(query(log)) == 2
    assert [e.data["operation"] for e in query(log, since="2026-01-01")] == ["create"]
    assert [e.data["operation"] for e in query(log, path="mojo1/b/x.png")] == ["move"]


WRITER = """
import sys
from pathlib import Path
from curalog.audit import AuditLog
log = AuditLog(Path(sys.argv[1]), script="w" + sys.argv[2])
for i in range(300):
    log.record("create", [f"file_{sys.argv[2]}_{i}_" + "x" * 200 + ".npy"], dest_dir="d")
"""


def test_concurrent_writers_keep_lines_whole(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n)]) for n in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = [json.loads(line) for f in tmp_path.glob("*.log") for line in f.read_text().splitlines()]
    assert len(lines) == 1200
    assert {e["script"] for e in lines} == {"w0", "w1", "w2", "w3"}

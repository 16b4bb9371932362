from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SET0, SET1


def curalog(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "curalog", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_version_and_help() -> None:
    out = curalog("--version")
    assert out.returncode == 0 and "curalog 0.1.0" in out.stdout
    out = curalog("--help")
    for command in ("init", "embed", "verify", "audit", "selftest", "demo"):
        assert command in out.stdout


def test_init_then_embed_verify_audit(tmp_path: Path, root: Path) -> None:
    fresh = tmp_path / "new"
    out = curalog("init", str(fresh))
    assert out.returncode == 0 and (fresh / "curalog.toml").exists()
    assert curalog("init", str(fresh)).returncode == 2  # refuses to overwrite

    out = curalog("embed", "mojo1/selected", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "6 embedded" in out.stdout and "no problems" in out.stdout
    out = curalog("embed", "--root", str(root), "mojo1")
    assert out.returncode == 0 and "6 already up to date" in out.stdout

    out = curalog("verify", "--root", str(root), "--format", "json")
    assert out.returncode == 0
    report = json.loads(out.stdout)
    assert report["index_entries"] == 6 and report["errors"] == 0

    out = curalog("audit", "--root", str(root), "--format", "json", "--path", "curalog.db")
    assert out.returncode == 0
    assert [e["operation"] for e in json.loads(out.stdout)] == ["create"]


def test_verify_exit_1_names_the_missing_file(root: Path) -> None:
    assert curalog("embed", "--root", str(root), *SET0).returncode == 0
    victim = next((root / "data/ai_data/cache/embeddings").glob("*.npy"))
    victim.unlink()
    out = curalog("verify", "--root", str(root))
    assert out.returncode == 1
    assert "embedding.file_missing" in out.stdout and victim.name in out.stdout
    assert "fix: curalog embed mojo1/selected/" in out.stdout
    assert curalog("embed", "--root", str(root), *SET0).returncode == 0
    assert curalog("verify", "--root", str(root)).returncode == 0


def test_adopt_orphans_from_cli(root: Path) -> None:
    assert curalog("embed", "--root", str(root), SET1[0]).returncode == 0
    import sqlite3

    with sqlite3.connect(root / "data/curalog.db") as c:
        c.execute("DELETE FROM embedding_index")
    out = curalog("verify", "--root", str(root))
    assert out.returncode == 0 and "embedding.orphan_file" in out.stdout
    out = curalog("verify", "--root", str(root), "--adopt-orphans")
    assert out.returncode == 0 and "adopted" in out.stdout and SET1[0] in out.stdout
    assert "orphan" not in out.stdout.split("adopted", 1)[1]


def test_embed_failure_exits_1_and_names_it(root: Path) -> None:
    (root / SET0[0]).write_bytes(b"junk")
    out = curalog("embed", "--root", str(root), "mojo1")
    assert out.returncode == 1
    assert "failed" in out.stdout and SET0[0] in out.stdout and "5 embedded" in out.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (("verify", "--root", "/no/such/place"), "is not a folder"),
        (("embed", "--root", "{bad}"), "require_embedding"),
        (("embed", "--root", "{root}", "--embedder", "nope"), "unknown embedder"),
        (("verify", "--format", "xml", "--root", "{root}"), "xml"),
    ],
)
def test_usage_and_config_errors_exit_2(root: Path, tmp_path: Path, args, needle) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "curalog.toml").write_text('[policy]\nrequire_embedding = "never"\n')
    args = [a.format(root=root, bad=bad) for a in args]
    out = curalog(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.startswith("curalog:")]) <= 1


def test_no_project_found(tmp_path: Path) -> None:
    out = curalog("verify", cwd=tmp_path)
    assert out.returncode == 2 and "no curalog project" in out.stderr


def test_selftest_passes() -> None:
    out = curalog("selftest")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "selftest PASSED" in out.stdout and "❌" not in out.stdout


def test_demo_builds_a_verified_project(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    out = curalog("demo", str(target), "--sets", "9")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "crop.zero_dimensions" in out.stdout and "crop.placeholder" in out.stdout
    assert "Demo project ready" in out.stdout
    # the simulated loss of a vector file is announced once, and the dashboard is written
    assert "alert 1 new index entry whose vector file is gone" in out.stdout
    assert "run again: nothing new to announce" in out.stdout
    assert "held out: the chosen stage ranked first" in out.stdout  # the loop: build, train
    assert (target / "data" / "models" / "active.json").is_file()
    assert (target / "data" / "health-dashboard.html").is_file()
    assert f"{target / 'data' / 'health-dashboard.html'}" in out.stdout.replace("\n", "")
    import curalog as lib
    from curalog.monitor.health import history

    with lib.open_project(target) as p:
        assert p.ledger.count("crop") == 6 and p.ledger.count("selection") == 3
        problems = p.verify().problems
        lost = next(d.chosen for d in p.ledger.decisions() if d.kind == "crop")
        assert [(x.code, x.subject) for x in problems] == [("embedding.file_missing", lost.path)]
        days = {s.figures.taken_at[:10] for s in history(p)}
        assert len(days) == 5  # 9 sets, two a day: five simulated days with a snapshot each
        rotated = [d for d in p.ledger.decisions() if d.chosen.path.endswith(".jpg")]
        assert rotated, "the demo has an EXIF-rotated set"
        from PIL import Image

        for d in rotated:  # stored sideways (360x480), seen and logged as 480x360
            assert Image.open(target / d.chosen.path).size == (360, 480)
            assert (d.chosen.width, d.chosen.height) == (480, 360)
        kept = next(d for d in p.ledger.decisions() if d.chosen.hash != lost.hash)
        vec = p.embeddings.load(kept.chosen.hash)
        assert np.isclose(np.linalg.norm(vec), 1.0)
    again = curalog("demo", str(target))
    assert again.returncode == 2 and "--fresh" in again.stderr
    assert curalog("demo", str(target), "--sets", "3", "--fresh").returncode == 0
    other = tmp_path / "not_a_demo"
    other.mkdir()
    (other / "precious.txt").write_text("mine")
    refused = curalog("demo", str(other), "--fresh")
    assert refused.returncode == 2 and (other / "precious.txt").read_text() == "mine"


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_read_only_commands_create_nothing_in_a_legacy_project(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    emb = legacy / "data/ai_data/cache/embeddings"
    emb.mkdir(parents=True)
    np.save(emb / ("a" * 64 + ".npy"), np.ones(512, np.float32))
    np.save(emb / ("b" * 64 + ".npy"), np.ones(512, np.float32))
    (legacy / "data/ai_data/cache/processed_images.jsonl").write_text(
        '{"image_path": "/Users/x/mojo1/a.png", "hash": "' + "a" * 64 + '", "embedding_dim": 512}\n'
    )
    (legacy / "data/file_operations_logs").mkdir()
    (legacy / "data/file_operations_logs/file_operations_20251002.log").write_text(
        '{"timestamp": "2025-10-02T14:05:00", "operation": "crop", '
        '"dest_dir": "mojo1/crop", "files": ["a.png"]}\n'
    )
    before = _snapshot(legacy)
    out = curalog("verify", "--root", str(legacy))
    assert out.returncode == 0, out.stderr
    assert "legacy vector files: 1" in out.stdout and "b" * 64 in out.stdout  # one orphan warning
    out = curalog("audit", "--root", str(legacy), "--format", "json", "--since", "2025-10-01")
    assert [e["operation"] for e in json.loads(out.stdout)] == ["crop"]
    assert _snapshot(legacy) == before


def test_embed_with_nothing_referenced_says_how(root: Path) -> None:
    out = curalog("embed", "--root", str(root))
    assert out.returncode == 0 and "nothing to embed" in out.stdout


def test_validate_command_exit_codes_and_output(tmp_path: Path) -> None:
    from tests.legacy_project import build

    legacy = tmp_path / "legacy"
    planted = build(legacy)
    out = curalog("validate", "--root", str(legacy))
    assert out.returncode == 1 and "❌ ERRORS" in out.stdout
    report_file = tmp_path / "report.json"
    out = curalog("validate", "--root", str(legacy), "--format", "json", "--output", str(report_file))
    assert out.returncode == 1 and out.stdout == ""
    data = json.loads(report_file.read_text())
    assert len(data["findings"]) == len(planted.findings)
    assert curalog("validate", "--root", str(tmp_path / "nope")).returncode == 2


def test_validate_strict_fails_on_warnings_only(root: Path) -> None:
    assert curalog("embed", "--root", str(root), *SET0).returncode == 0
    orphan = root / "data/ai_data/cache/embeddings" / ("f" * 64 + ".npy")
    np.save(orphan, np.ones(240, np.float32))
    assert curalog("validate", "--root", str(root)).returncode == 0
    out = curalog("validate", "--root", str(root), "--strict")
    assert out.returncode == 1 and "embedding.orphan_file" in out.stdout


def test_doctor_command(tmp_path: Path) -> None:
    from tests.legacy_project import build

    legacy = tmp_path / "legacy"
    build(legacy)
    out = curalog("doctor", "--root", str(legacy), "--seed", "3")
    assert out.returncode == 1
    for needle in ("1. Logs exist", "2. Embedding index vs files on disk", "3. 10 random crop rows",
                   "4. Paths in each source", "next: curalog repair sizes --apply"):  # fmt: skip
        assert needle in out.stdout, needle


def test_import_and_export_commands(tmp_path: Path) -> None:
    from tests.legacy_project import build

    legacy = tmp_path / "legacy"
    build(legacy)
    out = curalog("import-legacy", "--root", str(legacy), "--dry-run")
    assert out.returncode == 0 and "DRY RUN" in out.stdout and not (legacy / "data/curalog.db").exists()
    out = curalog("import-legacy", "--root", str(legacy))
    assert out.returncode == 0 and "quarantined" in out.stdout and "❌" not in out.stdout
    out = curalog("export-legacy", str(tmp_path / "e"), "--root", str(legacy))
    assert out.returncode == 0 and "select_crop_log.csv: 5 rows" in out.stdout
    assert curalog("export-legacy", str(legacy), "--root", str(legacy)).returncode == 2

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import curalog
from curalog.config import Layout, find_root, load_config


def test_init_writes_legacy_layout_defaults(tmp_path: Path) -> None:
    target = curalog.init_project(tmp_path)
    data = tomllib.loads(target.read_text())
    assert data["layout"]["crop_log"] == "data/training/select_crop_log.csv"
    assert data["layout"]["selection_log"] == "data/training/selection_only_log.csv"
    assert data["layout"]["embedding_index"] == "data/ai_data/cache/processed_images.jsonl"
    assert data["layout"]["embeddings_dir"] == "data/ai_data/cache/embeddings"
    assert data["layout"]["audit_dir"] == "data/file_operations_logs"
    assert data["policy"]["require_embedding"] == "crop"
    cfg = load_config(tmp_path)
    assert cfg.layout == Layout() and cfg.from_file


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    curalog.init_project(tmp_path)
    (tmp_path / "curalog.toml").write_text('[policy]\nrequire_embedding = "all"\n')
    with pytest.raises(curalog.ConfigError, match="already exists"):
        curalog.init_project(tmp_path)
    assert "all" in (tmp_path / "curalog.toml").read_text()


def test_init_is_audited(tmp_path: Path) -> None:
    curalog.init_project(tmp_path)
    logs = list((tmp_path / "data" / "file_operations_logs").glob("file_operations_*.log"))
    assert len(logs) == 1 and '"curalog.toml"' in logs[0].read_text()


def test_legacy_root_without_config_uses_defaults(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    cfg = load_config(tmp_path)
    assert not cfg.from_file and cfg.policy.require_embedding == "crop"


def test_every_config_problem_is_named(tmp_path: Path) -> None:
    (tmp_path / "curalog.toml").write_text(
        '[layout]\ncrop_log = "../outside.csv"\ntypo = 1\n'
        '[policy]\nrequire_embedding = "sometimes"\n[embed]\nbatch_size = 0\n[extra]\n'
    )
    with pytest.raises(curalog.ConfigError) as exc:
        load_config(tmp_path)
    text = str(exc.value)
    for needle in ("crop_log", "typo", "sometimes", "batch_size", "[extra]"):
        assert needle in text


def test_unreadable_toml(tmp_path: Path) -> None:
    (tmp_path / "curalog.toml").write_text("[layout\n")
    with pytest.raises(curalog.ConfigError, match="cannot read"):
        load_config(tmp_path)


def test_find_root_walks_up(tmp_path: Path) -> None:
    curalog.init_project(tmp_path)
    deep = tmp_path / "mojo1" / "selected"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()
    other = tmp_path.parent / "elsewhere"
    other.mkdir()
    with pytest.raises(curalog.ConfigError, match="no curalog project"):
        find_root(other)

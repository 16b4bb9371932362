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


# -- [ledger] url: where the ledger lives ---------------------------------------------------------
def _with_ledger(tmp_path, text: str):
    root = tmp_path / "p"
    root.mkdir()
    (root / "curalog.toml").write_text(text)
    return root


def test_the_ledger_is_the_sqlite_file_by_default(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CURALOG_DATABASE_URL", raising=False)
    from curalog.config import load_config

    assert load_config(_with_ledger(tmp_path, "")).ledger_url == ""
    assert "[ledger]" in __import__("curalog.config").config.default_toml()


def test_a_server_url_without_password_is_taken(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CURALOG_DATABASE_URL", raising=False)
    from curalog.config import load_config

    url = "postgresql://curator@db.example.org/curation"
    assert load_config(_with_ledger(tmp_path, f'[ledger]\nurl = "{url}"\n')).ledger_url == url


@pytest.mark.parametrize(
    "url", ["postgresql://curator:s3cret@db/curation", "postgresql:///c?password=s3cret"]
)
def test_a_password_in_curalog_toml_is_refused_without_showing_it(tmp_path, monkeypatch, url: str) -> None:
    monkeypatch.delenv("CURALOG_DATABASE_URL", raising=False)
    from curalog.config import load_config
    from curalog.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        load_config(_with_ledger(tmp_path, f'[ledger]\nurl = "{url}"\n'))
    assert "holds a password" in str(exc.value) and "CURALOG_DATABASE_URL" in str(exc.value)
    assert "s3cret" not in str(exc.value)


def test_the_environment_wins_and_may_hold_a_password(tmp_path, monkeypatch) -> None:
    from curalog.config import load_config

    monkeypatch.setenv("CURALOG_DATABASE_URL", "postgresql://curator:s3cret@db/team")
    cfg = load_config(_with_ledger(tmp_path, '[ledger]\nurl = "postgresql://other@db/mine"\n'))
    assert cfg.ledger_url == "postgresql://curator:s3cret@db/team"


def test_a_url_that_is_not_postgresql_is_refused_with_every_problem(tmp_path, monkeypatch) -> None:
    from curalog.config import load_config
    from curalog.errors import ConfigError
    from curalog.ledger_url import redacted

    monkeypatch.setenv("CURALOG_DATABASE_URL", "mysql://u:pw@h/db")
    with pytest.raises(ConfigError) as exc:
        load_config(_with_ledger(tmp_path, '[ledger]\nurl = "sqlite:///x.db"\nport = 5\n'))
    text = str(exc.value)
    assert "unknown setting 'port'" in text and "'sqlite:///x.db' must start with postgresql://" in text
    assert "CURALOG_DATABASE_URL 'mysql://u:***@h/db'" in text and "pw@" not in text
    assert redacted("postgresql://a:b@h:5432/d?password=x&sslmode=require") == (
        "postgresql://a:***@h:5432/d?password=***&sslmode=require"
    )

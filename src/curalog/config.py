"""Project root discovery and ``curalog.toml``.

The layout defaults are those of docs/legacy-formats.md, so a project that only has legacy files
(no ``curalog.toml``) is read where its files already are.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

from curalog.errors import ConfigError, shown
from curalog.ledger_url import DATABASE_URL_ENV, url_problem

CONFIG_NAME = "curalog.toml"
#: the layout keys of the legacy files a project reads (the two logs and the embedding index)
LEGACY_FILES = ("selection_log", "crop_log", "embedding_index")
POLICIES = ("all", "crop", "off")


@dataclass(frozen=True)
class Layout:
    """Where each kind of file lives, as POSIX paths relative to the project root."""

    selection_log: str = "data/training/selection_only_log.csv"
    crop_log: str = "data/training/select_crop_log.csv"
    embedding_index: str = "data/ai_data/cache/processed_images.jsonl"
    embeddings_dir: str = "data/ai_data/cache/embeddings"
    audit_dir: str = "data/file_operations_logs"
    database: str = "data/curalog.db"


@dataclass(frozen=True)
class Policy:
    """Rules enforced when a decision is written."""

    # "crop": crops need an embedding of the chosen image, selections only warn;
    # "all": both need one; "off": neither is checked.
    require_embedding: str = "crop"


@dataclass(frozen=True)
class EmbedSettings:
    embedder: str = "thumbnail"
    batch_size: int = 32
    model: str = "openai/clip-vit-base-patch32"  # for "clip": a Hugging Face name or a local folder
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    decode_workers: int = 0  # processes decoding images; 0: one per core
    decode_timeout: float = 30.0  # seconds one image may take to decode before it is skipped
    jpeg_draft: int = 2  # JPEG draft decoding keeps >= this x the model's input size; 0: off
    precision: str = "auto"  # "auto" (GPU: bf16/fp16; CPU: bf16 where native), "fp32", "bf16", "fp16"


@dataclass(frozen=True)
class CurateSettings:
    """The curation web app (``curalog serve``)."""

    # A regular expression matched against each image's file name without extension; the group
    # named ``set`` is the set's name (its variants share it), an optional ``stage`` orders them.
    set_pattern: str = r"^(?P<set>.+)_stage(?P<stage>\d+)$"
    # After a decision: chosen image -> <project>/selected or <project>/crop, the others ->
    # <project>/trash (never deleted); every move is audited. Off by default.
    move_files: bool = False


@dataclass(frozen=True)
class LedgerSettings:
    """Where the ledger lives: empty (the default) is the SQLite file of ``[layout] database``; a
    ``postgresql://`` URL is a PostgreSQL server shared by a team. ``CURALOG_DATABASE_URL`` in the
    environment wins over this setting, so a password never has to sit in the file."""

    url: str = ""


SINK_TYPES = ("command", "webhook", "file")


@dataclass(frozen=True)
class Sink:
    """Where alerts go. ``command``: a program (argument list, no shell) given the alert JSON on
    stdin; ``webhook``: an http(s) URL that gets the JSON POSTed (Slack-compatible ``text``);
    ``file``: a JSON Lines file appended to (relative paths are under the project root)."""

    type: str
    command: tuple[str, ...] = ()
    url: str = ""
    path: str = ""
    timeout: float = 10.0
    name: str = ""  # how reports call it; defaults to the type and its target

    @property
    def label(self) -> str:
        target = " ".join(self.command) if self.type == "command" else self.url or self.path
        return self.name or f"{self.type} {target}"


@dataclass(frozen=True)
class AlertSettings:
    sinks: tuple[Sink, ...] = ()


@dataclass(frozen=True)
class Config:
    root: Path
    layout: Layout
    policy: Policy
    embed: EmbedSettings
    from_file: bool
    alerts: AlertSettings = AlertSettings()
    curate: CurateSettings = CurateSettings()
    #: the ledger's PostgreSQL server (CURALOG_DATABASE_URL, else [ledger] url); "" = the SQLite file
    ledger_url: str = ""

    def path(self, layout_key: str) -> Path:
        """Absolute path of a layout entry, e.g. ``config.path("database")``."""
        return self.root / getattr(self.layout, layout_key)

    def legacy_files(self) -> list[tuple[str, Path]]:
        """(source as reports name it, absolute path) of each legacy log and the index."""
        return [(getattr(self.layout, key), self.path(key)) for key in LEGACY_FILES]

    def owned_paths(self) -> list[Path]:
        """What a report or an export must never be written over: the legacy logs and index, the
        database and its journal files, the settings, and the folders of vectors and audit logs."""
        db = self.path("database")
        return [
            *(path for _source, path in self.legacy_files()),
            db, *(db.with_name(db.name + end) for end in ("-wal", "-shm", "-journal")),
            self.root / CONFIG_NAME, self.path("embeddings_dir"), self.path("audit_dir"),
        ]  # fmt: skip


def default_toml() -> str:
    """The text ``curalog init`` writes: every setting with its default, commented."""
    lay, pol, emb = Layout(), Policy(), EmbedSettings()
    layout_lines = "\n".join(f'{f.name} = "{getattr(lay, f.name)}"' for f in fields(Layout))
    return f"""# curalog project settings. Paths are relative to this file's folder (the project root).

[layout]
{layout_lines}

[policy]
# Which decisions need an embedding of the chosen image before they can be logged:
# "crop" (crops need one, selections warn), "all", or "off".
require_embedding = "{pol.require_embedding}"

[embed]
# "thumbnail" (built in, model-free: demos and tests) or "clip" (pip install 'curalog[clip]').
embedder = "{emb.embedder}"
batch_size = {emb.batch_size}
# For "clip": a Hugging Face model name (looked up in the local cache only) or a model folder.
model = "{emb.model}"
device = "{emb.device}"                 # "auto": CUDA when present; or "cpu", "cuda", "cuda:1"
decode_workers = {emb.decode_workers}                 # image-decoding processes; 0: one per core
decode_timeout = {emb.decode_timeout:g}               # seconds before a hung image is skipped
jpeg_draft = {emb.jpeg_draft}                     # JPEG draft decoding (>= 2x the model input); 0: exact
precision = "{emb.precision}"              # auto: bf16/fp16 on GPU, bf16 on CPUs with native bf16

[ledger]
# Empty: the SQLite file of [layout] database (nothing to set up). A team shares one PostgreSQL
# server: url = "postgresql://curator@db.example.org/curation" (no password here: use ~/.pgpass,
# or set the whole URL in the CURALOG_DATABASE_URL environment variable, which wins).
url = ""

[curate]
# `curalog serve`: the part of a file name (without extension) that names its set; variants of
# one set share it. Default: everything before "_stage<N>".
set_pattern = '{CurateSettings().set_pattern}'
# Move files after each decision (chosen -> <project>/selected or crop, others -> <project>/trash).
move_files = false

# Where `curalog check` sends alerts (each new red flag once; `curalog alerts test` tries them).
# [[alerts.sinks]]
# type = "webhook"                    # POSTs the alert JSON (Slack-compatible "text" field)
# url = "https://hooks.slack.com/services/..."
# [[alerts.sinks]]
# type = "command"                    # runs a program with the alert JSON on stdin
# command = ["notify-send", "curalog"]
# [[alerts.sinks]]
# type = "file"                       # appends one JSON line per alert
# path = "data/alerts.jsonl"
"""


SECTIONS = ("layout", "policy", "embed", "ledger", "alerts", "curate")


def _section(data: dict, name: str, cls: type, problems: list[str]) -> object:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        problems.append(f"[{name}] must be a table")
        return cls()
    known = {f.name: f for f in fields(cls)}
    for key in sorted(set(raw) - set(known)):
        problems.append(f"[{name}] unknown setting {key!r} (known: {', '.join(known)})")
    values = {}
    for key in known:
        if key not in raw:
            continue
        expected = type(getattr(cls(), key))
        value = raw[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            problems.append(f"[{name}] {key} must be a {expected.__name__}, got {value!r}")
            continue
        values[key] = value
    return cls(**values)


def _sinks(data: dict, problems: list[str]) -> AlertSettings:
    raw = data.get("alerts", {})
    if not isinstance(raw, dict):
        problems.append("[alerts] must be a table")
        return AlertSettings()
    for key in sorted(set(raw) - {"sinks"}):
        problems.append(f"[alerts] unknown setting {key!r} (known: sinks)")
    entries = raw.get("sinks", [])
    if not isinstance(entries, list):
        problems.append("[alerts] sinks must be an array of tables ([[alerts.sinks]])")
        return AlertSettings()
    sinks: list[Sink] = []
    for n, entry in enumerate(entries, start=1):
        where = f"[[alerts.sinks]] #{n}"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a table")
            continue
        kind = entry.get("type")
        if kind not in SINK_TYPES:
            problems.append(f"{where} type = {kind!r} must be one of {', '.join(map(repr, SINK_TYPES))}")
            continue
        allowed = {"type", "name", "timeout", {"command": "command", "webhook": "url", "file": "path"}[kind]}
        for key in sorted(set(entry) - allowed):
            problems.append(f"{where} ({kind}) unknown setting {key!r} (known: {', '.join(sorted(allowed))})")
        timeout = entry.get("timeout", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            problems.append(f"{where} timeout must be a positive number of seconds, got {timeout!r}")
            timeout = 10.0
        name = entry.get("name", "")
        if not isinstance(name, str):
            problems.append(f"{where} name must be a string")
            name = ""
        command: tuple[str, ...] = ()
        url = path = ""
        if kind == "command":
            value = entry.get("command")
            if isinstance(value, str) and value.strip():
                command = tuple(shlex.split(value))
            elif isinstance(value, list) and value and all(isinstance(a, str) and a for a in value):
                command = tuple(value)
            else:
                problems.append(f"{where} command must be a program and its arguments (a list or a string)")
        elif kind == "webhook":
            value = entry.get("url")
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                problems.append(f"{where} url must be an http:// or https:// address, got {value!r}")
            else:
                url = value
        else:
            value = entry.get("path")
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where} path must be a file path")
            else:
                path = value
        sinks.append(Sink(kind, command, url, path, float(timeout), name))
    return AlertSettings(tuple(sinks))


def _check_relative(key: str, value: str, problems: list[str]) -> None:
    p = PurePosixPath(value)
    if not value or p.is_absolute() or ".." in p.parts or "\\" in value or not value.isprintable():
        problems.append(
            f"[layout] {key} = {shown(repr(value))} must be a relative path inside the project root, "
            "without control characters"
        )


def compile_pattern(pattern: str) -> Any:
    """A user-given regular expression, compiled by RE2: matching takes linear time, so no
    pattern and no file name can hang ``serve`` (Python's ``re`` backtracks: ``(a+)+$`` on a
    long name never ends). ``ValueError`` says why a pattern is refused."""
    import re2

    options = re2.Options()
    options.log_errors = False  # the reason is raised, not printed by the C++ library
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(
            f"is not a regular expression RE2 accepts ({why}); lookarounds and backreferences are not "
            "supported, so that no pattern can take exponential time"
        ) from exc


def load_config(root: str | os.PathLike[str]) -> Config:
    """Read ``root/curalog.toml`` (or use the defaults when there is none).

    Raises ConfigError naming every problem in the file.
    """
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise ConfigError(f"project root {shown(repr(str(root_path)))} is not a folder")
    root_path = root_path.resolve()
    cfg_file = root_path / CONFIG_NAME
    if not os.path.lexists(cfg_file) and not (root_path / "data").is_dir():
        raise ConfigError(
            f"{shown(str(root_path))} is not a curalog project (no {CONFIG_NAME} and no data/ folder); "
            "run `curalog init` there or pass the right --root"
        )
    data: dict = {}
    if os.path.lexists(cfg_file):  # a dangling link is an error, never "no settings, use defaults"
        try:
            data = tomllib.loads(cfg_file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"cannot read {cfg_file}: it is a symlink to {os.readlink(cfg_file)!r}, which does not exist"
            ) from exc
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
            raise ConfigError(f"cannot read {cfg_file}: {exc}") from exc
    problems: list[str] = []
    for key in sorted(set(data) - set(SECTIONS)):
        problems.append(f"unknown section [{key}] (known: {', '.join(SECTIONS)})")
    layout = _section(data, "layout", Layout, problems)
    policy = _section(data, "policy", Policy, problems)
    embed = _section(data, "embed", EmbedSettings, problems)
    alerts = _sinks(data, problems)
    curate = _section(data, "curate", CurateSettings, problems)
    assert isinstance(curate, CurateSettings)
    ledger_url = _ledger_url(data, problems)
    try:
        if "set" not in compile_pattern(curate.set_pattern).groupindex:
            problems.append(
                f"[curate] set_pattern {curate.set_pattern!r} has no group named 'set': (?P<set>...)"
            )
    except ValueError as exc:
        problems.append(f"[curate] set_pattern {curate.set_pattern!r} {exc}")
    assert isinstance(layout, Layout)
    assert isinstance(policy, Policy)
    assert isinstance(embed, EmbedSettings)
    for f in fields(Layout):
        _check_relative(f.name, getattr(layout, f.name), problems)
    if policy.require_embedding not in POLICIES:
        problems.append(
            f"[policy] require_embedding = {policy.require_embedding!r} must be one of "
            + ", ".join(repr(p) for p in POLICIES)
        )
    if embed.batch_size < 1:
        problems.append(f"[embed] batch_size must be >= 1, got {embed.batch_size}")
    if embed.decode_workers < 0:
        problems.append(f"[embed] decode_workers must be >= 0 (0: one per core), got {embed.decode_workers}")
    if embed.decode_timeout <= 0:
        problems.append(f"[embed] decode_timeout must be > 0 seconds, got {embed.decode_timeout:g}")
    if embed.precision not in ("auto", "fp32", "bf16", "fp16"):
        problems.append(f"[embed] precision must be auto, fp32, bf16 or fp16, got {embed.precision!r}")
    if embed.jpeg_draft not in (0, 1, 2, 4, 8):
        problems.append(f"[embed] jpeg_draft must be 0 (off), 1, 2, 4 or 8, got {embed.jpeg_draft}")
    if problems:
        raise ConfigError(f"{cfg_file}: " + "; ".join(problems))
    return Config(root_path, layout, policy, embed, from_file=cfg_file.exists(), alerts=alerts, curate=curate,
                  ledger_url=ledger_url)  # fmt: skip


def _ledger_url(data: dict, problems: list[str]) -> str:
    """The ledger server's URL: the environment's, else ``[ledger] url`` (no password there)."""
    ledger = _section(data, "ledger", LedgerSettings, problems)
    assert isinstance(ledger, LedgerSettings)
    if ledger.url:
        why = url_problem(ledger.url, "[ledger] url", password_allowed=False)
        if why:
            problems.append(why)
    env = os.environ.get(DATABASE_URL_ENV, "")
    if env:
        why = url_problem(env, DATABASE_URL_ENV, password_allowed=True)
        if why:
            problems.append(why)
        return env
    return ledger.url


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above ``start`` holding ``curalog.toml`` or a ``data/`` folder."""
    here = Path(start if start is not None else Path.cwd()).expanduser().resolve()
    for folder in (here, *here.parents):
        if os.path.lexists(folder / CONFIG_NAME) or (folder / "data").is_dir():
            return folder
    raise ConfigError(
        f"no curalog project at or above {here} (no {CONFIG_NAME} and no data/ folder); "
        "run `curalog init` there or pass --root"
    )

"""Where a dataset is written: the output folder, checked before a build; the temp folder beside
it, swapped in whole when written (a kill leaves the old set or the new one, never a half-written
one); the set it replaced; and the temp folders that killed builds left behind."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from curalog.audit import AuditLog
from curalog.config import Config
from curalog.errors import ConfigError, listing, shown
from curalog.files import check_output_folder, swap_folder, target_of

FILES = ("crops.parquet", "pairs.parquet", "embeddings.npy", "manifest.json", "drops.csv")
#: the other tools' formats a build may add (``--format``): a subfolder each, holding these files
FORMAT_FILES = {
    "coco": ("annotations.json",),
    "labelstudio": ("config.xml", "tasks.json"),
    "fiftyone": ("data.json", "labels.json"),
}
# <target's parent>/.<name>.curalog-building-<host>-<pid>[.old]: a build's temp folder
BUILDING = ".curalog-building-"
STALE_AFTER = 24 * 3600  # seconds without a change after which another machine's temp folder is stale


def is_dataset(folder: Path) -> bool:
    """True when ``folder`` holds a dataset curalog built (its manifest says so)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "curalog" in manifest and "reconciliation" in manifest


def dataset_target(config: Config, out: str | os.PathLike[str] | None, *, force: bool = False) -> Path:
    """The folder a build writes (symlinks followed), or ``ConfigError`` saying why not.

    ``--force`` replaces only a dataset curalog built (its manifest and nothing else); never
    the project root, a folder above it, a folder that holds or is one of the project's own
    files (the logs, the database, the vectors, the audit log), or anything inside those."""
    target = Path(out).expanduser() if out is not None else config.root / "data" / "dataset"
    real = target_of(target)
    named = f"--out {shown(target)}"
    check_output_folder(real, config.root, config.owned_paths(), named, verb="replace")
    try:
        present = sorted(os.listdir(real)) if real.is_dir() else []
    except OSError as exc:
        raise ConfigError(f"{named}: {exc.strerror or exc}") from exc
    if not present:
        return real
    if not is_dataset(real):
        raise ConfigError(f"{named} is not empty and holds no curalog dataset (manifest.json); curalog "
                          "replaces only a dataset it built: choose a new or empty folder")  # fmt: skip
    foreign = _not_dataset_files(real, present)
    if foreign:
        raise ConfigError(f"{named} holds a dataset and other files: {listing(foreign)}; move them out first")
    if not force:
        raise ConfigError(f"{named} holds a dataset already; pass --force to replace it")
    return real


def write_swapped(
    target: Path, writers: dict[str, Callable[[Path], None]], audit: AuditLog, force: bool
) -> bool:
    """Write the set into a temp folder beside ``target`` (``writers``: file name -> the function
    that writes it at the path given, in order), then swap it in. True when a set was replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target, audit)
    tmp = target.with_name(_building_name(target))
    shutil.rmtree(tmp, ignore_errors=True)  # this process's own, from an earlier call
    tmp.mkdir()
    try:
        for name, write in writers.items():
            write(tmp / name)
        # without --force only an empty folder (or none) is replaced: a set another build wrote
        # there meanwhile is not
        empty = target.is_dir() and not any(target.iterdir())
        old = swap_folder(tmp, target, replace=force or empty)
    except FileExistsError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConfigError(f"--out {shown(target)}: another build wrote a dataset there meanwhile; "
                          "pass --force to replace it") from exc  # fmt: skip
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        _remove_replaced(old, target, audit)
    return old is not None


def _building_name(target: Path) -> str:
    return f".{target.name}{BUILDING}{socket.gethostname()}-{os.getpid()}"


def _stale(path: Path) -> bool:
    """A temp folder whose build is gone: this machine's with a dead pid, or (another machine's, or
    a container's, whose pids this one cannot see) nothing changed in it for a day."""
    host, _, pid = path.name.split(BUILDING, 1)[1].removesuffix(".old").rpartition("-")
    if not pid.isdigit():
        return False
    if host == socket.gethostname() and not os.path.exists(f"/proc/{pid}"):
        return True
    try:
        newest = max([path.stat().st_mtime, *(e.stat().st_mtime for e in os.scandir(path))])
    except OSError:
        return False
    return time.time() - newest > STALE_AFTER


def _remove_leftovers(target: Path, audit: AuditLog) -> None:
    """Remove the temp folders of builds that were killed (see ``_stale``), audited."""
    for path in target.parent.glob(f".{glob.escape(target.name)}{BUILDING}*"):
        if not path.is_dir() or path.is_symlink() or not _stale(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        audit.record("delete", [path.name], dest_dir=str(path.parent), notes="temp folder of a killed build")


def _remove_replaced(old: Path, target: Path, audit: AuditLog) -> None:
    """Delete the set that was replaced, checked again now: a file saved into it while the build
    ran (it was checked before) is kept, with the folder, and said so in the audit log."""
    if not _not_dataset_files(old, os.listdir(old)):
        shutil.rmtree(old)
        return
    kept = target.with_name(f"{target.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    os.rename(old, kept)
    why = "the replaced dataset held files added during the build: kept, not deleted"
    audit.record("move", [old.name], source_dir=str(old.parent), dest_dir=str(kept), notes=why)


def _not_dataset_files(folder: Path, names: list[str]) -> list[str]:
    """The entries of ``folder`` that are not one of a dataset's files as a build writes them (a
    regular file, not a link; a format's subfolder that the set's manifest lists, holding only its
    own files): what ``--force`` must never delete."""
    formats = _formats_of(folder)
    return [n for n in sorted(names) if not _built(folder / n, formats)]


def _formats_of(folder: Path) -> set[str]:
    """The formats the dataset in ``folder`` says it wrote (its manifest's ``formats``)."""
    manifest = folder / "manifest.json"
    if manifest.is_symlink() or not manifest.is_file():
        return set()
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return set()
    formats = data.get("formats") if isinstance(data, dict) else None
    return {f for f in formats if isinstance(f, str)} if isinstance(formats, dict) else set()


def _built(path: Path, formats: set[str]) -> bool:
    """A file a build writes (a regular file, not a link), or the subfolder of a format the set
    wrote, holding only that format's files."""
    if path.is_symlink():
        return False
    if path.name in FILES:
        return path.is_file()
    if path.name not in FORMAT_FILES or path.name not in formats or not path.is_dir():
        return False
    own = FORMAT_FILES[path.name]
    return all(e.name in own and e.is_file(follow_symlinks=False) for e in os.scandir(path))

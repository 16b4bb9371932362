"""The file-operation audit log: one JSON line per operation curalog performs on a file.

Format and location follow docs/legacy-formats.md (``file_operations_YYYYMMDD.log``), so the logs
users already keep and the ones curalog writes can be read together.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from curalog.errors import ConfigError, shown
from curalog.files import append_record, is_stream

OPERATIONS = ("move", "copy", "delete", "crop", "create", "send_to_trash")


def now_local() -> datetime:
    return datetime.now().astimezone()


def local_iso(ts: datetime) -> str:
    """Local time with its UTC offset, to the second (``2025-10-02T14:03:11+02:00``): the legacy
    logs' and the audit log's format, and the ledger's timestamps. Reports use ``health.utc_iso``."""
    return ts.isoformat(timespec="seconds")


_SINCE = re.compile(r"^\d{4}-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?$")


def check_since(since: str | None) -> str | None:
    """``since`` if it is an ISO date or timestamp (``2025-10-01``, ``2025-10-01T14:00``), else
    ``ConfigError``: a typo must not filter every decision out and make a run look clean."""
    if since is None:
        return None
    ok = _SINCE.match(since) is not None
    if ok:
        try:
            datetime.fromisoformat(since if len(since) > 7 else f"{since}-01")
        except ValueError:
            ok = False
    if not ok:
        raise ConfigError(
            f"--since {shown(since)!r} is not an ISO date: write 2025-10-01 or 2025-10-01T14:00"
        )
    return since.replace(" ", "T")  # compared as text with timestamps written with a T


@dataclass(frozen=True)
class AuditEntry:
    source: str  # the log file it came from
    line: int
    data: dict

    @property
    def timestamp(self) -> str:
        return str(self.data.get("timestamp", ""))

    def paths(self) -> list[str]:
        """Every path the entry names: each file joined to its source and destination folders."""
        out = []
        for name in self.data.get("files") or []:
            for folder in (self.data.get("source_dir"), self.data.get("dest_dir")):
                out.append(f"{folder}/{name}" if folder else str(name))
        return out


class AuditLog:
    """Appends to ``<dir>/file_operations_YYYYMMDD.log``; each line is one ``write()``."""

    def __init__(self, directory: Path, script: str = "curalog") -> None:
        self.directory = directory
        self.script = script

    def require(self, doing: str) -> None:
        """``ConfigError`` when no line can be appended (a read-only project): a command that would
        write a file must not write one it cannot record. Checked before it writes anything."""
        folder = self.directory
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        today = self.directory / f"file_operations_{now_local():%Y%m%d}.log"
        blocked = folder if not os.access(folder, os.W_OK) else None
        if blocked is None and os.path.lexists(today) and not (today.is_file() and os.access(today, os.W_OK)):
            blocked = today  # read-only, or not a regular file (a folder, a named pipe)
        if blocked is not None:
            raise ConfigError(
                f"cannot {doing}: the audit log cannot be written ({shown(blocked)} is not a writable "
                "file), and curalog writes no file it cannot record; print to the terminal instead, or "
                "make the project writable"
            )

    def require_for(self, output: os.PathLike[str] | str, doing: str) -> None:
        """``require`` when writing ``output`` makes a file; a terminal, a pipe or a device makes
        none, so it needs no audit line (and works on a read-only project)."""
        if not is_stream(output):
            self.require(doing)

    def record(
        self,
        operation: str,
        files: list[str],
        *,
        source_dir: str = "",
        dest_dir: str = "",
        session_id: str = "",
        notes: str = "",
    ) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown audit operation {operation!r}; one of {OPERATIONS}")
        ts = now_local()
        entry = {
            "timestamp": local_iso(ts),
            "session_id": session_id,
            "script": self.script,
            "operation": operation,
            "source_dir": source_dir,
            "dest_dir": dest_dir,
            "file_count": len(files),
            "files": list(files),
            "notes": notes,
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"file_operations_{ts:%Y%m%d}.log"
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        append_record(target, data)

    def record_created(self, path: Path, root: Path, notes: str) -> None:
        """A ``create`` entry for a file curalog made (its folder relative to ``root`` if inside)."""
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        folder, _, name = rel.rpartition("/")
        self.record("create", [name], dest_dir=folder, notes=notes)

    def entries(self) -> Iterator[AuditEntry]:
        """Every entry of every log file, oldest file first; unparseable lines are skipped."""
        if not self.directory.is_dir():
            return
        for log in sorted(self.directory.glob("*.log")):
            with open(log, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, start=1):
                    try:
                        data = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(data, dict):
                        yield AuditEntry(log.name, n, data)


def query(log: AuditLog, since: str | None = None, path: str | None = None) -> list[AuditEntry]:
    """Entries at or after ``since`` (ISO date or timestamp) that name ``path`` (a substring)."""
    check_since(since)
    out = []
    for entry in log.entries():
        if since and entry.timestamp[: len(since)] < since:
            continue
        if path and not any(path in p for p in entry.paths()):
            continue
        out.append(entry)
    return out

"""A throwaway PostgreSQL server for the tests: Debian's ``initdb`` + ``pg_ctl``, on a Unix socket in
a temp folder (no TCP port), stopped and removed at the end.

The server refuses to run as root, and CI runs as root: there the cluster is made and started as
the ``postgres`` user (``runuser``), which owns the temp folder. Any other user runs it as
itself. No mock: every PostgreSQL test talks to this real server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def available() -> str | None:
    """Why no server can be started here, or None when one can."""
    if _binary("initdb") is None or _binary("pg_ctl") is None:
        return "PostgreSQL's initdb/pg_ctl are not installed (make test installs Debian's postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    return None


class PgServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="curalog-pg-"))
        self.data = self.folder / "data"
        self.socket = self.folder / "sock"
        self.log = self.folder / "server.log"
        self._as: list[str] = []
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.folder, pg.pw_uid, pg.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
            self.user = "postgres"
        self._run(["mkdir", "-p", str(self.socket)])

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *cmd], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PgServer:
        self._run([_binary("initdb") or "initdb", "-D", str(self.data), "-A", "trust", "-U", self.user,
                   "--no-instructions", "-E", "UTF8", "--locale", "C"])  # fmt: skip
        options = (
            f"-k {self.socket} -c listen_addresses='' -c fsync=on -c synchronous_commit=on "
            "-c max_connections=100 -c shared_buffers=32MB"
        )
        self._run([_binary("pg_ctl") or "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                   "-o", options, "start"])  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql:///{database}?host={self.socket}&user={self.user}"

    def new_database(self) -> str:
        """A fresh empty database on this server; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run([_binary("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)

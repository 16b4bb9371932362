"""The local web app (``curalog serve``): curation (pick + crop) and the live dashboard."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from curalog.errors import ConfigError
from curalog.web.app import TOKEN_HEADER, create_app, url_for

__all__ = ["TOKEN_HEADER", "Running", "create_app", "serve", "start", "url_for"]


@dataclass
class Running:
    """A server started by ``start``: its URL (with the token), token, port; ``stop()`` ends it."""

    url: str
    token: str
    port: int
    server: object
    sock: socket.socket
    app: FastAPI
    thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]

    def run(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C) or ``stop()``."""
        self.server.run(sockets=[self.sock])  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        if self.thread is not None:
            self.thread.join()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)  # connections queue from now on: no waiting for the server to start
    return sock


def start(
    root: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    move_files: bool | None = None,
    background: bool = True,
) -> Running:
    """Bind ``host:port`` (0: any free port) and build the app; serve it in a thread when
    ``background``, else call ``.run()`` (blocks until interrupted)."""
    import uvicorn

    sock = _bind(host, port)
    token = secrets.token_urlsafe(24)
    app = create_app(root, token=token, host=host, move_files=move_files)
    config = uvicorn.Config(app, log_level="warning", access_log=False, limit_concurrency=64)
    server = uvicorn.Server(config)
    actual = sock.getsockname()[1]
    running = Running(url_for(host, actual, token), token, actual, server, sock, app)
    if background:
        running.thread = threading.Thread(target=running.run, daemon=True)
        running.thread.start()
    return running


def serve(
    root: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    move_files: bool | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted, saying how many sets are left and the URL with this run's token."""
    running = start(root, host=host, port=port, move_files=move_files, background=False)
    curator = running.app.state.curator
    say(f"curalog serve: {len(curator.queue())} of {len(curator.sets)} sets left in {curator.project.root}")
    say(f"open {running.url}   (Ctrl-C stops)")
    running.run()

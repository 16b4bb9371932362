"""``curalog serve``: the curation web app."""

from __future__ import annotations

from typing import Annotated

import typer

from curalog.cli.options import RootOpt, console, err
from curalog.config import find_root
from curalog.errors import ConfigError


def serve(
    root: RootOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind. Anything but 127.0.0.1 exposes your images.")
    ] = "127.0.0.1",
    move_files: Annotated[
        bool | None,
        typer.Option(
            "--move-files/--no-move-files",
            help="After each decision move the chosen image to selected/ or crop/ and the others to "
            "trash/ (audited, never deleted). Default: [curate] move_files in curalog.toml.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The curation web app: pick and crop in the browser; every save goes through the ledger."""
    from curalog.web import serve as run_server
    from curalog.web.app import LOCAL_HOSTS

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} must be 0 to 65535")
    if host not in LOCAL_HOSTS:
        err.print(
            f"[bold yellow]warning:[/] serving on {host}: anyone who can reach this address can see "
            "your images (writes still need the token)."
        )

    def say(line: str) -> None:
        console.print(line, soft_wrap=True, markup=False, highlight=False)

    folder = root if root is not None else find_root()
    run_server(folder, host=host, port=port, move_files=move_files, say=say)

"""The ledger itself: ``ledger migrate`` (a project's SQLite ledger to a PostgreSQL server)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from curalog.cli.options import RootOpt, console
from curalog.config import find_root, load_config

ledger_app = typer.Typer(help="The ledger: move it to a PostgreSQL server.", no_args_is_help=True)


@ledger_app.command("migrate")
def migrate(
    to: Annotated[
        str | None,
        typer.Option("--to", help="postgresql://... of an empty database (default: CURALOG_DATABASE_URL)."),
    ] = None,
    root: RootOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check both sides; copy nothing.")] = False,
) -> None:
    """Copy the SQLite ledger to PostgreSQL, table by table, and reconcile counts and content hashes."""
    from curalog.db.migrate import migrate_project

    config = load_config(root if root is not None else find_root())
    result = migrate_project(config, to, dry_run=dry_run)
    table = Table(
        "table", "rows (SQLite)", "rows (server)", "content", title=f"{result.source} → {result.target}"
    )
    for t in result.tables:
        table.add_row(t.table, f"{t.source_rows:,}", f"{t.target_rows:,}", "equal" if t.equal else "—")
    console.print(table)
    said = {
        "copied": f"copied {result.rows:,} rows; every table's count and content hash reconcile",
        "already there": "the server already holds this ledger: nothing to do",
        "nothing to copy": "the ledger is empty: nothing to copy",
        "would copy": f"dry run: {result.rows:,} rows would be copied into the empty database",
    }[result.action]
    console.print(said, highlight=False)
    if result.action in ("copied", "already there"):
        console.print(
            "next: set [ledger] url in curalog.toml (no password: use ~/.pgpass) or CURALOG_DATABASE_URL; "
            "the SQLite file stays as it was",
            highlight=False,
        )

"""The legacy CSV/JSONL logs: ``import-legacy`` into the ledger, ``export-legacy`` back out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from curalog.cli.options import RootOpt, console, force_option, open_for, rich_progress

SHOWN_QUARANTINED = 20  # quarantined lines printed; the quarantine table holds every one
SHOWN_NOTES = 10  # import notes printed; the import_notes table holds every one


def import_legacy(
    root: RootOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would happen; keep nothing.")] = False,
) -> None:
    """Take the legacy CSV/JSONL logs into the ledger: every line imported or quarantined."""
    from curalog.legacy.importer import import_legacy as run_import

    with open_for(root, "import-legacy") as proj, rich_progress("import", transient=True) as progress:
        summary = run_import(proj, dry_run=dry_run, progress=progress)
    title = "DRY RUN — nothing was kept" if dry_run else "import-legacy"
    table = Table(
        "file", "lines", "imported now", "imported before", "quarantined", "reconciles", title=title
    )
    for f in summary.files:
        table.add_row(f.source, f"{f.lines:,}", f"{f.imported:,}", f"{f.already:,}", f"{f.quarantined:,}",
                      "✅" if f.reconciles else "❌")  # fmt: skip
    console.print(table)
    for source, line, codes, why in summary.quarantine[:SHOWN_QUARANTINED]:
        console.print(f"  [yellow]quarantined[/] {source}:{line} [{codes}] {escape(why)}", highlight=False)
    for source, line, note in summary.notes[:SHOWN_NOTES]:
        console.print(f"  [cyan]note[/] {source}:{line} {escape(note)}", highlight=False)
    if len(summary.notes) > SHOWN_NOTES:
        console.print(f"  … and {len(summary.notes) - SHOWN_NOTES:,} more notes (table import_notes)")
    if len(summary.quarantine) > SHOWN_QUARANTINED:
        more = len(summary.quarantine) - SHOWN_QUARANTINED
        console.print(f"  … and {more:,} more (the quarantine table holds every one)")
    if not summary.reconciles:
        raise typer.Exit(1)


def export_legacy(
    directory: Annotated[Path, typer.Argument(help="Folder to write the legacy layout into.")],
    root: RootOpt = None,
    force: Annotated[bool, force_option("Replace files already in DIRECTORY.")] = False,
) -> None:
    """Write the ledger as legacy CSV/JSONL (same columns), for scripts that still read them."""
    from curalog.legacy.exporter import export_legacy as run_export

    with open_for(root, "export-legacy") as proj:
        summary = run_export(proj, directory, force=force)
    for path, n in summary.files.items():
        console.print(f"wrote {path}: {n:,} rows")
    for decision_id, why in summary.refused:
        console.print(f"[yellow]not exported[/] decision {decision_id}: {why}")
    if summary.refused:
        raise typer.Exit(1)

"""Other tools' formats: ``export coco`` (the crop decisions as a COCO detection file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curalog.cli.options import RootOpt, console, force_option, open_for

export_app = typer.Typer(help="The decisions in other tools' formats.", no_args_is_help=True)


@export_app.command("coco")
def export_coco(
    file: Annotated[Path, typer.Argument(help="The COCO JSON file to write.")],
    root: RootOpt = None,
    force: Annotated[bool, force_option("Replace FILE if it exists.")] = False,
) -> None:
    """Write the live crop decisions as COCO (integer pixel boxes, a curalog block per item)."""
    from curalog.interop.coco import export_coco as run_export

    with open_for(root, "export coco") as proj:
        result = run_export(proj, file, force=force)
    console.print(
        f"wrote {result.path}: {result.crops:,} crops on {result.images:,} images; "
        f"{len(result.left_out):,} of {result.decisions:,} decisions not exported",
        highlight=False,
    )
    reasons: dict[str, int] = {}
    for _decision, why in result.left_out:
        key = "selections (no box)" if why.startswith("a selection") else why
        reasons[key] = reasons.get(key, 0) + 1
    for why, n in sorted(reasons.items()):
        console.print(f"  not exported: {n:,} {why}", highlight=False)


import_app = typer.Typer(
    help="Decisions from other tools' formats, through the ledger's checks.", no_args_is_help=True
)


@import_app.command("coco")
def import_coco(
    file: Annotated[Path, typer.Argument(help="A COCO detection JSON file.")],
    root: RootOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would happen; keep nothing.")] = False,
) -> None:
    """Take COCO annotations in as crop decisions; every refusal named with its finding codes."""
    from curalog.interop.coco import import_coco as run_import

    with open_for(root, "import coco") as proj:
        result = run_import(proj, file, dry_run=dry_run)
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{result.annotations:,} annotations: {verb} {result.imported:,}, "
        f"imported before {result.already:,}, refused {len(result.refused):,}"
        + (" (dry run: nothing kept)" if dry_run else ""),
        highlight=False,
    )
    for number, why in result.refused[:20]:
        console.print(f"  refused annotation {number}: {why}", highlight=False)
    if result.refused or not result.reconciles:
        raise typer.Exit(1)

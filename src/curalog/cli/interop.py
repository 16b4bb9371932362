"""Other tools' formats: ``export coco`` (the crop decisions as a COCO detection file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from curalog.cli.options import RootOpt, console, force_option, open_for

if TYPE_CHECKING:
    from curalog.interop.intake import Intake
    from curalog.interop.items import Exported

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
    say_exported(result, "crops")


def say_exported(result: Exported, what: str) -> None:
    console.print(
        f"wrote {result.path}: {result.written:,} {what} on {result.images:,} images; "
        f"{len(result.left_out):,} of {result.decisions:,} decisions not exported",
        highlight=False,
    )
    for why, n in result.reasons().items():
        console.print(f"  not exported: {n:,} ({why})", highlight=False)


def say_imported(result: Intake) -> None:
    """The import's account in one line, each refusal (the first 20) and each skip reason; exit 1
    when anything was refused or the account does not add up."""
    verb = "would import" if result.dry_run else "imported"
    console.print(
        f"{result.items:,} annotations: {verb} {result.imported:,}, imported before {result.already:,}, "
        f"refused {len(result.refused):,}, skipped {len(result.skipped):,}"
        + (" (dry run: nothing kept)" if result.dry_run else ""),
        highlight=False,
    )
    for number, why in result.refused[:20]:
        console.print(f"  refused annotation {number}: {why}", highlight=False)
    for why, n in result.skip_reasons().items():
        console.print(f"  skipped {n:,}: {why}", highlight=False)
    if result.refused or not result.reconciles:
        raise typer.Exit(1)


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
    say_imported(result)

"""Other tools' formats: ``export coco|labelstudio|fiftyone`` and ``import coco|labelstudio``."""

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


@export_app.command("labelstudio")
def export_labelstudio(
    folder: Annotated[Path, typer.Argument(help="The folder to write (new, empty, or an earlier export).")],
    root: RootOpt = None,
    url_prefix: Annotated[
        str, typer.Option("--url-prefix", help="Put before each project path in the tasks' image URLs.")
    ] = "/data/local-files/?d=",
    force: Annotated[bool, force_option("Replace the files of an earlier export in FOLDER.")] = False,
) -> None:
    """Write a Label Studio labeling config and task export: every live decision, boxes in percent."""
    from curalog.interop.labelstudio import export_labelstudio as run_export

    with open_for(root, "export labelstudio") as proj:
        result = run_export(proj, folder, url_prefix=url_prefix, force=force)
    say_exported(result, "decisions")
    console.print(f"  files: {', '.join(result.files)}; import config.xml as the project's labeling "
                  "interface and tasks.json as its tasks", highlight=False)  # fmt: skip


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


DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would happen; keep nothing.")]


def _take_in(fmt: str, file: Path, root: Path | None, dry_run: bool) -> None:
    """Run ``curalog.interop.<fmt>.import_<fmt>`` and say its account."""
    import importlib

    run_import = getattr(importlib.import_module(f"curalog.interop.{fmt}"), f"import_{fmt}")
    with open_for(root, f"import {fmt}") as proj:
        result = run_import(proj, file, dry_run=dry_run)
    say_imported(result)


@import_app.command("coco")
def import_coco(
    file: Annotated[Path, typer.Argument(help="A COCO detection JSON file.")],
    root: RootOpt = None,
    dry_run: DryRun = False,
) -> None:
    """Take COCO annotations in as crop decisions; every refusal named with its finding codes."""
    _take_in("coco", file, root, dry_run)


@import_app.command("labelstudio")
def import_labelstudio(
    file: Annotated[Path, typer.Argument(help="A Label Studio JSON task export.")],
    root: RootOpt = None,
    dry_run: DryRun = False,
) -> None:
    """Take Label Studio annotations in as decisions; every refusal and skip named with its reason."""
    _take_in("labelstudio", file, root, dry_run)

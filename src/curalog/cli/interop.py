"""Other tools' formats: ``export coco|labelstudio|fiftyone`` and ``import coco|labelstudio``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from curalog.cli.options import RootOpt, console, force_option, open_for, rich_progress

if TYPE_CHECKING:
    from curalog.interop.intake import Intake
    from curalog.interop.items import Exported

export_app = typer.Typer(help="The decisions in other tools' formats.", no_args_is_help=True)


Folder = Annotated[Path, typer.Argument(help="The folder to write (new, empty, or an earlier export).")]
ForceFolder = Annotated[bool, force_option("Replace the files of an earlier export in FOLDER.")]


def _give_out(fmt: str, target: Path, root: Path | None, what: str, **options: object) -> Exported:
    """Run ``curalog.interop.<fmt>.export_<fmt>`` and say its account."""
    import importlib

    run_export = getattr(importlib.import_module(f"curalog.interop.{fmt}"), f"export_{fmt}")
    with open_for(root, f"export {fmt}") as proj:
        result = run_export(proj, target, **options)
    say_exported(result, what)
    return result


@export_app.command("coco")
def export_coco(
    file: Annotated[Path, typer.Argument(help="The COCO JSON file to write.")],
    root: RootOpt = None,
    force: Annotated[bool, force_option("Replace FILE if it exists.")] = False,
) -> None:
    """Write the live crop decisions as COCO (integer pixel boxes, a curalog block per item)."""
    _give_out("coco", file, root, "crops", force=force)


@export_app.command("labelstudio")
def export_labelstudio(
    folder: Folder,
    root: RootOpt = None,
    url_prefix: Annotated[
        str, typer.Option("--url-prefix", help="Put before each project path in the tasks' image URLs.")
    ] = "/data/local-files/?d=",
    force: ForceFolder = False,
) -> None:
    """Write a Label Studio labeling config and task export: every live decision, boxes in percent."""
    result = _give_out("labelstudio", folder, root, "decisions", url_prefix=url_prefix, force=force)
    console.print(f"  files: {', '.join(result.files)}; import config.xml as the project's labeling "
                  "interface and tasks.json as its tasks", highlight=False)  # fmt: skip


@export_app.command("fiftyone")
def export_fiftyone(
    folder: Folder,
    root: RootOpt = None,
    relative: Annotated[
        bool, typer.Option("--relative", help="Media paths relative to FOLDER (default: absolute).")
    ] = False,
    force: ForceFolder = False,
) -> None:
    """Write the live crop decisions as a FiftyOne image-detection dataset (labels.json, data.json)."""
    result = _give_out("fiftyone", folder, root, "crops", relative=relative, force=force)
    console.print(f"  load it with fo.Dataset.from_dir({str(result.path)!r}, "
                  "dataset_type=fo.types.FiftyOneImageDetectionDataset)", highlight=False)  # fmt: skip


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
        f"{result.items:,} annotations: {verb} {result.imported:,}, "
        f"already in the ledger {result.already:,}, refused {len(result.refused):,}, "
        f"skipped {len(result.skipped):,}" + (" (dry run: nothing kept)" if result.dry_run else ""),
        highlight=False,
    )
    for number, why in result.refused[:20]:
        console.print(f"  refused annotation {number}: {why}", highlight=False)
    for why, n in result.skip_reasons().items():
        console.print(f"  skipped {n:,}: {why}", highlight=False)
    for code, n in sorted(result.warned.items()):
        console.print(f"  taken with a warning {n:,}: {code} (curalog validate lists each)", highlight=False)
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
    with open_for(root, f"import {fmt}") as proj, rich_progress(f"import {fmt}", transient=True) as progress:
        result = run_import(proj, file, dry_run=dry_run, progress=progress)
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

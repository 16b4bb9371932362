"""``curalog dataset build|baseline``: training sets built from the decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curalog.cli.options import RootOpt, console, force_option, rich_progress, seed_option

dataset_app = typer.Typer(help="Training sets built from the decisions.", no_args_is_help=True)


@dataset_app.command("build")
def dataset_build(
    root: RootOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder (default: data/dataset).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.99)] = 0.1,
    seed: Annotated[int, seed_option("Seed of the train/validation split.")] = 0,
    force: Annotated[bool, force_option("Replace a dataset already there.")] = False,
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="Also write the crops as coco, labelstudio and/or fiftyone (repeat or comma-separate).",
        ),
    ] = None,
) -> None:
    """Write crops/pairs/embeddings for training; every decision is used or dropped with its reason."""
    from curalog.dataset import build

    with rich_progress("dataset build", transient=True) as progress:
        result = build(root, out, val_fraction=val_fraction, seed=seed, force=force, progress=progress,
                       formats=formats)  # fmt: skip
    m = result.manifest
    c = m["counts"]
    console.print(f"dataset written to {result.out}: {c['crops']:,} crops, {c['pairs']:,} pairs, "
                  f"{c['images']:,} images x {c['dim']}")  # fmt: skip
    for name, r in result.reconciliation.items():
        dropped = ", ".join(f"{code} {n:,}" for code, n in r["dropped"].items()) or "none"
        n = sum(r["dropped"].values())
        line = f"  {name}: logged {r['logged']:,} = used {r['used']:,} + dropped {n:,} ({dropped})"
        console.print(line, markup=False, highlight=False)
    console.print(f"  every dropped decision, with source, line and reason: {result.out / 'drops.csv'}")
    for fmt, a in m.get("formats", {}).items():
        why = ", ".join(f"{n:,} {reason}" for reason, n in a["reasons"].items()) or "none"
        line = (f"  {fmt}: {a['decisions']:,} crops = written {a['written']:,} + left out "
                f"{len(a['left_out']):,} ({why}): {', '.join(a['files'])}")  # fmt: skip
        console.print(line, markup=False, highlight=False)


@dataset_app.command("baseline")
def dataset_baseline(
    folder: Annotated[Path, typer.Argument(help="A built dataset (default: data/dataset).")] = Path(
        "data/dataset"
    ),
    folds: Annotated[int, typer.Option("--folds", min=2)] = 5,
) -> None:
    """Does the data carry signal? A quick ranker and box regressor against trivial baselines."""
    from curalog.dataset import baseline

    r = baseline(folder, folds=folds)
    rk, bx = r["ranker"], r["boxes"]
    if "skipped" in rk:
        console.print(f"ranker: {rk['skipped']}")
    else:
        console.print(f"ranker ({rk['pairs']:,} pairs, {rk['folds']}-fold by set): pairwise accuracy "
                      f"{rk['pairwise_accuracy']:.3f} vs random pick {rk['random_pick']:.3f}")  # fmt: skip
    if "skipped" in bx:
        console.print(f"boxes: {bx['skipped']}")
    else:
        head = f"boxes ({bx['crops']:,} crops, {bx['folds']}-fold by set)"
        console.print(f"{head}: mean IoU {bx['mean_iou']:.3f} vs centred box of the mean size "
                      f"{bx['centre_of_mean_size']:.3f}")  # fmt: skip

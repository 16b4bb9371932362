"""``curalog train``: the ranker and the box regressor trained from a built dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from curalog.cli.options import Format, FormatOpt, RootOpt, console, seed_option


def _line(name: str, f: dict[str, Any], unit: str) -> str:
    lo, hi = f["model_ci"]
    blo, bhi = f["lift_ci"]
    return (f"  {name}: {f['model']:.3f} [{lo:.3f}, {hi:.3f}] vs {unit} {f['baseline']:.3f}; "
            f"lift {f['lift']:+.3f} [{blo:+.3f}, {bhi:+.3f}] over {f['sets']:,} sets")  # fmt: skip


def train(
    root: RootOpt = None,
    dataset: Annotated[
        Path | None, typer.Option("--dataset", help="A built dataset (default: data/dataset).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where models are saved (default: data/models).")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Held-out folds, grouped by set.")] = 5,
    seed: Annotated[int, seed_option("Seed of the bootstrap intervals.")] = 0,
    fmt: FormatOpt = Format.text,
) -> None:
    """Train the ranker and the box regressor; held-out figures against trivial baselines (95 % intervals)."""
    from curalog.training import train as run

    result = run(root, dataset, out=out, folds=folds, seed=seed)
    m = result.manifest
    if fmt is Format.json:
        typer.echo(json.dumps(m, indent=2, sort_keys=True))
        return
    console.print(f"model {m['id']} saved to {result.folder} (in use); vectors of {m['fingerprint']!r}",
                  markup=False, highlight=False)  # fmt: skip
    rk, bx = m["ranker"], m["boxes"]
    if "skipped" in rk:
        console.print(f"ranker: {rk['skipped']}", markup=False)
    else:
        head = f"ranker ({rk['pairs']:,} pairs, {rk['decisions']:,} decisions, {rk['folds']}-fold by set):"
        console.print(head, markup=False)
        console.print(_line("pairs ranked right", rk["pairwise_accuracy"], "a coin"), markup=False)
        console.print(_line("chosen ranked first", rk["top1_accuracy"], "a random pick"), markup=False)
        for project, f in rk["top1_by_project"].items():
            console.print(_line(f"  {project}", f, "random"), markup=False, highlight=False)
    if "skipped" in bx:
        console.print(f"boxes: {bx['skipped']}", markup=False)
    else:
        console.print(f"boxes ({bx['crops']:,} crops, {bx['folds']}-fold by set):", markup=False)
        console.print(_line("mean IoU", bx["mean_iou"], "the centred box of the mean size"), markup=False)
        console.print(_line("mean IoU", bx["mean_iou_vs_mean_box"], "the mean box"), markup=False)
        for project, f in bx["mean_iou_by_project"].items():
            console.print(_line(f"  {project}", f, "centred"), markup=False, highlight=False)

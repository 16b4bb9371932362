"""Repairs of what old bugs destroyed: ``repair sizes|crops|embeddings`` and ``extract-history``.
Each is a dry run unless ``--apply``; the repair itself is the library's (``curalog.repair``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curalog.cli.options import MinConfidenceOpt, RootOpt, apply_option, console, err, open_for, rich_progress

DRY_RUN_STORE = ". Dry run: nothing changed; --apply to store."

repair_app = typer.Typer(
    help="Repairs of what old bugs destroyed (dry runs unless --apply).", no_args_is_help=True
)


@repair_app.command("sizes")
def repair_sizes(
    root: RootOpt = None,
    apply: Annotated[bool, apply_option("Store the repaired rows (default: dry run).")] = False,
) -> None:
    """Re-measure crop rows logged with a 0x0 size: from the image header, else another record of
    the same image; never guessed. Legacy files are not edited: repairs go into the ledger."""
    from curalog.repair import apply_sizes, plan_sizes

    with open_for(root, "repair sizes") as project:
        plan = plan_sizes(project)
        if apply:
            apply_sizes(project, plan)
    verb = "repaired" if apply else "can be repaired"
    for f in plan.fixable:
        changed = [(o, n) for o, n in zip(f.old, f.new or [], strict=True) if o != n]
        sizes = ", ".join(f"{o[0]:g}x{o[1]:g} -> {n[0]:g}x{n[1]:g}" for o, n in changed)
        how = ", ".join(
            f"{m} ({e})" if e else m for m, e in zip(f.methods, f.evidence, strict=False) if m != "logged"
        )
        done = f" (decision {f.applied})" if f.applied else ""
        console.print(f"{f.source}:{f.line}  {f.path}: {sizes}  [{how}]{done}", markup=False, highlight=False)
    for f in plan.left:
        console.print(
            f"❌ {f.source}:{f.line}  {f.path}: left as it is: {f.why_not}", markup=False, highlight=False
        )
    console.print(
        f"{len(plan.fixable):,} crop rows {verb}, {len(plan.left):,} left (reasons above), "
        f"{plan.already:,} repaired before" + ("" if apply else DRY_RUN_STORE)
    )
    raise typer.Exit(1 if plan.left else 0)


@repair_app.command("crops")
def repair_crops(
    outputs: Annotated[Path, typer.Option("--outputs", help="Folder holding the saved cropped outputs.")],
    root: RootOpt = None,
    apply: Annotated[bool, apply_option("Store the recovered boxes (default: dry run).")] = False,
    min_confidence: MinConfidenceOpt = 0.9,
) -> None:
    """Recover placeholder or lost boxes by finding each saved cropped output in its original."""
    from curalog.repair.crops import apply_crops, plan_crops

    if not outputs.is_dir():
        err.print(f"curalog: --outputs {outputs} is not a folder", markup=False)
        raise typer.Exit(2)
    with open_for(root, "repair crops") as project:
        with rich_progress("repair crops", transient=True) as progress:
            plan = plan_crops(project, outputs, min_confidence, progress)
        if apply:
            apply_crops(project, plan)
    for f in plan.fixable:
        done = f" (decision {f.applied})" if f.applied else ""
        text = (
            f"{f.source}:{f.line}  {f.path}: box {f.new} confidence {f.confidence:.3f} from {f.output}{done}"
        )
        console.print(text, markup=False, highlight=False)
    for f in plan.left:
        console.print(
            f"❌ {f.source}:{f.line}  {f.path}: left as it is: {f.why_not}", markup=False, highlight=False
        )
    verb = "recovered" if apply else "can be recovered"
    summary = f"{len(plan.fixable):,} boxes {verb}, {len(plan.left):,} left (reasons above)"
    summary += f", {plan.already:,} before"
    console.print(summary + ("" if apply else DRY_RUN_STORE))
    raise typer.Exit(1 if plan.left else 0)


@repair_app.command("embeddings")
def repair_embeddings(
    root: RootOpt = None,
    apply: Annotated[bool, apply_option("Embed and adopt (default: dry run).")] = False,
) -> None:
    """Embed every decision image that has no vector, and adopt sound orphan vector files."""
    from curalog.repair.embeddings import apply_embeddings, plan_embeddings

    with open_for(root, "repair embeddings") as proj:
        plan = plan_embeddings(proj, orphans=not apply)  # applying finds the orphans itself
        if not apply:
            assert plan.orphans is not None
            console.print(f"{len(plan.missing):,} images to embed, {len(plan.orphans):,} orphan vector files "
                          "to check for adoption. Dry run: nothing changed; --apply to do it.")  # fmt: skip
            raise typer.Exit(0)
        with rich_progress("repair embeddings") as progress:
            done = apply_embeddings(proj, plan, progress)
    console.print(
        f"{done.embedded.embedded:,} embedded, {len(done.embedded.failed):,} failed, "
        f"{len(done.adopted):,} orphans adopted"
    )
    raise typer.Exit(0 if done.ok else 1)


def extract_history(
    project_dir: Annotated[
        Path, typer.Argument(help="A finished project folder (variants + selected/ + crop/).")
    ],
    root: RootOpt = None,
    apply: Annotated[bool, apply_option("Log the recovered decisions (default: dry run).")] = False,
    min_confidence: MinConfidenceOpt = 0.9,
) -> None:
    """Rebuild decisions from a finished project's outputs: which variant was chosen, where it was cropped."""
    from curalog.repair.history import apply_history
    from curalog.repair.history import extract_history as find_history

    with open_for(root, "extract-history") as project:
        with rich_progress("extract-history", transient=True) as progress:
            history = find_history(project, project_dir, min_confidence=min_confidence, progress=progress)
        if apply:
            apply_history(project, history)
    for r in history.decisions:
        assert r.chosen is not None
        where = f" box {r.box}" if r.box else ""
        done = f" (decision {r.applied})" if r.applied else ""
        console.print(f"{r.kind} {r.set_id}: {r.variants[r.chosen]}{where} [{r.method}, {r.confidence:.3f}] "
                      f"from {r.output}{done}", markup=False, highlight=False)  # fmt: skip
    for r in history.unmatched:
        console.print(f"❌ {r.output}: {r.why_not}", markup=False, highlight=False)
    verb = "logged" if apply else "found"
    console.print(f"{len(history.decisions):,} decisions {verb}, {len(history.unmatched):,} outputs unmatched"
                  + ("" if apply else ". Dry run: nothing logged; --apply to log."))  # fmt: skip
    raise typer.Exit(1 if history.unmatched else 0)

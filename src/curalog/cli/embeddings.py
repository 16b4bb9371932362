"""The embedding store's commands: ``embed``, ``verify`` and ``model download``."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer
from rich.markup import escape

from curalog.cli.options import Format, FormatOpt, RootOpt, console, err, open_for, rich_progress
from curalog.embeddings.embedders import choose_embedder
from curalog.embeddings.verify import VerifyReport
from curalog.errors import shown
from curalog.project import Project
from curalog.validate.verdicts import verify_project


def _print_report(report: VerifyReport) -> None:
    console.print(
        f"✅ index entries: {report.index_entries:,}   vector files: {report.vector_files:,}"
        + (f"   legacy vector files: {report.legacy_files:,}" if report.legacy_files else "")
    )
    for severity, icon, items in (
        ("warning", "⚠️ ", report.warnings),
        ("error", "❌", report.errors),
    ):
        if not items:
            continue
        console.print(f"\n{icon} {severity.upper()}S ({len(items)})")
        for p in items:
            console.print(f"   {p.code}: {escape(p.message)}")
            console.print(f"      fix: [bold]{escape(p.fix)}[/]")
    if report.ok and not report.warnings:
        console.print("[green]store verified: no problems[/]")


def _report_json(report: VerifyReport) -> str:
    return json.dumps(
        {
            "index_entries": report.index_entries,
            "vector_files": report.vector_files,
            "legacy_files": report.legacy_files,
            "models": report.models,
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "problems": [
                {
                    "code": p.code,
                    "severity": p.severity,
                    "subject": p.subject,
                    "hash": p.hash,
                    "message": p.message,
                    "fix": p.fix,
                }
                for p in report.problems
            ],
        },
        indent=2,
    )


def _override_embed_settings(proj: Project, **given: object) -> None:
    """Replace the project's ``[embed]`` settings that the command line gave (None: not given)."""
    overrides = {k: v for k, v in given.items() if v is not None}
    if overrides:
        proj.config = dataclasses.replace(
            proj.config, embed=dataclasses.replace(proj.config.embed, **overrides)
        )


def _targets(proj: Project, paths: list[str] | None) -> list[str] | None:
    """The canonical images the user named (None: every image a decision references); each
    refused one is said on stderr, and nothing left to embed exits 2."""
    if not paths:
        return None
    targets, refused = proj.expand(paths)
    for target, reason in refused:
        err.print(f"[red]refused[/] {escape(shown(target))}: {escape(shown(reason))}")
    if refused and not targets:
        raise typer.Exit(2)
    return targets


def embed(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Images or folders (default: every image a decision references)."),
    ] = None,
    root: RootOpt = None,
    missing: Annotated[
        bool, typer.Option("--missing", help="Only images with no vector at all (any model).")
    ] = False,
    embedder: Annotated[
        str | None, typer.Option("--embedder", help="Embedder name (default: curalog.toml).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="CLIP model: a local folder or a cached Hugging Face name (implies clip)."
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=0, help="Image-decoding processes (0: one per core).")
    ] = None,
) -> None:
    """Embed images into the store: deduplicated, resumable, verified at the end."""
    with open_for(root, "embed") as proj:
        _override_embed_settings(proj, model=model, device=device, decode_workers=workers)
        targets = _targets(proj, paths)
        emb = proj.embedder(choose_embedder(embedder, model))
        with rich_progress(emb.name) as progress:
            result = proj.embed(targets, missing_only=missing, embedder=emb, batch_size=batch_size,
                                progress=progress)  # fmt: skip
        if result.requested == 0:
            console.print(
                "nothing to embed: no decision references an image yet; "
                "name files or folders, e.g. `curalog embed mojo1/`"
            )
        console.print(
            f"{result.requested:,} images: {result.embedded:,} embedded, "
            f"{result.reused:,} reused a vector of identical bytes, "
            f"{result.up_to_date:,} already up to date, {len(result.failed):,} failed"
        )
        if result.temp_files_removed:
            console.print(f"removed {len(result.temp_files_removed)} temp files of killed runs")
        for path, reason in result.failed:
            console.print(f"  [red]failed[/] {escape(shown(path))}: {escape(shown(reason))}")
        if result.verify is not None:
            _print_report(result.verify)
        if not result.ok:
            raise typer.Exit(1)


def _adopt_orphans(proj: Project) -> None:
    with rich_progress("adopt", transient=True) as progress:
        adopted, skipped = proj.adopt_orphans(progress=progress)
    for r in adopted:
        if r.error:
            console.print(f"[red]not adopted[/] {r.hash}: {escape(r.error)}")
        else:
            console.print(f"adopted {r.hash}.npy for {', '.join(r.paths)}")
    for subject, reason in skipped:
        console.print(f"[yellow]not adopted[/] {escape(subject)}: {escape(reason)}")


def verify(
    root: RootOpt = None,
    adopt_orphans: Annotated[
        bool,
        typer.Option("--adopt-orphans", help="Index sound orphan vectors whose hash matches an image."),
    ] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Check the embedding store both ways: index vs files, vector contents, model mixture."""
    with open_for(root, "verify") as proj:
        if adopt_orphans:
            _adopt_orphans(proj)
        with rich_progress("store", transient=True) as progress:
            report = verify_project(proj, progress)
    if fmt is Format.json:
        print(_report_json(report))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


model_app = typer.Typer(help='CLIP models for `embedder = "clip"`.', no_args_is_help=True)


@model_app.command("download")
def model_download(
    name: Annotated[str, typer.Argument(help="A Hugging Face model name.")] = "openai/clip-vit-base-patch32",
) -> None:
    """Fetch a model into the Hugging Face cache (needs network; embedding never does)."""
    from curalog.embeddings.clip import download_model

    try:
        folder = download_model(name)
    except Exception as exc:  # network, auth, not found: say which and stop
        err.print(f"curalog: cannot download {name}: {type(exc).__name__}: {exc}", markup=False)
        raise typer.Exit(1) from None
    console.print(f"{name} is in {folder}; copy that folder to an offline machine and use --model FOLDER")

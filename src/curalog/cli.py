"""The ``curalog`` command: a thin Typer layer over the library."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from curalog.audit import query
from curalog.config import find_root
from curalog.embeddings.verify import VerifyReport
from curalog.errors import ConfigError, CuralogError, shown
from curalog.files import check_output
from curalog.progress import Progress as ProgressFn
from curalog.project import Project, init_project, open_project
from curalog.version import __version__

app = typer.Typer(
    name="curalog",
    help="Curation decisions and embeddings that cannot rot silently.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# soft_wrap: Rich never breaks a sentence or a path at 80 columns (in a log, cron mail or a pipe a
# wrapped path cannot be copied); the terminal wraps long lines itself
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Project root (default: nearest parent folder with curalog.toml or data/).",
        show_default=False,
    ),
]


DASHBOARD = "data/health-dashboard.html"


class Format(StrEnum):
    text = "text"
    json = "json"


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


def _open(root: Path | None, tool: str) -> Project:
    return open_project(root, tool=f"curalog {tool}")


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} images/s" if speed else "– images/s", style="cyan")


@contextmanager
def rich_progress(label: str, on: Console = err, transient: bool = False) -> Iterator[ProgressFn]:
    """A Rich progress bar (images/s, ETA) driven by the library's progress callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=on,
        transient=transient,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(done: int, total: int, phase: str) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{label}: {phase}", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


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


@app.command()
def init(
    root: Annotated[Path, typer.Argument(help="Folder to make a curalog project.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Rewrite an existing curalog.toml.")] = False,
) -> None:
    """Write curalog.toml with the layout defaults (legacy-formats.md)."""
    target = init_project(root, force=force)
    console.print(f"wrote {target}")


@app.command()
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
    with _open(root, "embed") as proj:
        overrides = {
            k: v
            for k, v in (("model", model), ("device", device), ("decode_workers", workers))
            if v is not None
        }
        if overrides:
            proj.config = dataclasses.replace(
                proj.config, embed=dataclasses.replace(proj.config.embed, **overrides)
            )
        if model is not None and embedder is None:
            embedder = "clip"
        targets = None
        if paths:
            targets, refused = proj.expand(paths)
            for target, reason in refused:
                err.print(f"[red]refused[/] {escape(shown(target))}: {escape(shown(reason))}")
            if refused and not targets:
                raise typer.Exit(2)
        emb = proj.embedder(embedder)
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


@app.command()
def verify(
    root: RootOpt = None,
    adopt_orphans: Annotated[
        bool,
        typer.Option("--adopt-orphans", help="Index sound orphan vectors whose hash matches an image."),
    ] = False,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
) -> None:
    """Check the embedding store both ways: index vs files, vector contents, model mixture."""
    with _open(root, "verify") as proj:
        if adopt_orphans:
            with rich_progress("adopt", transient=True) as progress:
                adopted, skipped = proj.adopt_orphans(progress=progress)
            for r in adopted:
                if r.error:
                    console.print(f"[red]not adopted[/] {r.hash}: {escape(r.error)}")
                else:
                    console.print(f"adopted {r.hash}.npy for {', '.join(r.paths)}")
            for subject, reason in skipped:
                console.print(f"[yellow]not adopted[/] {escape(subject)}: {escape(reason)}")
        with rich_progress("store", transient=True) as progress:
            report = proj.verify(progress)
    if fmt is Format.json:
        print(_report_json(report))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def audit(
    root: RootOpt = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO date or timestamp.")] = None,
    path: Annotated[str | None, typer.Option("--path", help="Only entries naming this path.")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
) -> None:
    """List file operations from the audit log (curalog's and the legacy tools')."""
    with _open(root, "audit") as proj:
        entries = query(proj.audit, since=since, path=path)
    if fmt is Format.json:
        print(json.dumps([e.data for e in entries], indent=2, ensure_ascii=False))
        return
    table = Table("time", "script", "operation", "files", "where", "notes")
    for e in entries:
        d = e.data
        files = d.get("files") or []
        shown = ", ".join(map(str, files[:3])) + (f" (+{len(files) - 3})" if len(files) > 3 else "")
        where = " → ".join(x for x in (d.get("source_dir"), d.get("dest_dir")) if x)
        table.add_row(
            escape(str(d.get("timestamp", ""))), escape(str(d.get("script", ""))),
            escape(str(d.get("operation", ""))), escape(shown), escape(where),
            escape(str(d.get("notes", ""))),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(entries)} entries")


@app.command()
def validate(
    root: RootOpt = None,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", help="Write the report to FILE.")] = None,
    deep: Annotated[bool, typer.Option("--deep", help="Re-hash indexed images (embedding.stale).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Only decisions logged at or after this ISO date.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --output file.")] = False,
) -> None:
    """Find and explain every problem in the logs, the index and the vector files (read-only)."""
    from curalog.validate import validate as run_validation
    from curalog.validate.render import (
        check_report_output,
        render_html,
        render_json,
        render_text,
        save_report,
    )

    if output is not None:  # refused before a long run, not after it
        check_report_output(root, output, force=force)
    with rich_progress("validate", transient=True) as progress:
        report = run_validation(root, deep=deep, since=since, progress=progress)
    render = {ReportFormat.json: render_json, ReportFormat.html: render_html}.get(fmt, render_text)
    text = render(report)
    if output is None:
        sys.stdout.write(text)
    else:
        save_report(report, text, output)
        err.print(f"report written to {output}: {report.errors} errors, {report.warnings} warnings")
    raise typer.Exit(report.exit_code(strict))


@app.command()
def health(
    root: RootOpt = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
    no_record: Annotated[bool, typer.Option("--no-record", help="Do not store this snapshot.")] = False,
) -> None:
    """Today's health figures (the post-mortem's daily dashboard); each run stores a snapshot."""
    from curalog.monitor.health import render_text, take_snapshot

    with _open(root, "health") as project, rich_progress("validate", transient=True) as progress:
        result = take_snapshot(project, record=not no_record, progress=progress)
    if fmt is Format.json:
        data = {"figures": result.figures.to_dict(), "recorded": result.recorded,
                "new_findings": [f.to_dict() for f in result.new_findings]}  # fmt: skip
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        console.print(render_text(result), markup=False, highlight=False)
    if result.figures.not_read or result.figures.shrank:  # a whole log missing is never a healthy day
        raise typer.Exit(1)


@app.command()
def dashboard(
    root: RootOpt = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Where to write the page (default: data/health-dashboard.html)."),
    ] = None,
    no_record: Annotated[bool, typer.Option("--no-record", help="Do not store this snapshot.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --output file.")] = False,
) -> None:
    """Write the health dashboard: one self-contained HTML page with cards, trends and fixes."""
    from curalog.monitor.dashboard import write_dashboard
    from curalog.monitor.health import take_snapshot

    with _open(root, "dashboard") as project:
        # the default page is curalog's own and rewritten each time: only a regular file (or none)
        # is accepted there
        target = output if output is not None else project.root / DASHBOARD
        what = "--output" if output is not None else "the dashboard's default file"
        check_output(target, protected=project.config.owned_paths(), force=force or output is None,
                     new_folders=output is None, own=output is None, what=what)  # fmt: skip
        project.audit.require_for(target, "write the dashboard")  # before the run, not after
        with rich_progress("validate", transient=True) as progress:
            result = take_snapshot(project, record=not no_record, progress=progress)
        if output is None:
            target.parent.mkdir(parents=True, exist_ok=True)
        write_dashboard(project, target, result)
    err.print(f"dashboard written to {target}", markup=False, highlight=False)  # stdout may be the page


@app.command()
def serve(
    root: RootOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind. Anything but 127.0.0.1 exposes your images.")
    ] = "127.0.0.1",
    move_files: Annotated[
        bool | None,
        typer.Option(
            "--move-files/--no-move-files",
            help="After each decision move the chosen image to selected/ or crop/ and the others to "
            "trash/ (audited, never deleted). Default: [curate] move_files in curalog.toml.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The curation web app: pick and crop in the browser; every save goes through the ledger."""
    from curalog.web import serve
    from curalog.web.app import LOCAL_HOSTS

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} must be 0 to 65535")
    if host not in LOCAL_HOSTS:
        err.print(
            f"[bold yellow]warning:[/] serving on {host}: anyone who can reach this address can see "
            "your images (writes still need the token)."
        )
    serve(root if root is not None else find_root(), host=host, port=port, move_files=move_files,
          say=lambda line: console.print(line, soft_wrap=True, markup=False, highlight=False))  # fmt: skip


repair_app = typer.Typer(
    help="Repairs of what old bugs destroyed (dry runs unless --apply).", no_args_is_help=True
)
app.add_typer(repair_app, name="repair")


@repair_app.command("sizes")
def repair_sizes(
    root: RootOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Store the repaired rows (default: dry run).")
    ] = False,
) -> None:
    """Re-measure crop rows logged with a 0x0 size: from the image header, else another record of
    the same image; never guessed. Legacy files are not edited: repairs go into the ledger."""
    from curalog.repair import apply_sizes, plan_sizes

    with _open(root, "repair sizes") as project:
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
        f"{plan.already:,} repaired before"
        + ("" if apply else ". Dry run: nothing changed; --apply to store.")
    )
    raise typer.Exit(1 if plan.left else 0)


@repair_app.command("crops")
def repair_crops(
    outputs: Annotated[Path, typer.Option("--outputs", help="Folder holding the saved cropped outputs.")],
    root: RootOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Store the recovered boxes (default: dry run).")
    ] = False,
    min_confidence: Annotated[float, typer.Option("--min-confidence", min=0.0, max=1.0)] = 0.9,
) -> None:
    """Recover placeholder or lost boxes by finding each saved cropped output in its original."""
    from curalog.repair.crops import apply_crops, plan_crops

    if not outputs.is_dir():
        err.print(f"curalog: --outputs {outputs} is not a folder", markup=False)
        raise typer.Exit(2)
    with _open(root, "repair crops") as project:
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
    console.print(summary + ("" if apply else ". Dry run: nothing changed; --apply to store."))
    raise typer.Exit(1 if plan.left else 0)


@repair_app.command("embeddings")
def repair_embeddings(
    root: RootOpt = None,
    apply: Annotated[bool, typer.Option("--apply", help="Embed and adopt (default: dry run).")] = False,
) -> None:
    """Embed every decision image that has no vector, and adopt sound orphan vector files."""
    with _open(root, "repair embeddings") as proj:
        missing = [p for p in proj.ledger.referenced_images() if proj.embeddings.lookup(p) is None]
        if not apply:
            report = proj.verify()
            orphans = [x for x in report.problems if x.code == "embedding.orphan_file"]
            console.print(f"{len(missing):,} images to embed, {len(orphans):,} orphan vector files to "
                          "check for adoption. Dry run: nothing changed; --apply to do it.")  # fmt: skip
            raise typer.Exit(0)
        with rich_progress("repair embeddings") as progress:
            result = proj.embed(missing, missing_only=True, progress=progress)
            adopted, failed = proj.adopt_orphans(progress=progress)
    console.print(
        f"{result.embedded:,} embedded, {len(result.failed):,} failed, {len(adopted):,} orphans adopted"
    )
    raise typer.Exit(1 if result.failed or failed else 0)


@app.command("extract-history")
def extract_history_cmd(
    project_dir: Annotated[
        Path, typer.Argument(help="A finished project folder (variants + selected/ + crop/).")
    ],
    root: RootOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Log the recovered decisions (default: dry run).")
    ] = False,
    min_confidence: Annotated[float, typer.Option("--min-confidence", min=0.0, max=1.0)] = 0.9,
) -> None:
    """Rebuild decisions from a finished project's outputs: which variant was chosen, where it was cropped."""
    from curalog.repair.history import apply_history, extract_history

    with _open(root, "extract-history") as project:
        with rich_progress("extract-history", transient=True) as progress:
            history = extract_history(project, project_dir, min_confidence=min_confidence, progress=progress)
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


dataset_app = typer.Typer(help="Training sets built from the decisions.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("build")
def dataset_build(
    root: RootOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder (default: data/dataset).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.99)] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/validation split.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace a dataset already there.")] = False,
) -> None:
    """Write crops/pairs/embeddings for training; every decision is used or dropped with its reason."""
    from curalog.dataset import build

    with rich_progress("dataset build", transient=True) as progress:
        result = build(root, out, val_fraction=val_fraction, seed=seed, force=force, progress=progress)
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


model_app = typer.Typer(help='CLIP models for `embedder = "clip"`.', no_args_is_help=True)
app.add_typer(model_app, name="model")


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


alerts_app = typer.Typer(help="Alert sinks (the alerts.sinks tables of curalog.toml).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("test")
def alerts_test(root: RootOpt = None) -> None:
    """Send a test alert to every configured sink and say which worked."""
    from curalog.monitor.alerts import send_test_alert

    with _open(root, "alerts test") as project:
        if not project.config.alerts.sinks:
            err.print(
                "no alert sinks configured: add [[alerts.sinks]] to curalog.toml (see `curalog init`)",
                markup=False,
            )
            raise typer.Exit(1)
        run = send_test_alert(project)
    for d in run.deliveries:
        console.print(f"{'✅' if d.ok else '❌'} {d.sink}: {d.detail}", markup=False, highlight=False)
    raise typer.Exit(1 if run.failed else 0)


@app.command()
def check(
    root: RootOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when all is well.")] = False,
) -> None:
    """The nightly job: validate + snapshot + alerts. Exit 0 when nothing new went wrong."""
    from curalog.monitor.nightly import check as run_check

    result = run_check(root)
    summary = result.summary()
    if summary:
        console.print(summary, markup=False, highlight=False)
    elif not quiet:
        f = result.health.figures
        console.print(f"✅ nothing new: {f.errors:,} errors, {f.warnings:,} warnings (all announced before)")
    raise typer.Exit(result.exit_code)


@app.command()
def doctor(
    root: RootOpt = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for the random sample of crop rows.")
    ] = None,
) -> None:
    """The post-mortem's debugging checklist: logs, index vs disk, sampled crop sizes, path conventions."""
    from curalog.doctor import BAD, run_doctor

    steps = run_doctor(root, seed)
    icons = {"ok": "✅", "warn": "⚠️ ", "bad": "❌"}
    for step in steps:
        console.print(f"\n{icons[step.status]} [bold]{escape(step.title)}[/]")
        for line in step.lines:
            console.print(f"   {escape(line)}", highlight=False)
        if step.next:
            console.print(f"   [bold]next:[/] {escape(step.next)}")
    if any(s.status == BAD for s in steps):
        raise typer.Exit(1)


@app.command("import-legacy")
def import_legacy_cmd(
    root: RootOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would happen; keep nothing.")] = False,
) -> None:
    """Take the legacy CSV/JSONL logs into the ledger: every line imported or quarantined."""
    from curalog.legacy.importer import import_legacy

    with _open(root, "import-legacy") as proj, rich_progress("import", transient=True) as progress:
        summary = import_legacy(proj, dry_run=dry_run, progress=progress)
    title = "DRY RUN — nothing was kept" if dry_run else "import-legacy"
    table = Table(
        "file", "lines", "imported now", "imported before", "quarantined", "reconciles", title=title
    )
    for f in summary.files:
        table.add_row(f.source, f"{f.lines:,}", f"{f.imported:,}", f"{f.already:,}", f"{f.quarantined:,}",
                      "✅" if f.reconciles else "❌")  # fmt: skip
    console.print(table)
    for source, line, codes, why in summary.quarantine[:20]:
        console.print(f"  [yellow]quarantined[/] {source}:{line} [{codes}] {escape(why)}", highlight=False)
    for source, line, note in summary.notes[:10]:
        console.print(f"  [cyan]note[/] {source}:{line} {escape(note)}", highlight=False)
    if len(summary.notes) > 10:
        console.print(f"  … and {len(summary.notes) - 10:,} more notes (table import_notes)")
    if len(summary.quarantine) > 20:
        console.print(f"  … and {len(summary.quarantine) - 20:,} more (the quarantine table holds every one)")
    if not summary.reconciles:
        raise typer.Exit(1)


@app.command("export-legacy")
def export_legacy_cmd(
    directory: Annotated[Path, typer.Argument(help="Folder to write the legacy layout into.")],
    root: RootOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files already in DIRECTORY.")] = False,
) -> None:
    """Write the ledger as legacy CSV/JSONL (same columns), for scripts that still read them."""
    from curalog.legacy.exporter import export_legacy

    with _open(root, "export-legacy") as proj:
        summary = export_legacy(proj, directory, force=force)
    for path, n in summary.files.items():
        console.print(f"wrote {path}: {n:,} rows")
    for decision_id, why in summary.refused:
        console.print(f"[yellow]not exported[/] decision {decision_id}: {why}")
    if summary.refused:
        raise typer.Exit(1)


@app.command()
def selftest() -> None:
    """The seed's data-collection smoke test, end to end in a temp folder."""
    from curalog.selftest import run_selftest

    checks = run_selftest(
        lambda c: console.print(f"{'✅' if c.passed else '❌'} {c.name}  [dim]{escape(c.detail)}[/]")
    )
    failed = [c for c in checks if not c.passed]
    console.print("[green]selftest PASSED[/]" if not failed else f"[red]selftest FAILED ({len(failed)})[/]")
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the sample project.")] = Path("curalog-demo"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Remake an existing demo folder.")] = False,
    sets: Annotated[int, typer.Option("--sets", min=3, help="How many image sets.")] = 36,
) -> None:
    """Generate a sample project, embed it, log decisions through the API, verify it."""
    from curalog.demo import run_demo

    with rich_progress("thumbnail", on=console, transient=True) as progress:
        summary = run_demo(directory, fresh=fresh, n_sets=sets, say=console.print, progress=progress)
    root = summary.root
    console.print(
        f"\n[bold green]Demo project ready[/] at {root}: {summary.images} images in "
        f"{summary.sets} sets, {summary.selections} selections, {summary.crops} crops, "
        f"{len(summary.rejected)} problems refused in the bad row."
    )
    exe = _invocation()
    console.print("Next, try:")
    for cmd in (
        f"{exe} health --root {root}",
        f"{exe} check --root {root}             # quiet now: the lost file was announced once",
        f"{exe} validate --root {root}",
        f"{exe} doctor --root {root}",
        f"{exe} verify --root {root}",
        f"{exe} audit --root {root}",
        f"{exe} embed --missing --root {root}   # re-embeds the image whose vector was deleted",
        f"{exe} selftest",
        f"{exe} serve --root {root}             # curate the {summary.waiting} sets left, in the browser",
    ):
        console.print(f"  [bold]{cmd}[/]")
    console.print(f"\nOpen the health dashboard: [bold]{summary.dashboard}[/]")
    if not summary.verify_ok or not summary.alerts or not summary.quiet_rerun:
        raise typer.Exit(1)


def _invocation() -> str:
    """How to call curalog again from here: `curalog` if it is on PATH, else its full path."""
    script = Path(sys.argv[0])
    on_path = shutil.which("curalog")
    if script.name == "curalog" and on_path and Path(on_path).resolve() == script.resolve():
        return "curalog"
    beside = Path(sys.executable).parent / "curalog"
    if beside.exists():
        try:
            return str(beside.relative_to(Path.cwd()))
        except ValueError:
            return str(beside)
    return f"{sys.executable} -m curalog"


def _version(value: bool) -> None:
    if value:
        console.print(f"curalog {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """curalog: validate at collection time, verify what is written, never drop a decision silently."""


def main() -> None:
    import sqlite3

    if sys.stdout is None or sys.stderr is None:  # started with 1>&- or 2>&-: say so where we can
        if sys.stderr is not None:
            sys.stderr.write("curalog: standard output is closed; give it a file or --output\n")
        sys.exit(2)
    try:
        app()
    except ConfigError as exc:
        err.print(f"curalog: {exc}", markup=False, highlight=False)
        sys.exit(2)
    except CuralogError as exc:
        err.print(f"curalog: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except sqlite3.Error as exc:  # a damaged ledger, a full disk: one line, the transaction rolled back
        err.print(f"curalog: the ledger database failed: {shown(exc)}; nothing was committed", markup=False,
                  highlight=False)  # fmt: skip
        sys.exit(2)
    except OSError as exc:  # a full disk, a read-only file system, a file that vanished meanwhile
        where = f" ({shown(exc.filename)})" if exc.filename else ""
        err.print(f"curalog: {exc.strerror or shown(exc)}{where}", markup=False, highlight=False)
        sys.exit(2)

"""Setting up and checking a project: ``init``, ``doctor``, ``selftest`` and ``demo``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from curalog.cli.options import RootOpt, console, force_option, rich_progress, seed_option
from curalog.project import init_project


def init(
    root: Annotated[Path, typer.Argument(help="Folder to make a curalog project.")] = Path("."),
    force: Annotated[bool, force_option("Rewrite an existing curalog.toml.")] = False,
) -> None:
    """Write curalog.toml with the layout defaults (docs/legacy-formats.md)."""
    target = init_project(root, force=force)
    console.print(f"wrote {target}")


def doctor(
    root: RootOpt = None,
    seed: Annotated[int | None, seed_option("Seed for the random sample of crop rows.")] = None,
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

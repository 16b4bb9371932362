"""Watching a project over time: ``health``, ``check`` (the nightly job), ``dashboard``,
``alerts test`` and ``audit`` (what was done to which files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from curalog.audit import AuditEntry, query
from curalog.cli.options import (
    ForceOutputOpt,
    Format,
    FormatOpt,
    NoRecordOpt,
    RootOpt,
    console,
    err,
    open_for,
    rich_progress,
    since_option,
)
from curalog.monitor import DASHBOARD


def health(root: RootOpt = None, fmt: FormatOpt = Format.text, no_record: NoRecordOpt = False) -> None:
    """Today's health figures (the post-mortem's daily dashboard); each run stores a snapshot."""
    from curalog.monitor.health import render_text, take_snapshot

    with open_for(root, "health") as project, rich_progress("validate", transient=True) as progress:
        result = take_snapshot(project, record=not no_record, progress=progress)
    if fmt is Format.json:
        data = {"figures": result.figures.to_dict(), "recorded": result.recorded,
                "new_findings": [f.to_dict() for f in result.new_findings]}  # fmt: skip
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        console.print(render_text(result), markup=False, highlight=False)
    if result.incomplete:  # a whole log missing is never a healthy day
        raise typer.Exit(1)


def dashboard(
    root: RootOpt = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help=f"Where to write the page (default: {DASHBOARD})."),
    ] = None,
    no_record: NoRecordOpt = False,
    force: ForceOutputOpt = False,
) -> None:
    """Write the health dashboard: one self-contained HTML page with cards, trends and fixes."""
    from curalog.monitor.dashboard import dashboard_target, write_dashboard
    from curalog.monitor.health import take_snapshot

    with open_for(root, "dashboard") as project:
        target = dashboard_target(project, output, force=force)
        with rich_progress("validate", transient=True) as progress:
            result = take_snapshot(project, record=not no_record, progress=progress)
        write_dashboard(project, target, result)
    err.print(f"dashboard written to {target}", markup=False, highlight=False)  # stdout may be the page


def check(
    root: RootOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when all is well.")] = False,
    agreement_drop: Annotated[
        float,
        typer.Option(
            "--agreement-drop", help="Alert when suggestion acceptance or model accuracy fell by more."
        ),
    ] = 0.1,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain", help="Then train again when enough new decisions came; keep the better model."
        ),
    ] = False,
    retrain_after: Annotated[
        int, typer.Option("--retrain-after", help="New usable decisions that call for it.")
    ] = 100,
) -> None:
    """The nightly job: validate + snapshot + alerts (+ retraining). Exit 0 when nothing new went wrong."""
    from curalog.monitor.nightly import check as run_check

    result = run_check(root, agreement_drop=agreement_drop, retrain=retrain, retrain_after=retrain_after)
    summary = result.summary()
    if summary:
        console.print(summary, markup=False, highlight=False)
    elif not quiet:
        f = result.health.figures
        console.print(f"✅ nothing new: {f.errors:,} errors, {f.warnings:,} warnings (all announced before)")
    raise typer.Exit(result.exit_code)


alerts_app = typer.Typer(help="Alert sinks (the alerts.sinks tables of curalog.toml).", no_args_is_help=True)


@alerts_app.command("test")
def alerts_test(root: RootOpt = None) -> None:
    """Send a test alert to every configured sink and say which worked."""
    from curalog.monitor.alerts import send_test_alert

    with open_for(root, "alerts test") as project:
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


def _audit_row(entry: AuditEntry) -> list[str]:
    """One audit entry as table cells: at most three files named, the rest counted."""
    d = entry.data
    files = d.get("files") or []
    shown = ", ".join(map(str, files[:3])) + (f" (+{len(files) - 3})" if len(files) > 3 else "")
    where = " → ".join(x for x in (d.get("source_dir"), d.get("dest_dir")) if x)
    return [
        escape(str(d.get("timestamp", ""))), escape(str(d.get("script", ""))),
        escape(str(d.get("operation", ""))), escape(shown), escape(where),
        escape(str(d.get("notes", ""))),
    ]  # fmt: skip


def audit(
    root: RootOpt = None,
    since: Annotated[str | None, since_option("ISO date or timestamp.")] = None,
    path: Annotated[str | None, typer.Option("--path", help="Only entries naming this path.")] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """List file operations from the audit log (curalog's and the legacy tools')."""
    with open_for(root, "audit") as proj:
        entries = query(proj.audit, since=since, path=path)
    if fmt is Format.json:
        print(json.dumps([e.data for e in entries], indent=2, ensure_ascii=False))
        return
    table = Table("time", "script", "operation", "files", "where", "notes")
    for e in entries:
        table.add_row(*_audit_row(e))
    console.print(table)
    console.print(f"{len(entries)} entries")

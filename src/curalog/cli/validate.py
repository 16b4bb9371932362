"""``curalog validate``: every problem in the logs, the index and the vector files, explained."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from curalog.cli.options import ForceOutputOpt, ReportFormat, RootOpt, err, rich_progress, since_option


def validate(
    root: RootOpt = None,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", help="Write the report to FILE.")] = None,
    deep: Annotated[bool, typer.Option("--deep", help="Re-hash indexed images (embedding.stale).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    since: Annotated[str | None, since_option("Only decisions logged at or after this ISO date.")] = None,
    force: ForceOutputOpt = False,
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

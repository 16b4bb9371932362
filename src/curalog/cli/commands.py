"""The ``curalog`` command: every command and group in the order ``curalog --help`` lists them,
``--version``, and ``main`` (the entry point), which turns library errors into one line and an
exit status. The commands live in one module per group; each only parses, calls the library and
renders what it returns."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from curalog.cli import (
    dataset,
    embeddings,
    interop,
    ledger,
    legacy,
    monitor,
    project,
    repair,
    serve,
    training,
    validate,
)
from curalog.cli.options import console, one_line_errors
from curalog.version import __version__

app = typer.Typer(
    name="curalog",
    help="Curation decisions and embeddings that cannot rot silently.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# --help lists the commands in this order, then the groups in theirs
app.command("init")(project.init)
app.command("embed")(embeddings.embed)
app.command("verify")(embeddings.verify)
app.command("audit")(monitor.audit)
app.command("validate")(validate.validate)
app.command("health")(monitor.health)
app.command("dashboard")(monitor.dashboard)
app.command("serve")(serve.serve)
app.command("extract-history")(repair.extract_history)
app.command("train")(training.train)
app.command("check")(monitor.check)
app.command("doctor")(project.doctor)
app.command("import-legacy")(legacy.import_legacy)
app.command("export-legacy")(legacy.export_legacy)
app.command("selftest")(project.selftest)
app.command("demo")(project.demo)
app.add_typer(repair.repair_app, name="repair")
app.add_typer(dataset.dataset_app, name="dataset")
app.add_typer(embeddings.model_app, name="model")
app.add_typer(monitor.alerts_app, name="alerts")
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(interop.export_app, name="export")
app.add_typer(interop.import_app, name="import")


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
    if sys.stdout is None or sys.stderr is None:  # started with 1>&- or 2>&-: say so where we can
        if sys.stderr is not None:
            sys.stderr.write("curalog: standard output is closed; give it a file or --output\n")
        sys.exit(2)
    with one_line_errors():
        app()

"""What every command of the ``curalog`` CLI shares: the consoles, the options used by more than
one command (each defined once, so its flag and help text read the same everywhere), opening a
project, Rich progress bars, and the one-line error messages with their exit codes.

An option used by a single command is declared with that command.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from curalog.errors import ConfigError, CuralogError, shown
from curalog.progress import Progress as ProgressFn
from curalog.project import Project, open_project

# soft_wrap: Rich never breaks a sentence or a path at 80 columns (in a log, cron mail or a pipe a
# wrapped path cannot be copied); the terminal wraps long lines itself
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    text = "text"
    json = "json"


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Project root (default: nearest parent folder with curalog.toml or data/).",
        show_default=False,
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format")]
NoRecordOpt = Annotated[bool, typer.Option("--no-record", help="Do not store this snapshot.")]
ForceOutputOpt = Annotated[bool, typer.Option("--force", help="Replace an existing --output file.")]
MinConfidenceOpt = Annotated[float, typer.Option("--min-confidence", min=0.0, max=1.0)]


def force_option(help: str) -> typer.models.OptionInfo:
    """``--force`` with what it replaces for this command."""
    return typer.Option("--force", help=help)


def apply_option(help: str) -> typer.models.OptionInfo:
    """``--apply`` of a repair (a dry run without it), with what applying does."""
    return typer.Option("--apply", help=help)


def since_option(help: str) -> typer.models.OptionInfo:
    """``--since`` (an ISO date), with what it limits for this command."""
    return typer.Option("--since", help=help)


def seed_option(help: str) -> typer.models.OptionInfo:
    """``--seed`` of a random choice, with what it seeds."""
    return typer.Option("--seed", help=help)


def open_for(root: Path | None, tool: str) -> Project:
    """The project at ``root`` (or found from here), its audit entries signed ``curalog <tool>``."""
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


def _fail(message: str, code: int) -> None:
    err.print(f"curalog: {message}", markup=False, highlight=False)
    sys.exit(code)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """What the library raises, as one line on stderr and an exit status: 2 for a configuration,
    the ledger database or the file system, 1 for any other curalog error. No traceback."""
    try:
        yield
    except ConfigError as exc:
        _fail(str(exc), 2)
    except CuralogError as exc:
        _fail(str(exc), 1)
    except sqlite3.Error as exc:  # a damaged ledger, a full disk: one line, the transaction rolled back
        _fail(f"the ledger database failed: {shown(exc)}; nothing was committed", 2)
    except OSError as exc:  # a full disk, a read-only file system, a file that vanished meanwhile
        where = f" ({shown(exc.filename)})" if exc.filename else ""
        _fail(f"{exc.strerror or shown(exc)}{where}", 2)
    except Exception as exc:  # the PostgreSQL driver's errors (a server gone mid-run), never imported here
        if not type(exc).__module__.startswith("psycopg"):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _fail(f"the ledger's server failed: {shown(first)}; nothing was committed", 2)

"""The ``curalog`` command line: a thin Typer layer over the library (``curalog.cli:main``)."""

from curalog.cli.commands import app, main

__all__ = ["app", "main"]

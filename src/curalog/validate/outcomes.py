"""What the decision rules conclude: findings, counts, and one outcome per logged decision.

The outcomes (``RowOutcome`` per decision, ``CleanSelections`` for the selections judged in bulk)
are collected only when asked (the dataset builder reads them); they are never memoized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from curalog.legacy.logs import SelectionColumns
from curalog.validate import rules
from curalog.validate.model import Finding
from curalog.validate.rules import Where


class RowOutcome(NamedTuple):
    """What validation concluded about one logged decision (collected for the dataset builder)."""

    kind: str  # "selection" | "crop"
    source: str
    line: int
    set_id: str
    project: str
    path: str  # the chosen image: canonical when it resolved, else as logged
    hash: str  # its vector's content hash when usable, else ""
    directory: str
    others: tuple[str, ...]  # the candidates not chosen, as logged
    box: tuple[float, float, float, float] | None  # crops: as logged
    size: tuple[float, float] | None  # crops: the chosen image's logged (width, height)
    usable: bool
    codes: tuple[str, ...]  # every finding on the row


def row_outcome(fields: tuple) -> RowOutcome:
    """A RowOutcome from a tuple of its fields, without the Python-level constructor."""
    return tuple.__new__(RowOutcome, fields)


@dataclass
class CleanSelections:
    """Selections with no finding, by column (collected for the dataset builder in bulk)."""

    columns: SelectionColumns
    at: np.ndarray  # their positions in ``columns``
    lines: np.ndarray
    set_id: Any
    project: Any
    path: Any  # canonical
    hash: Any  # the vector's content hash
    directory: Any
    code: np.ndarray  # per row, an index into code_hash (equal codes, same chosen image)
    code_hash: list[str]


def has_error(found: list[Finding]) -> bool:
    return any(f.severity == "error" for f in found)


@dataclass
class Judged:
    """What one part of the decision rules concluded: its findings in order, the decisions it
    counted (the ledger's: a log's count is its data lines) and found usable, and, when
    ``collect``, an outcome per decision (``rows``, and ``clean`` for the bulk of selections)."""

    collect: bool
    findings: list[Finding] = field(default_factory=list)
    selections: int = 0
    crops: int = 0
    usable_selections: int = 0
    usable_crops: int = 0
    rows: list[RowOutcome] = field(default_factory=list)
    clean: CleanSelections | None = None
    # "selection" / "crop" -> the (key, first line) of every decision a later line would
    # repeat, computed when asked (``validate.resume`` keeps them for the lines appended later)
    firsts: dict[str, Callable[[], list[tuple[tuple, int]]]] = field(default_factory=dict)

    def finish_row(self, kind: str, where: Where, key: tuple, found: list[Finding], usable: bool,
                   seen: dict[tuple, int]) -> bool:  # fmt: skip
        """Record the row's findings and count it (a repeat of an earlier row with the same
        ``key`` in ``seen`` gets ``row.duplicate``); returns whether it is usable."""
        error = has_error(found)
        repeat_of = None if error else seen.get(key)
        if not error and repeat_of is None:
            seen[key] = where.line or 0
        return self.conclude(kind, where, found, usable, error, repeat_of)

    def conclude(self, kind: str, where: Where, found: list[Finding], usable: bool, error: bool,
                 repeat_of: int | None) -> bool:  # fmt: skip
        """Record a row's findings (with ``row.duplicate`` when it repeats line ``repeat_of``)
        and count it; returns whether it is usable."""
        if repeat_of is not None:
            found.append(rules.row_duplicate(where, repeat_of))
            usable = False
        if found:
            self.findings.extend(found)
        if usable and not error and not (found and any(f.code == "path.ambiguous" for f in found)):
            if kind == "crop":
                self.usable_crops += 1
            else:
                self.usable_selections += 1
            return True
        return False

    def outcome(self, index: dict, kind: str, where: Where, set_id: str, directory: str,
                others: tuple[str, ...], found: list[Finding], usable: bool, box: tuple | None = None,
                size: tuple | None = None) -> None:  # fmt: skip
        """Collect the outcome of a row judged one by one (``index``: the counting index lines)."""
        ref = index.get(where.path) if usable else None
        self.rows.append(RowOutcome(
            kind, where.source, where.line or 0, set_id, where.project, where.path,
            ref.hash if ref is not None else "", directory, others, box, size, usable,
            tuple(f.code for f in found),
        ))  # fmt: skip

    def add(self, part: Judged) -> None:
        """Take in what a later part concluded (after this one's, in order)."""
        self.findings.extend(part.findings)
        self.selections += part.selections
        self.crops += part.crops
        self.usable_selections += part.usable_selections
        self.usable_crops += part.usable_crops
        self.rows.extend(part.rows)
        if part.clean is not None:
            self.clean = part.clean
        self.firsts.update(part.firsts)

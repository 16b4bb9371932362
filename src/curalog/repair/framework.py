"""What every repair of legacy crop rows shares: the plan (fixes, what is left), choosing the
rows not repaired before, checking a repaired row (the dry run) and storing it as a ledger decision
with its provenance (the ledger's one write path)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from curalog.errors import DecisionRejected, DecisionWarning
from curalog.ledger.admission import Admitted
from curalog.ledger.provenance import LegacyLine, Provenance, Repair, repaired_lines
from curalog.legacy.csvlines import physical_lines
from curalog.legacy.logs import CropRow, line_sha, read_crop_log, require_logs
from curalog.project import Project


@dataclass(kw_only=True)
class Fix:
    """One legacy crop row to repair and what can be done about it."""

    row: CropRow = field(repr=False)
    sha: str  # the line's identity when it was planned
    path: str  # the chosen image (canonical once it resolved)
    why_not: str = ""  # why it cannot be (or was not) applied
    applied: int | None = None  # the decision id, once applied

    @property
    def source(self) -> str:
        return self.row.source

    @property
    def line(self) -> int:
        return self.row.line

    @property
    def new(self) -> object:
        raise NotImplementedError

    @property
    def fixable(self) -> bool:
        return self.new is not None and not self.why_not


F = TypeVar("F", bound=Fix)


@dataclass
class Plan(Generic[F]):
    fixes: list[F] = field(default_factory=list)
    already: int = 0  # rows repaired by an earlier run

    @property
    def fixable(self) -> list[F]:
        return [f for f in self.fixes if f.fixable]

    @property
    def left(self) -> list[F]:
        return [f for f in self.fixes if not f.fixable]


def rows_to_repair(project: Project, what: str, wanted: Callable[[list[CropRow]], list[bool]],
                   plan: Plan) -> tuple[list[CropRow], list[tuple[CropRow, str]]]:  # fmt: skip
    """(every parsed crop row, the wanted rows not repaired by an earlier ``what`` repair with
    their line's sha); rows repaired before are counted in ``plan.already``."""
    cfg = project.config
    path = cfg.path("crop_log")
    require_logs([(cfg.layout.crop_log, path)], f"run curalog repair ({what})")
    read = read_crop_log(path, cfg.layout.crop_log)
    if not read.exists:
        return [], []
    raw = physical_lines(path)
    repaired = repaired_lines(project.db, what)
    todo = []
    for row, want in zip(read.rows, wanted(read.rows), strict=True):
        if not want:
            continue
        sha = line_sha(raw[row.line - 1])
        if (row.source, row.line, sha) in repaired:
            plan.already += 1
        else:
            todo.append((row, sha))
    return read.rows, todo


def apply_plan(project: Project, plan: Plan[F], store: Callable[[Project, F, set[str]], None]) -> Plan[F]:
    """Store every fixable row of ``plan`` with ``store`` (a refusal lands in its ``why_not``)."""
    sessions: set[str] = set()
    for fix in plan.fixable:
        store(project, fix, sessions)
    return plan


def _admit(project: Project, row: CropRow, box: Sequence[float],
           sizes: Sequence[tuple[float, float]] | None) -> Admitted:  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DecisionWarning)
        return project.ledger.admission.admit(
            "crop", row.set_id, row.directory, list(row.image_paths), row.chosen_index,
            crop_coords=list(box), image_stages=[s or None for s in row.image_stages],
            image_sizes=list(sizes) if sizes is not None else None,
        )  # fmt: skip


def _refusal(exc: DecisionRejected) -> str:
    why = "; ".join(f"{p.code}: {p.message}" for p in exc.problems)
    if any("no index entry names it" in p.message for p in exc.problems):
        why += " (run `curalog import-legacy` first: it takes the legacy index into the ledger)"
    return why


def check_repaired(project: Project, row: CropRow, *, box: Sequence[float],
                   sizes: Sequence[tuple[float, float]] | None) -> str:  # fmt: skip
    """Would the ledger take ``row`` with the repaired ``box`` / ``sizes`` (None: measured from the
    files)? "" or why not. Nothing is stored: this is what a plan (a dry run) reports."""
    try:
        _admit(project, row, box, sizes)
    except DecisionRejected as exc:
        return _refusal(exc)
    return ""


def store_repaired(project: Project, row: CropRow, sha: str, repair: Repair, *,
                   box: Sequence[float], sizes: Sequence[tuple[float, float]] | None,
                   sessions: set[str]) -> tuple[int | None, str]:  # fmt: skip
    """Store ``row`` with the repaired ``box`` / ``sizes`` and its provenance (the legacy line and
    the repair) as one ledger decision. Returns (decision id or None, why the ledger refused it or
    ""). ``sessions``: the legacy sessions this run has opened so far."""
    sid = row.session_id or f"legacy:{row.source}"  # as import-legacy names it
    if sid not in sessions:
        project.ledger.start_session(f"legacy import ({row.source}), repaired", sid)
        sessions.add(sid)
    try:
        admitted = _admit(project, row, box, sizes)
    except DecisionRejected as exc:
        return None, _refusal(exc)
    provenance = Provenance(LegacyLine(row.source, row.line, sha), repair)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DecisionWarning)
        return project.ledger.store(
            sid, admitted, created_at=row.timestamp or None, provenance=provenance
        ), ""

"""Storing a repaired legacy crop row as a ledger decision: one path for every repair."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from curalog.errors import DecisionRejected
from curalog.ledger.ledger import DecisionWarning, Repair
from curalog.legacy import CropRow
from curalog.project import Project


def store_repaired(project: Project, row: CropRow, sha: str, repair: Repair, *,
                   box: Sequence[float], sizes: Sequence[tuple[float, float]] | None,
                   sessions: set[str] | None) -> tuple[int | None, str]:  # fmt: skip
    """Log ``row`` with the repaired ``box`` / ``sizes`` (None: measured from the files) and
    its provenance. ``sessions`` None validates only (a dry run). Returns (decision id or None,
    why the ledger refused it or "")."""
    sid = row.session_id or f"legacy:{row.source}"  # as import-legacy names it
    if sessions is not None and sid not in sessions:
        project.ledger.start_session(f"legacy import ({row.source}), repaired", sid)
        sessions.add(sid)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DecisionWarning)
            decision = project.ledger.log(
                sid, "crop", row.set_id, row.directory, list(row.image_paths), row.chosen_index,
                crop_coords=list(box), image_stages=[s or None for s in row.image_stages],
                image_sizes=list(sizes) if sizes is not None else None, created_at=row.timestamp or None,
                legacy=(row.source, row.line, sha), repair=repair, dry_run=sessions is None,
            )  # fmt: skip
    except DecisionRejected as exc:
        why = "; ".join(f"{p.code}: {p.message}" for p in exc.problems)
        if any("no index entry names it" in p.message for p in exc.problems):
            why += " (run `curalog import-legacy` first: it takes the legacy index into the ledger)"
        return None, why
    return (decision if sessions is not None else None), ""

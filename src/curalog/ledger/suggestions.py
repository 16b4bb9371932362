"""What a trained model suggested for a decision, and what the person did with it: stored with
the decision, in its transaction (``Ledger.store(..., shown=...)``), and read back for the
dashboard's agreement figures. A suggestion never changes what counts as the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curalog.db.connection import Database

OUTCOMES = ("accepted", "edited", "overridden")


@dataclass(frozen=True)
class Shown:
    """A suggestion as the person saw it, and its outcome.

    ``outcome``: "accepted" (the suggested image, and the suggested box if there was one),
    "edited" (the suggested image with another box, or none) or "overridden" (another image).
    ``box_iou``: IoU of the suggested box with the decision's box (None: either has none)."""

    model_id: str
    index: int
    box: tuple[float, float, float, float] | None  # normalized to the suggested image
    outcome: str
    box_iou: float | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {OUTCOMES}")


def record_shown(conn: Any, decision_id: int, shown: Shown) -> None:
    """The suggestion row of ``decision_id`` (inside the decision's transaction)."""
    box = shown.box or (None, None, None, None)
    conn.execute(
        "INSERT INTO suggestions(decision_id, model_id, suggested_idx, box_x1, box_y1, box_x2, box_y2, "
        "outcome, box_iou) VALUES (?,?,?,?,?,?,?,?,?)",
        (decision_id, shown.model_id, shown.index, *box, shown.outcome, shown.box_iou),
    )


@dataclass(frozen=True)
class ShownRow:
    """A live decision's suggestion, with the decision's day and project (the dashboard's keys)."""

    decision_id: int
    created_at: str
    project: str
    kind: str
    shown: Shown


def shown_rows(db: Database, live: str) -> list[ShownRow]:
    """Every decision made with a suggestion shown that is live (``live``: the SQL condition on
    decisions ``d``, ``Ledger.shown``), in decision order."""
    rows = db.query(
        "SELECT d.id, d.created_at, d.project, d.kind, s.model_id, s.suggested_idx, s.box_x1, "
        "s.box_y1, s.box_x2, s.box_y2, s.outcome, s.box_iou "
        f"FROM suggestions s JOIN decisions d ON d.id = s.decision_id WHERE {live} ORDER BY d.id"
    )
    out = []
    for r in rows:
        box = (r["box_x1"], r["box_y1"], r["box_x2"], r["box_y2"])
        shown = Shown(r["model_id"], r["suggested_idx"], box if box[0] is not None else None, r["outcome"],
                      r["box_iou"])  # fmt: skip
        out.append(ShownRow(r["id"], r["created_at"], r["project"], r["kind"], shown))
    return out

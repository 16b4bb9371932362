"""The loop's own health: are the model's suggestions accepted, and is each retrained model any
better? Per day and per project from the ledger's suggestion rows (``Ledger.shown``) and the
saved models' manifests (``curalog train``).

Each snapshot keeps the running totals (suggestions shown and accepted) and the model in use
with its held-out accuracy; the acceptance rate since the previous snapshot is kept when at
least ``MIN_SHOWN`` suggestions were answered meanwhile. The alert ``agreement.drop`` fires when
either fell by more than the threshold (``curalog check --agreement-drop``, default ``DROP``):
when people stop accepting suggestions, or a retrained model is worse, the data went wrong
somewhere (a logging script changed, a model trained on another embedding, a shift in taste).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curalog.errors import ConfigError
from curalog.ledger.suggestions import ShownRow
from curalog.project import Project
from curalog.training.model import MODELS_DIR, active_id, active_model, load_model

MIN_SHOWN = 20  # suggestions answered since the last snapshot for an acceptance rate to compare
DROP = 0.10  # the default alert threshold: a fall of 10 points of acceptance or accuracy


@dataclass(frozen=True)
class DayAgreement:
    """The suggestions answered on one day (the decision's local date) in one project."""

    day: str
    project: str
    shown: int
    accepted: int
    edited: int
    overridden: int
    mean_iou: float | None  # of the suggested box with the decision's box, where both exist

    @property
    def acceptance(self) -> float:
        return self.accepted / self.shown if self.shown else 0.0


def by_day(rows: list[ShownRow]) -> list[DayAgreement]:
    """Agreement per day and project, oldest first."""
    groups: dict[tuple[str, str], list[ShownRow]] = defaultdict(list)
    for r in rows:
        groups[(r.created_at[:10], r.project)].append(r)
    out = []
    for (day, project), found in sorted(groups.items()):
        outcomes = [r.shown.outcome for r in found]
        ious = [r.shown.box_iou for r in found if r.shown.box_iou is not None]
        counts = [outcomes.count(o) for o in ("accepted", "edited", "overridden")]
        out.append(DayAgreement(day, project, len(found), *counts, sum(ious) / len(ious) if ious else None))
    return out


def _figure(section: dict[str, Any], name: str) -> float | None:
    value = section.get(name, {})
    return value.get("model") if isinstance(value, dict) else None


def models(root: Path) -> list[dict[str, Any]]:
    """Every saved model, newest first: its id, date, held-out figures against their baselines,
    and whether it is the one in use (a folder that is not a sound model is left out)."""
    folder = root / MODELS_DIR
    try:
        in_use = active_id(folder)
    except ConfigError:
        in_use = None
    out = []
    for model_path in sorted(folder.glob("*/model.npz"), reverse=True):  # (not retraining's dataset)
        try:
            m = load_model(model_path.parent).manifest
        except ConfigError:
            continue
        try:
            ranker, boxes = m.get("ranker", {}), m.get("boxes", {})
            top1, iou = ranker.get("top1_accuracy", {}), boxes.get("mean_iou", {})
            out.append({
                "id": m["id"], "created_at": m.get("created_at", ""), "in_use": m["id"] == in_use,
                "fingerprint": m.get("fingerprint", ""),
                "decisions": ranker.get("decisions"), "crops": boxes.get("crops"),
                "top1": top1.get("model"), "top1_random": top1.get("baseline"),
                "mean_iou": iou.get("model"), "iou_centred": iou.get("baseline"),
            })  # fmt: skip
        except AttributeError:  # a figures section edited into something else: not shown
            continue
    return out


def fill(figures: Any, project: Project, previous: Any | None) -> None:
    """The agreement part of a snapshot's figures (``health.Figures``)."""
    rows = project.ledger.shown()
    figures.suggestions_shown = len(rows)
    figures.suggestions_accepted = sum(r.shown.outcome == "accepted" for r in rows)
    if previous is not None:
        shown = figures.suggestions_shown - previous.suggestions_shown
        accepted = figures.suggestions_accepted - previous.suggestions_accepted
        if shown >= MIN_SHOWN and 0 <= accepted <= shown:  # (decisions undone since: no rate)
            figures.acceptance_recent = round(accepted / shown, 4)
    try:
        model = active_model(project.root / MODELS_DIR)
    except ConfigError:
        model = None
    if model is not None:
        figures.model_id = model.id
        figures.model_accuracy = _figure(model.manifest.get("ranker", {}), "top1_accuracy")


def drops(previous: Any, current: Any, threshold: float = DROP) -> list[str]:
    """What fell by more than ``threshold`` since the previous snapshot, one line each."""
    out = []
    before, now = previous.acceptance_recent, current.acceptance_recent
    if before is not None and now is not None and before - now > threshold:
        out.append(f"suggestion acceptance fell from {before:.0%} to {now:.0%}")
    before, now = previous.model_accuracy, current.model_accuracy
    if before is not None and now is not None and before - now > threshold:
        out.append(f"the model in use ranks the chosen image first {now:.0%} of the time held out, "
                   f"down from {before:.0%} (model {previous.model_id} -> {current.model_id})")  # fmt: skip
    return out

"""Retraining on a schedule (``curalog check --retrain``): when enough new decisions arrived since
the model in use was trained, the dataset is built again (``data/models/dataset``, curalog's own
folder: a dataset the user built elsewhere is never replaced) and a new model trained; it
becomes the model in use only when its held-out figures are at least as good as the old one's,
otherwise the old one stays, and the result says so either way.

"As good" compares the held-out top-1 accuracy (the chosen image ranked first) when both models
have a ranker, else the held-out box IoU. The two were scored on different folds of different
data, so a small fall is not proof the new one is worse; but a model is never silently replaced
by one that scored lower.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from curalog.audit import AuditLog
from curalog.config import find_root, load_config
from curalog.training.model import MODELS_DIR, Model, activate, active_model
from curalog.training.train import DATASET, TrainResult, models_folder, train

RETRAIN_AFTER = 100  # new usable decisions since the model in use was trained


@dataclass(frozen=True)
class Retrained:
    trained: TrainResult | None  # None: not retrained
    in_use: str  # the model in use afterwards ("" when none)
    line: str  # what happened, in one line

    @property
    def replaced(self) -> bool:
        return self.trained is not None and self.in_use == self.trained.model.id


def used_decisions(model: Model) -> int:
    """The usable decisions the model's dataset held (selections and crops)."""
    used = model.manifest.get("used", {})
    return int(used.get("selections", 0)) + int(used.get("crops", 0)) if isinstance(used, dict) else 0


def score(model: Model) -> tuple[str, float | None]:
    """What two models are compared by: (figure, its held-out value)."""
    ranker, boxes = model.manifest.get("ranker", {}), model.manifest.get("boxes", {})
    if "top1_accuracy" in ranker:
        return "top-1 accuracy", float(ranker["top1_accuracy"]["model"])
    if "mean_iou" in boxes:
        return "box IoU", float(boxes["mean_iou"]["model"])
    return "nothing", None


def retrain(root: str | os.PathLike[str] | None, usable: int, *, after: int = RETRAIN_AFTER) -> Retrained:
    """Retrain when ``usable`` (the usable decisions now: the validator's count) exceeds what the
    model in use was trained on by ``after`` or more (with no model: once there are ``after``)."""
    from curalog.dataset import build

    config = load_config(Path(root) if root is not None else find_root())
    models = config.root / MODELS_DIR
    current = active_model(models)
    new = usable - (used_decisions(current) if current is not None else 0)
    if new < after:
        since = f"since model {current.id}" if current is not None else "and no model yet"
        line = f"not retrained: {new:,} new usable decisions {since} (retrains after {after:,})"
        return Retrained(None, current.id if current else "", line)
    models_folder(config, None)  # only models there, no link: checked before the build writes anything
    built = build(config.root, models / DATASET, force=True)
    result = train(config.root, built.out, activate_it=False)
    name, now = score(result.model)
    old_name, old = score(current) if current is not None else ("", None)
    trained = f"retrained on {new:,} new decisions: model {result.model.id}"
    if current is not None and old is not None and (name != old_name or now is None or now < old):
        held = f"held-out {name} {now:.3f}" if now is not None else "no held-out figure"
        return Retrained(result, current.id, f"{trained} scored {held}, below model {current.id}'s "
                         f"{old_name} {old:.3f}: the old model stays in use")  # fmt: skip
    activate(models, result.model.id, AuditLog(config.path("audit_dir"), script="curalog check --retrain"))
    was = f" (model {current.id}: {old:.3f})" if current is not None and old is not None else ""
    figure = f"held-out {name} {now:.3f}" if now is not None else "no held-out figure"
    return Retrained(result, result.model.id, f"{trained} is now in use, {figure}{was}")

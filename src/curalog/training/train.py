"""``curalog train``: the ranker and the box regressor trained from a built dataset, on the CPU.

Both are linear models over the embeddings (``dataset.signal``): on a few hundred to a few
hundred thousand decisions they fit in seconds, and a linear score is what a curator's pick
among near-identical variants can honestly support; the held-out figures say whether it does.
Each is scored out of fold by set, against its trivial baseline, overall and per project, with
bootstrap intervals (``metrics``); then fitted on every decision and saved with a manifest
(``model``). The new model becomes the one in use.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from curalog.audit import AuditLog
from curalog.config import Config, find_root, load_config
from curalog.dataset.loading import Dataset, load
from curalog.dataset.signal import (
    BoxFolds,
    RankerFolds,
    box_folds,
    fit_boxes,
    fit_ranker,
    iou_rows,
    pair_differences,
    ranker_folds,
)
from curalog.errors import ConfigError, listing, shown
from curalog.files import check_output_folder, target_of
from curalog.training.metrics import by_project, compare
from curalog.training.model import ACTIVE, MODELS_DIR, Model, activate, save_model
from curalog.version import __version__

DATASET = "dataset"  # below the models folder: the dataset retraining builds (``retrain``)
ESTIMATORS = {
    "ranker": "logistic regression on embedding(chosen) - embedding(rejected) and its mirror, no intercept",
    "boxes": "ridge regression from the chosen image's embedding to the box",
}


@dataclass(frozen=True)
class TrainResult:
    folder: Path  # where the model was saved
    model: Model

    @property
    def manifest(self) -> dict[str, Any]:
        return self.model.manifest


def fingerprint_of(ds: Dataset, folder: Path) -> str:
    """The one embedding model the dataset's vectors come from (``ConfigError`` when several,
    or none: a model scores vectors of one model only)."""
    models = ds.manifest.get("embedding_models")
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"{shown(folder)} names no embedding model: nothing to train on (build it again)")
    if len(models) > 1:
        named = ", ".join(f"{m or '(none named)'} ({n:,} images)" for m, n in sorted(models.items()))
        raise ConfigError(f"{shown(folder)} mixes vectors of {len(models)} embedding models ({named}); "
                           "a model is trained on one: re-embed with one model and build again")  # fmt: skip
    return str(next(iter(models)))


def ranker_figures(ranked: RankerFolds, pairs: Any, seed: int) -> dict[str, Any]:
    """Held-out figures of the ranker: pairs ranked right (vs a coin: 0.5) and decisions whose
    chosen image it ranks first among the candidates (vs a random pick: 1 / candidates)."""
    right = (ranked.margin > 0) + 0.5 * (ranked.margin == 0)
    decisions, at = np.unique(pairs["decision"].to_numpy(), return_inverse=True)
    n = len(decisions)
    above, tied = np.bincount(at, ranked.margin < 0, n), np.bincount(at, ranked.margin == 0, n)
    # first when no rejected image scores above the chosen one; a tie for first shares it
    top1 = np.where(above > 0, 0.0, 1 / (1 + tied))
    random_pick, groups = (
        1 / (np.bincount(at, minlength=n) + 1),
        ranked.groups[np.unique(at, return_index=True)[1]],
    )
    return {
        "pairs": len(right), "decisions": len(decisions), "folds": ranked.folds,
        "pairwise_accuracy": compare(right, np.full(len(right), 0.5), ranked.groups, seed),
        "top1_accuracy": compare(top1, random_pick, groups, seed),
        "top1_by_project": by_project(top1, random_pick, groups, seed),
    }  # fmt: skip


def box_figures(boxed: BoxFolds, seed: int) -> dict[str, Any]:
    """Held-out figures of the box regressor: mean IoU with the person's box, against the
    centred box of the training crops' mean size (and their mean box, for what the embedding
    adds over where boxes usually are)."""
    model, base = iou_rows(boxed.pred, boxed.truth), iou_rows(boxed.centre, boxed.truth)
    return {
        "crops": len(model), "folds": boxed.folds,
        "mean_iou": compare(model, base, boxed.groups, seed),
        "mean_iou_by_project": by_project(model, base, boxed.groups, seed),
        # against the training crops' mean box (size and place): what the embedding adds
        "mean_iou_vs_mean_box": compare(model, iou_rows(boxed.mean, boxed.truth), boxed.groups, seed),
    }  # fmt: skip


def models_folder(config: Config, out: str | os.PathLike[str] | None) -> Path:
    """Where models are saved (default ``data/models``), refused when it would be the project
    root or above it, or hold or sit inside one of the project's own files, or when it holds
    anything but models (a model folder, ``active.json``, retraining's ``dataset``): models go
    in a folder of their own, and nothing there is ever written through a link."""
    target = Path(out).expanduser() if out is not None else config.root / MODELS_DIR
    real = target_of(target)
    named = f"--out {shown(target)}" if out is not None else shown(target)
    check_output_folder(real, config.root, config.owned_paths(), named, verb="write into")
    foreign = []
    for name in sorted(os.listdir(real)) if real.is_dir() else []:
        entry = real / name
        if entry.is_symlink():  # writing there would write wherever the link leads
            foreign.append(f"{name} (a link)")
        elif not ((name == ACTIVE and entry.is_file()) or (name == DATASET and entry.is_dir())
                  or (entry.is_dir() and (entry / "model.npz").is_file())):  # fmt: skip
            foreign.append(name)
    if foreign:
        raise ConfigError(f"{named} holds what is not a model ({listing(foreign)}); models go in a folder "
                          "of their own")  # fmt: skip
    return real


def read_dataset(folder: Path) -> Dataset:
    """The dataset in ``folder``, checked for what training reads: ``ConfigError`` naming every
    problem (a file that cannot be read, a row outside the matrix, a vector or box that is not
    finite)."""
    try:
        ds = load(folder)
    except Exception as exc:  # a missing, truncated or foreign file, whatever its reader raises
        raise ConfigError(f"{shown(folder)} cannot be read as a dataset ({shown(exc)})") from exc
    problems = []
    emb = ds.embeddings
    if not isinstance(ds.manifest, dict):
        problems.append("manifest.json is not an object")
    else:
        accounts = ds.manifest.get("reconciliation", {})  # (its "used" counts go in the model's manifest)
        if not isinstance(accounts, dict) or not all(
            isinstance(a, dict) and isinstance(a.get("used", 0), int) for a in accounts.values()
        ):
            problems.append("manifest.json's reconciliation is not a count of used decisions per kind")
    if emb.ndim != 2 or emb.dtype.kind != "f":
        problems.append(f"embeddings.npy is {emb.dtype} of shape {emb.shape}, not float vectors")
    elif not np.isfinite(emb).all():
        problems.append("embeddings.npy holds NaN or Inf")
    n = emb.shape[0] if emb.ndim else 0
    needed = {"pairs": ("decision", "project", "set_id", "chosen_row", "rejected_row"),
              "crops": ("project", "set_id", "row", "x1", "y1", "x2", "y2")}  # fmt: skip
    for name, table in (("pairs", ds.pairs), ("crops", ds.crops)):
        missing = [c for c in needed[name] if c not in table.columns]
        if missing:
            problems.append(f"{name}.parquet has no {', '.join(missing)}")
            continue
        for column in [c for c in needed[name] if c.endswith("row")]:
            rows = table[column].to_numpy()
            if rows.dtype.kind not in "iu" or (len(rows) and (rows.min() < 0 or rows.max() >= n)):
                problems.append(f"{name}.parquet {column}: rows outside the {n:,} vectors")
        if name == "crops" and not np.isfinite(table[["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)).all():
            problems.append("crops.parquet has a box that is not finite")
    if problems:
        raise ConfigError(f"{shown(folder)}: {'; '.join(problems)}")
    return ds


def train(
    root: str | os.PathLike[str] | None = None,
    dataset: str | os.PathLike[str] | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    activate_it: bool = True,
) -> TrainResult:
    """Train the ranker and the box regressor on the dataset (default ``data/dataset``), save
    them under ``out`` (default ``data/models``) and (unless ``activate_it`` is False: the
    caller decides, ``retrain``) make them the model in use."""
    if folds < 2:
        raise ConfigError(f"--folds {folds}: held-out figures need at least 2 folds")
    config = load_config(Path(root) if root is not None else find_root())
    folder = Path(dataset).expanduser() if dataset is not None else config.root / "data" / "dataset"
    models = models_folder(config, out)
    ds = read_dataset(folder)
    fingerprint = fingerprint_of(ds, folder)
    audit = AuditLog(config.path("audit_dir"), script="curalog train")
    audit.require("save a model")
    ranked, boxed = ranker_folds(ds.embeddings, ds.pairs, folds), box_folds(ds.embeddings, ds.crops, folds)
    if ranked is None and boxed is None:
        raise ConfigError(
            f"{shown(folder)} has fewer than 2 sets with pairs or crops: nothing to score held out"
        )
    ranker = fit_ranker(pair_differences(ds.embeddings, ds.pairs)) if ranked is not None else None
    box = None
    if boxed is not None:
        box = fit_boxes(np.asarray(ds.embeddings)[ds.crops["row"].to_numpy(dtype=np.int64)], boxed.truth)
    now = datetime.now(UTC)
    model_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    manifest = {
        "id": model_id, "created_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "curalog": __version__,
        "fingerprint": fingerprint, "dim": int(ds.embeddings.shape[1]),
        "dataset": str(target_of(folder)),
        "dataset_manifest_sha256": hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest(),
        "folds": folds, "seed": seed, "estimators": ESTIMATORS,
        # the usable decisions the dataset held (what retraining counts new decisions from)
        "used": {name: r.get("used", 0) for name, r in ds.manifest.get("reconciliation", {}).items()},
        "ranker": ranker_figures(ranked, ds.pairs, seed) if ranked is not None
        else {"pairs": len(ds.pairs), "skipped": "fewer than 2 sets with pairs"},
        "boxes": box_figures(boxed, seed) if boxed is not None
        else {"crops": len(ds.crops), "skipped": "fewer than 2 sets with crops"},
    }  # fmt: skip
    model = Model(model_id, fingerprint, manifest["dim"], ranker, *(box or (None, None)), manifest)
    saved = save_model(model, models, audit)
    if activate_it:
        activate(models, model_id, audit)
    return TrainResult(saved, model)

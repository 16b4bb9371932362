"""Reading a built dataset: pandas tables and the memory-mapped matrix (``load``), a torch view of
the crops (``TorchCropDataset``), and a check that the data carries signal (``baseline``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curalog.dataset.folder import FILES
from curalog.errors import CuralogError


@dataclass
class Dataset:
    crops: Any  # pandas.DataFrame
    pairs: Any  # pandas.DataFrame
    embeddings: np.ndarray  # memory-mapped float32 (n, dim)
    manifest: dict[str, Any]


def load(folder: str | os.PathLike[str]) -> Dataset:
    """A built dataset as pandas tables and a memory-mapped embedding matrix."""
    import pandas as pd

    f = Path(folder)
    missing = [name for name in FILES if not (f / name).is_file()]
    if missing:
        raise CuralogError(f"{f} is not a curalog dataset (missing {', '.join(missing)})")
    return Dataset(
        pd.read_parquet(f / "crops.parquet"),
        pd.read_parquet(f / "pairs.parquet"),
        np.load(f / "embeddings.npy", mmap_mode="r"),
        json.loads((f / "manifest.json").read_text()),
    )


class TorchCropDataset:
    """A map-style dataset for torch: (embedding of the chosen image, box in [0, 1]) per crop.

    Needs torch (``curalog[clip]``). ``split`` is "train", "val" or None for every crop.
    """

    def __init__(self, folder: str | os.PathLike[str], split: str | None = "train") -> None:
        import torch

        ds = load(folder)
        crops = ds.crops if split is None else ds.crops[ds.crops["split"] == split]
        rows = crops["row"].to_numpy(dtype=np.int64)
        self.embeddings = torch.from_numpy(np.ascontiguousarray(ds.embeddings[rows]))
        self.boxes = torch.from_numpy(crops[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float32, copy=True))
        self.decisions = crops["decision"].tolist()

    def __len__(self) -> int:
        return len(self.decisions)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.embeddings[i], self.boxes[i]


def _box_iou_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (n, 4) box arrays in [0, 1]."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def baseline(folder: str | os.PathLike[str], *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """``curalog dataset baseline``: does the data carry signal? A logistic ranker on embedding
    differences (pairwise accuracy) and a ridge regressor for boxes (mean IoU), each scored by
    cross-validation grouped by set, against trivial baselines: a random pick (0.5) and the
    centred box of the mean size."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GroupKFold

    ds = load(folder)
    out: dict[str, Any] = {}
    emb = np.asarray(ds.embeddings, dtype=np.float32)
    pairs = ds.pairs
    groups = (pairs["project"] + "\x00" + pairs["set_id"]).to_numpy() if len(pairs) else np.array([])
    k = min(folds, len(set(groups)))
    if k >= 2:
        diff = emb[pairs["chosen_row"].to_numpy()] - emb[pairs["rejected_row"].to_numpy()]
        rng = np.random.default_rng(seed)
        flip = rng.random(len(diff)) < 0.5  # both classes: chosen-rejected (1) and its mirror (0)
        x, y = np.where(flip[:, None], -diff, diff), (~flip).astype(int)
        correct = 0
        for train, test in GroupKFold(n_splits=k).split(x, y, groups):
            if len(set(y[train])) < 2:
                continue
            model = LogisticRegression(max_iter=2000, C=1.0).fit(x[train], y[train])
            correct += int((model.decision_function(diff[test]) > 0).sum())  # chosen ranked first
        out["ranker"] = {"pairs": len(diff), "folds": k, "pairwise_accuracy": correct / len(diff),
                         "random_pick": 0.5}  # fmt: skip
    else:
        out["ranker"] = {"pairs": len(pairs), "skipped": "fewer than 2 sets with pairs"}
    crops = ds.crops
    cgroups = (crops["project"] + "\x00" + crops["set_id"]).to_numpy() if len(crops) else np.array([])
    k = min(folds, len(set(cgroups)))
    if k >= 2:
        x = emb[crops["row"].to_numpy()]
        y = crops[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
        model_iou, centre_iou = np.zeros(len(y)), np.zeros(len(y))
        for train, test in GroupKFold(n_splits=k).split(x, y, cgroups):
            pred = np.clip(Ridge(alpha=1.0).fit(x[train], y[train]).predict(x[test]), 0, 1)
            lo, hi = np.minimum(pred[:, :2], pred[:, 2:]), np.maximum(pred[:, :2], pred[:, 2:])
            pred = np.hstack([lo, hi])
            model_iou[test] = _box_iou_rows(pred, y[test])
            w, h = (y[train, 2] - y[train, 0]).mean(), (y[train, 3] - y[train, 1]).mean()
            centre = np.tile([(1 - w) / 2, (1 - h) / 2, (1 + w) / 2, (1 + h) / 2], (len(test), 1))
            centre_iou[test] = _box_iou_rows(centre, y[test])
        out["boxes"] = {"crops": len(y), "folds": k, "mean_iou": float(model_iou.mean()),
                        "centre_of_mean_size": float(centre_iou.mean())}  # fmt: skip
    else:
        out["boxes"] = {"crops": len(crops), "skipped": "fewer than 2 sets with crops"}
    return out

"""Does a built dataset carry signal, and the linear models that learn it: a ranker (a score per
image, ``w @ embedding``: the chosen variant should score above each rejected one) and a box
regressor (the crop box from the chosen image's embedding), both fitted with scikit-learn.

Each is scored out of fold, grouped by set (``GroupKFold`` over project + set id: a set's
variants never train the model that scores them), against trivial baselines: a random pick and
the centred box of the training folds' mean size. ``baseline`` summarizes; ``curalog.training``
adds confidence intervals, fits the final models and saves them.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

RANKER_C = 1.0  # inverse L2 strength of the ranker's logistic regression
RIDGE_ALPHA = 1.0  # L2 strength of the box regressor


class RankerFolds(NamedTuple):
    """Out-of-fold ranker margins, one per pair: score(chosen) - score(rejected)."""

    margin: np.ndarray  # float64
    groups: np.ndarray  # "project\0set_id" of each pair
    folds: int


class BoxFolds(NamedTuple):
    """Out-of-fold boxes, one per crop, with the trivial boxes each fold's training crops give:
    the centred box of their mean size, and their mean box (mean size and place)."""

    pred: np.ndarray  # (n, 4) in [0, 1], x1 <= x2, y1 <= y2
    centre: np.ndarray  # (n, 4)
    mean: np.ndarray  # (n, 4)
    truth: np.ndarray  # (n, 4)
    groups: np.ndarray
    folds: int


def groups_of(table: Any) -> np.ndarray:
    """The set each row of a crops or pairs table belongs to: project + NUL + set id."""
    if not len(table):
        return np.array([], dtype=object)
    return (table["project"] + "\x00" + table["set_id"]).to_numpy()


def pair_differences(embeddings: np.ndarray, pairs: Any) -> np.ndarray:
    """embedding(chosen) - embedding(rejected) of each pair, float64."""
    emb = np.asarray(embeddings)
    chosen = emb[pairs["chosen_row"].to_numpy(dtype=np.int64)].astype(np.float64)
    return chosen - emb[pairs["rejected_row"].to_numpy(dtype=np.int64)]


def fit_ranker(diff: np.ndarray) -> np.ndarray:
    """The weights ``w`` of a linear score fitted so that ``w @ (chosen - rejected) > 0``: a
    logistic regression on each pair's difference and its mirror, without intercept (a pair and
    its mirror are one fact, so the score of an image does not depend on the order)."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([diff, -diff])
    y = np.r_[np.ones(len(diff)), np.zeros(len(diff))]
    model = LogisticRegression(max_iter=2000, C=RANKER_C, fit_intercept=False)
    return model.fit(x, y).coef_[0].astype(np.float64)


def fit_boxes(x: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coef (4, dim), intercept (4,)) of a ridge regression from embeddings to boxes."""
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=RIDGE_ALPHA).fit(np.asarray(x, dtype=np.float64), boxes)
    return model.coef_.astype(np.float64), model.intercept_.astype(np.float64)


def predict_boxes(coef: np.ndarray, intercept: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Boxes for embeddings ``x``: the regression's output clipped to [0, 1], corners ordered."""
    pred = np.clip(np.asarray(x, dtype=np.float64) @ coef.T + intercept, 0, 1)
    return np.hstack([np.minimum(pred[:, :2], pred[:, 2:]), np.maximum(pred[:, :2], pred[:, 2:])])


def centred_box(boxes: np.ndarray) -> np.ndarray:
    """The box of the mean width and height of ``boxes``, centred in the image."""
    w, h = (boxes[:, 2] - boxes[:, 0]).mean(), (boxes[:, 3] - boxes[:, 1]).mean()
    return np.array([(1 - w) / 2, (1 - h) / 2, (1 + w) / 2, (1 + h) / 2])


def iou_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (n, 4) box arrays in [0, 1]."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def ranker_folds(embeddings: np.ndarray, pairs: Any, folds: int) -> RankerFolds | None:
    """Out-of-fold margins of the ranker (None: fewer than two sets with pairs)."""
    from sklearn.model_selection import GroupKFold

    groups = groups_of(pairs)
    k = min(folds, len(set(groups.tolist())))
    if k < 2:
        return None
    diff = pair_differences(embeddings, pairs)
    margin = np.zeros(len(diff))
    for train, test in GroupKFold(n_splits=k).split(diff, groups=groups):
        margin[test] = diff[test] @ fit_ranker(diff[train])
    return RankerFolds(margin, groups, k)


def box_folds(embeddings: np.ndarray, crops: Any, folds: int) -> BoxFolds | None:
    """Out-of-fold boxes of the box regressor (None: fewer than two sets with crops)."""
    from sklearn.model_selection import GroupKFold

    groups = groups_of(crops)
    k = min(folds, len(set(groups.tolist())))
    if k < 2:
        return None
    x = np.asarray(embeddings)[crops["row"].to_numpy(dtype=np.int64)]
    truth = crops[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    pred, centre, mean = np.zeros_like(truth), np.zeros_like(truth), np.zeros_like(truth)
    for train, test in GroupKFold(n_splits=k).split(x, groups=groups):
        pred[test] = predict_boxes(*fit_boxes(x[train], truth[train]), x[test])
        centre[test], mean[test] = centred_box(truth[train]), truth[train].mean(axis=0)
    return BoxFolds(pred, centre, mean, truth, groups, k)


def baseline(folder: str | os.PathLike[str], *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """``curalog dataset baseline``: does the data carry signal? The ranker's pairwise accuracy
    and the box regressor's mean IoU, out of fold by set, against a random pick (0.5) and the
    centred box of the mean size. (``seed`` is kept for callers: the fit is deterministic.)"""
    from curalog.dataset.loading import load

    del seed
    ds = load(folder)
    out: dict[str, Any] = {}
    ranked = ranker_folds(ds.embeddings, ds.pairs, folds)
    if ranked is None:
        out["ranker"] = {"pairs": len(ds.pairs), "skipped": "fewer than 2 sets with pairs"}
    else:
        correct = float((ranked.margin > 0).sum())
        out["ranker"] = {"pairs": len(ranked.margin), "folds": ranked.folds,
                         "pairwise_accuracy": correct / len(ranked.margin), "random_pick": 0.5}  # fmt: skip
    boxed = box_folds(ds.embeddings, ds.crops, folds)
    if boxed is None:
        out["boxes"] = {"crops": len(ds.crops), "skipped": "fewer than 2 sets with crops"}
    else:
        out["boxes"] = {"crops": len(boxed.truth), "folds": boxed.folds,
                        "mean_iou": float(iou_rows(boxed.pred, boxed.truth).mean()),
                        "centre_of_mean_size": float(iou_rows(boxed.centre, boxed.truth).mean())}  # fmt: skip
    return out

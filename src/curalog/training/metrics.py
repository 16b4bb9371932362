"""Held-out figures with confidence intervals: a model's out-of-fold score per row (a pair
ranked right, a crop's IoU) against a trivial baseline's, overall and per project.

Rows of one set are not independent (a set's pairs share its chosen image), so the intervals come
from a bootstrap over sets: sets are drawn with replacement and the row-weighted mean is taken
(``BOOTSTRAP`` draws, seeded: the same data gives the same interval). ``lift`` is the model's
mean minus the baseline's, with the interval of that difference over the same draws: a lower
bound above 0 is what "clearly above baseline" means here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BOOTSTRAP = 1000  # draws
LEVEL = 0.95  # the intervals' coverage
_BATCH = 100  # draws at a time (a draw over 28k sets is 28k indices)


def compare(model: np.ndarray, base: np.ndarray, groups: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Mean of ``model`` and of ``base`` (one value per row), their difference, and a bootstrap
    interval over the sets (``groups``) of each."""
    sets, at = np.unique(groups, return_inverse=True)
    n = np.bincount(at, minlength=len(sets)).astype(np.float64)
    sums = np.stack(
        [np.bincount(at, weights=v.astype(np.float64), minlength=len(sets)) for v in (model, base)]
    )
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    for start in range(0, BOOTSTRAP, _BATCH):
        pick = rng.integers(0, len(sets), size=(min(_BATCH, BOOTSTRAP - start), len(sets)))
        count = n[pick].sum(axis=1)
        draws.append(np.stack([s[pick].sum(axis=1) / count for s in sums], axis=1))
    means = np.concatenate(draws)  # (BOOTSTRAP, 2): model, baseline
    tail = (1 - LEVEL) / 2 * 100

    def interval(values: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in np.percentile(values, [tail, 100 - tail])]

    m, b = float(model.mean()), float(base.mean())
    return {
        "rows": len(model), "sets": len(sets),
        "model": round(m, 4), "model_ci": interval(means[:, 0]),
        "baseline": round(b, 4), "baseline_ci": interval(means[:, 1]),
        "lift": round(m - b, 4), "lift_ci": interval(means[:, 0] - means[:, 1]),
    }  # fmt: skip


def by_project(model: np.ndarray, base: np.ndarray, groups: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """``compare`` for the rows of each project (the part of a group before its NUL)."""
    projects = np.array([g.partition("\x00")[0] for g in groups.tolist()], dtype=object)
    return {
        str(p): compare(model[projects == p], base[projects == p], groups[projects == p], seed)
        for p in sorted(set(projects.tolist()))
    }


def clearly_above(figures: dict[str, Any]) -> bool:
    """Whether the model beats its baseline beyond chance: the lift's interval is above 0."""
    return figures["lift_ci"][0] > 0

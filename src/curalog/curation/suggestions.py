"""Suggestions in the curation app: the model in use (``curalog train``) ranks a set's variants
by their vectors and proposes a crop box on the best one; the page marks them as a suggestion,
``Enter`` accepts, any change overrides. What the person did with it is stored with the decision
(``ledger.suggestions``), and never changes what counts as the decision.

A suggestion needs every variant embedded by the model's embedding model: otherwise there is
none, and the reason says why (a model never scores another model's vectors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from curalog.dataset.signal import iou_rows
from curalog.errors import DecisionRejected, ImageError
from curalog.ledger.suggestions import Shown
from curalog.project import Project
from curalog.training.model import Model, ModelMismatch

MIN_SIDE = 0.01  # a suggested box thinner than this (normalized) is no box


@dataclass(frozen=True)
class Suggestion:
    model_id: str
    index: int  # the variant the model ranks first
    box: tuple[float, float, float, float] | None  # normalized to that variant as seen
    scores: tuple[float, ...]

    @property
    def token(self) -> str:
        """What the page sends back with a decision made while this suggestion was shown."""
        return f"{self.model_id}:{self.index}"


def suggest(project: Project, model: Model, paths: list[str]) -> Suggestion | str:
    """The model's suggestion for the set of ``paths``, or why there is none."""
    vectors, fingerprints = [], []
    store = project.embeddings
    for p in paths:
        try:
            digest = project.facts.get(p).sha256
        except ImageError as exc:
            return f"no suggestion: {exc}"
        if store.vector_problem(digest) is not None:
            return f"no suggestion: {p} has no usable vector yet"
        vectors.append(store.load(digest))
        fingerprints.append(store.model_of(digest) or "")
    try:
        scores = model.scores(np.stack(vectors), fingerprints)
        best = int(np.argmax(scores))
        box = None
        if model.box_coef is not None:
            predicted = model.boxes(vectors[best][None, :], fingerprints[best])[0]
            x1, y1, x2, y2 = (round(float(v), 4) for v in predicted)
            box = (x1, y1, x2, y2) if x2 - x1 >= MIN_SIDE and y2 - y1 >= MIN_SIDE else None
    except ModelMismatch as exc:
        return f"no suggestion: {exc}"
    return Suggestion(model.id, best, box, tuple(round(float(s), 4) for s in scores))


def answered(
    shown: Suggestion,
    chosen: int,
    pixels: tuple[int, int, int, int] | None,
    size: tuple[int, int] | None,
    to_pixels: Callable[[Sequence[float], int, int], tuple[int, int, int, int]],
) -> Shown:
    """What the person did with ``shown``: the decision picked ``chosen`` with the box ``pixels``
    (None: a selection) on an image of ``size``; ``to_pixels(box, w, h)`` turns a normalized
    box into pixels as the decision's box was (so an accepted box is equal, not close)."""
    if chosen != shown.index:
        return Shown(shown.model_id, shown.index, shown.box, "overridden")
    if shown.box is None:
        return Shown(shown.model_id, shown.index, None, "accepted")
    if pixels is None or size is None:
        return Shown(shown.model_id, shown.index, shown.box, "edited")
    try:
        suggested = to_pixels(shown.box, *size)
    except DecisionRejected:
        suggested = None
    final = np.array([[pixels[0] / size[0], pixels[1] / size[1], pixels[2] / size[0], pixels[3] / size[1]]])
    iou = round(float(iou_rows(np.array([shown.box]), final)[0]), 4)
    outcome = "accepted" if suggested == pixels else "edited"
    return Shown(shown.model_id, shown.index, shown.box, outcome, min(max(iou, 0.0), 1.0))

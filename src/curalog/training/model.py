"""A trained model on disk: the ranker's weights and the box regressor's, with a manifest that
says what they were trained on (the dataset manifest's sha256, the embedding fingerprint, the
dimension), how well they did held out, and by which code.

A model scores only vectors of the embedding fingerprint it was trained on: another model's
vectors (or another length) raise ``ModelMismatch``, never a silent nonsense score.

Folder: ``<models>/<id>/`` holding ``model.npz`` and ``manifest.json``; ``<models>/active.json``
names the model in use (``activate``). A model folder is written once and never replaced.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

import numpy as np

from curalog.audit import AuditLog
from curalog.dataset.signal import predict_boxes
from curalog.errors import ConfigError, CuralogError, shown
from curalog.files import read_regular, write_file

MODEL_FILES = ("model.npz", "manifest.json")
ACTIVE = "active.json"
MODELS_DIR = "data/models"  # where a project's models are saved, below its root


class ModelMismatch(CuralogError):
    """Vectors a model cannot score: another embedding fingerprint, or another length."""


@dataclass(frozen=True)
class Model:
    id: str
    fingerprint: str  # the embedding model that made the vectors it was trained on
    dim: int
    ranker: np.ndarray | None  # (dim,): score = ranker @ vector (None: no pairs to train on)
    box_coef: np.ndarray | None  # (4, dim) (None: no crops to train on)
    box_intercept: np.ndarray | None  # (4,)
    manifest: dict[str, Any] = field(default_factory=dict)

    def check(self, vectors: np.ndarray, fingerprints: str | Iterable[str]) -> np.ndarray:
        """``vectors`` as float64 (n, dim), or ``ModelMismatch`` naming what differs: each
        vector's fingerprint (one for all, or one each) must be the model's."""
        given = [fingerprints] if isinstance(fingerprints, str) else list(fingerprints)
        other = sorted({f for f in given if f != self.fingerprint})
        if other:
            raise ModelMismatch(
                f"model {self.id} was trained on vectors of {self.fingerprint or '(no model named)'!r}; "
                f"it does not score vectors of {', '.join(map(repr, other))} (train on a dataset of those)"
            )
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ModelMismatch(f"model {self.id} scores vectors of length {self.dim}, not shape {x.shape}")
        return x

    def scores(self, vectors: np.ndarray, fingerprints: str | Iterable[str]) -> np.ndarray:
        """The ranker's score of each vector (the highest is the suggested pick)."""
        if self.ranker is None:
            raise ModelMismatch(f"model {self.id} has no ranker (its dataset held no pairs)")
        return self.check(vectors, fingerprints) @ self.ranker

    def boxes(self, vectors: np.ndarray, fingerprints: str | Iterable[str]) -> np.ndarray:
        """The suggested crop box of each vector's image, (n, 4) in [0, 1]."""
        if self.box_coef is None or self.box_intercept is None:
            raise ModelMismatch(f"model {self.id} has no box regressor (its dataset held no crops)")
        return predict_boxes(self.box_coef, self.box_intercept, self.check(vectors, fingerprints))


def save_model(model: Model, models: Path, audit: AuditLog) -> Path:
    """Write ``model`` to ``models/<id>/`` (a new folder: an existing one is never replaced)."""
    folder = models / model.id
    if os.path.lexists(folder):
        raise CuralogError(f"{shown(folder)} already exists; a model folder is never replaced")
    arrays = {name: value for name, value in (("ranker", model.ranker), ("box_coef", model.box_coef),
              ("box_intercept", model.box_intercept)) if value is not None}  # fmt: skip
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    folder.mkdir(parents=True)
    write_file(folder / "model.npz", buf.getbuffer())
    write_file(folder / "manifest.json", json.dumps(model.manifest, indent=2, sort_keys=True) + "\n")
    audit.record("create", list(MODEL_FILES), dest_dir=str(folder), notes=f"model {model.id}")
    return folder


def load_model(folder: str | os.PathLike[str]) -> Model:
    """The model saved in ``folder``; ``ConfigError`` (one line) when it is not a whole, sound
    one (read as regular files only: a named pipe there never hangs the caller)."""
    f = Path(folder)
    try:
        manifest = json.loads(read_regular(f / "manifest.json").decode("utf-8"))
        with np.load(io.BytesIO(read_regular(f / "model.npz")), allow_pickle=False) as z:
            arrays = {name: np.asarray(z[name], dtype=np.float64) for name in z.files}
        box = arrays.get("box_coef"), arrays.get("box_intercept")
        model = Model(str(manifest["id"]), str(manifest["fingerprint"]), int(manifest["dim"]),
                      arrays.get("ranker"), *box, manifest)  # fmt: skip
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        EOFError,
        OverflowError,
        BadZipFile,
    ) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{shown(f)} is not a curalog model ({shown(why)})") from exc
    problems = _unsound(model, f.name)
    if problems:
        raise ConfigError(f"{shown(f)} is not a sound curalog model: {'; '.join(problems)}")
    return model


def _unsound(model: Model, name: str) -> list[str]:
    """What is wrong with a model read from the folder ``name`` (nothing: [])."""
    problems = [] if model.id == name else [f"its id {model.id!r} is not its folder's name"]
    if model.dim < 1:
        problems.append(f"dimension {model.dim}")
    shapes = {"ranker": (model.ranker, (model.dim,)), "box_coef": (model.box_coef, (4, model.dim)),
              "box_intercept": (model.box_intercept, (4,))}  # fmt: skip
    for what, (array, shape) in shapes.items():
        if array is not None and array.shape != shape:
            problems.append(f"{what} of shape {array.shape}, not {shape}")
        elif array is not None and not np.isfinite(array).all():
            problems.append(f"{what} holds NaN or Inf")
    if (model.box_coef is None) != (model.box_intercept is None):
        problems.append("half a box regressor")
    return problems


def activate(models: Path, model_id: str, audit: AuditLog) -> None:
    """Make ``model_id`` the model in use (``models/active.json``: curalog's own file, so a link
    planted there is refused, never written through)."""
    write_file(models / ACTIVE, json.dumps({"model": model_id}) + "\n", own=True)
    audit.record("create", [ACTIVE], dest_dir=str(models), notes=f"model in use: {model_id}")


def active_model(models: Path) -> Model | None:
    """The model in use, or None when none was trained (``ConfigError`` if it cannot be read)."""
    model_id = active_id(models)
    return load_model(models / model_id) if model_id is not None else None


def active_id(models: Path) -> str | None:
    """The id of the model in use (``active.json``, read as a regular file only), or None when
    none was trained; ``ConfigError`` when it cannot be read or names no model folder."""
    try:
        text = read_regular(models / ACTIVE).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"cannot read {shown(models / ACTIVE)}: {why}") from exc
    try:
        model_id = json.loads(text)["model"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{shown(models / ACTIVE)} names no model ({exc})") from exc
    if not isinstance(model_id, str) or "/" in model_id or model_id in ("", ".", ".."):
        raise ConfigError(f"{shown(models / ACTIVE)} names no model folder ({model_id!r})")
    return model_id

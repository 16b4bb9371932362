"""Models trained on the decisions (``curalog train``): a ranker (which variant wins) and a box
regressor (where the crop goes), scored held out against trivial baselines and saved with what
they were trained on.

``train``: the training run; ``retrain``: again when enough new decisions came, keeping the
better model; ``model``: a saved model, which refuses vectors of another embedding model;
``metrics``: held-out figures with bootstrap intervals over sets.
"""

from curalog.training.metrics import clearly_above, compare
from curalog.training.model import ACTIVE, MODEL_FILES, Model, ModelMismatch, active_model, load_model
from curalog.training.retrain import Retrained, retrain
from curalog.training.train import TrainResult, train

__all__ = [
    "ACTIVE", "MODEL_FILES", "Model", "ModelMismatch", "Retrained", "TrainResult", "active_model",
    "clearly_above", "compare", "load_model", "retrain", "train",
]  # fmt: skip

"""Training sets that account for every decision (``curalog dataset build``), and reading them.

``builder``: the build (reconciliation, matrix, manifest); ``examples``: the crops and ranker
pairs; ``folder``: the output folder, its temp folder and the swap; ``loading``: ``load`` and
``TorchCropDataset``; ``signal``: ``baseline`` and the linear models scored out of fold.
"""

from curalog.dataset.builder import BuildResult, ReconciliationError, build, drop_reason
from curalog.dataset.examples import CROP_COLUMNS, NO_VECTOR, PAIR_COLUMNS, SAME_CONTENT, split_of, splits
from curalog.dataset.folder import BUILDING, FILES, STALE_AFTER, dataset_target, is_dataset
from curalog.dataset.loading import Dataset, TorchCropDataset, load
from curalog.dataset.signal import baseline

__all__ = [
    "BUILDING",
    "CROP_COLUMNS",
    "FILES",
    "NO_VECTOR",
    "PAIR_COLUMNS",
    "SAME_CONTENT",
    "STALE_AFTER",
    "BuildResult",
    "Dataset",
    "ReconciliationError",
    "TorchCropDataset",
    "baseline",
    "build",
    "dataset_target",
    "drop_reason",
    "is_dataset",
    "load",
    "split_of",
    "splits",
]

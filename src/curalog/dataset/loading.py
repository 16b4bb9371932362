"""Reading a built dataset: pandas tables and the memory-mapped matrix (``load``), and a torch view
of the crops (``TorchCropDataset``)."""

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

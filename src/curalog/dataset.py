"""Training sets that account for every decision: ``curalog dataset build``.

The validator decides, row by row, which logged decisions can become training examples (the
same rule as its ``usable_*`` counts); the builder writes those, and lists every other one in a
drop report with its reason. The manifest's reconciliation says, for crops and selections
separately, logged = used + dropped (by finding code), and the build fails if it does not add up.

Output folder:
  crops.parquet   one row per usable crop: decision, set, project, chosen path + hash, box in
                  [0, 1], its row in the embedding matrix, split
  pairs.parquet   ranker pairs: the chosen image vs each rejected candidate with a vector
  embeddings.npy  float32 (n, dim), one row per distinct image hash used (memory-mappable)
  manifest.json   inputs, counts, the reconciliation, the split, the embedding model
  drops.csv       every dropped decision: kind, source, line, set, project, path, reason, codes
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from curalog import __version__
from curalog.config import Config, find_root, load_config
from curalog.embeddings.npy import read_vectors
from curalog.errors import CuralogError
from curalog.paths import PathError
from curalog.validate.engine import Validation

# Which finding names a dropped decision's reason: the first of these it has, in this order
# (findings.md's precedence); anything else that made it unusable comes after.
DROP_ORDER = (
    "row.malformed", "path.unresolved", "path.ambiguous", "crop.zero_dimensions", "crop.placeholder",
    "crop.invalid_box", "crop.out_of_bounds", "decision.no_embedding", "row.duplicate",
)  # fmt: skip
CROP_COLUMNS = ("decision", "set_id", "project", "chosen_path", "chosen_hash", "x1", "y1", "x2", "y2", "row",
                "split")  # fmt: skip
PAIR_COLUMNS = ("decision", "kind", "set_id", "project", "chosen_path", "chosen_hash", "chosen_row",
                "rejected_path", "rejected_hash", "rejected_row", "split")  # fmt: skip
FILES = ("crops.parquet", "pairs.parquet", "embeddings.npy", "manifest.json", "drops.csv")


class ReconciliationError(CuralogError):
    """The build's counts do not add up: nothing was written."""


@dataclass
class BuildResult:
    out: Path
    manifest: dict[str, Any]

    @property
    def reconciliation(self) -> dict[str, Any]:
        return self.manifest["reconciliation"]


def _columns(names: tuple[str, ...], rows: list[tuple]) -> dict[str, list]:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return {name: list(values) for name, values in zip(names, columns, strict=True)}


def drop_reason(codes: tuple[str, ...]) -> str:
    for code in DROP_ORDER:
        if code in codes:
            return code
    return codes[0] if codes else "unusable"


def split_of(project: str, set_id: str, seed: int, val_fraction: float) -> str:
    """ "train" or "val" for a whole set: a hash of the seed and the set, so a set is never on
    both sides and the same inputs always split the same way."""
    digest = hashlib.sha256(f"{seed}\x00{project}\x00{set_id}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def _normalized(box: tuple[float, ...], size: tuple[float, float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    if max(box) <= 1 and min(box) >= 0 and (size[0] > 1 or size[1] > 1):  # already in [0, 1]
        return (x1, y1, x2, y2)
    w, h = size
    return (x1 / w, y1 / h, x2 / w, y2 / h)


def _inputs(config: Config) -> dict[str, Any]:
    """The identity of every input file the build read (path, size, mtime)."""
    out = {}
    for key in ("selection_log", "crop_log", "embedding_index", "database"):
        path = config.path(key)
        try:
            st = path.stat()
            out[getattr(config.layout, key)] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        except OSError:
            out[getattr(config.layout, key)] = None
    return out


def build(
    root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> BuildResult:
    """Build a training set from the project's decisions (ledger and legacy logs).
    ``progress(done, total, phase)`` follows the validation and the examples."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    config = load_config(Path(root) if root is not None else find_root())
    target = Path(out) if out is not None else config.root / "data" / "dataset"
    if target.exists() and any(target.iterdir()) and not force:
        raise CuralogError(f"{target} is not empty; pass --force to replace the dataset there")
    check = Validation(config, deep=False, since=None, use_cache=True, progress=progress, collect=True)
    report = check.run()
    outcomes = check.outcomes

    # -- reconciliation of decisions -------------------------------------------------------------
    logged = {"crop": report.crops, "selection": report.selections}
    used = {"crop": 0, "selection": 0}
    dropped: dict[str, Counter] = {"crop": Counter(), "selection": Counter()}
    for o in outcomes:
        if o.usable:
            used[o.kind] += 1
        else:
            dropped[o.kind][drop_reason(o.codes)] += 1
    reconciliation = {
        name: {"logged": logged[kind], "used": used[kind], "dropped": dict(sorted(dropped[kind].items()))}
        for kind, name in (("crop", "crops"), ("selection", "selections"))
    }
    problems = []
    for name in ("crops", "selections"):
        r = reconciliation[name]
        if r["logged"] != r["used"] + sum(r["dropped"].values()):
            problems.append(
                f"{name}: logged {r['logged']} != used {r['used']} + dropped {sum(r['dropped'].values())}"
            )
    if used["crop"] != report.usable_crops or used["selection"] != report.usable_selections:
        problems.append(
            f"used ({used['crop']} crops, {used['selection']} selections) differs from the validator's "
            f"usable ({report.usable_crops}, {report.usable_selections})"
        )
    if problems:
        raise ReconciliationError("the dataset does not account for every decision: " + "; ".join(problems))

    # -- examples --------------------------------------------------------------------------------
    resolver = check.resolver
    sound = check.sound

    def vector_hash(raw: str, directory: str) -> str | None:
        try:
            canonical = resolver.quick(raw, directory) or resolver.resolve(raw, directory).canonical
        except PathError:
            return None
        return check.index[canonical].hash if canonical in sound else None

    rows_of: dict[str, int] = {}  # hash -> row in the matrix

    def row(digest: str) -> int:
        if digest not in rows_of:
            rows_of[digest] = len(rows_of)
        return rows_of[digest]

    crop_rows: list[tuple] = []
    pair_rows: list[tuple] = []
    pairs_dropped: Counter = Counter()
    split_counts: Counter = Counter()
    for n, o in enumerate(outcomes, start=1):
        if progress and (n % 16384 == 0 or n == len(outcomes)):
            progress(n, len(outcomes), "examples")
        if not o.usable:
            continue
        split = split_of(o.project, o.set_id, seed, val_fraction)
        split_counts[(o.kind, split)] += 1
        decision = f"{o.source}:{o.line}"
        if o.kind == "crop":
            assert o.box is not None and o.size is not None
            box = _normalized(o.box, o.size)
            crop_rows.append((decision, o.set_id, o.project, o.path, o.hash, *box, row(o.hash), split))
        for other in o.others:
            if not other:
                continue
            digest = vector_hash(other, o.directory)
            if digest is None:
                pairs_dropped["rejected image has no usable vector"] += 1
            elif digest == o.hash:
                pairs_dropped["rejected image has the same content as the chosen one"] += 1
            else:
                chosen = (o.path, o.hash, row(o.hash))
                pair_rows.append(
                    (decision, o.kind, o.set_id, o.project, *chosen, other, digest, row(digest), split)
                )
    crops = _columns(CROP_COLUMNS, crop_rows)
    pairs = _columns(PAIR_COLUMNS, pair_rows)

    # -- the matrix ------------------------------------------------------------------------------
    emb_dir = config.path("embeddings_dir")
    dims = {check.vector_length[d] for d in rows_of}
    if len(dims) > 1:
        raise CuralogError(f"the vectors used have different lengths {sorted(dims)}: re-embed with one model")
    dim = dims.pop() if dims else 0
    try:  # rows_of numbers hashes in insertion order, so the files are read in row order
        mat = read_vectors(emb_dir, [f"{digest}.npy" for digest in rows_of], dim)
    except (OSError, ValueError) as exc:
        raise CuralogError(f"a vector file changed while the dataset was built ({exc}); build again") from exc
    models = Counter(ref.model for path, ref in check.index.items() if path in sound and ref.hash in rows_of)

    # -- write (into a temp folder, then swapped in: no half-written dataset) -------------------------
    manifest = {
        "curalog": __version__,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "root": str(config.root),
        "inputs": _inputs(config),
        "validation": {"errors": report.errors, "warnings": report.warnings, "by_code": report.by_code},
        "reconciliation": reconciliation,
        "pairs": {"written": len(pair_rows), "left_out": dict(pairs_dropped)},
        "counts": {"crops": len(crop_rows), "pairs": len(pair_rows), "images": len(rows_of), "dim": dim},
        "split": {
            "seed": seed,
            "val_fraction": val_fraction,
            "by": "project + set_id",
            **{f"{k}_{s}": n for (k, s), n in sorted(split_counts.items())},
        },
        "embedding_models": dict(models),
    }
    tmp = target.with_name(f".{target.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pq.write_table(pa.table(crops), tmp / "crops.parquet")
    pq.write_table(pa.table(pairs), tmp / "pairs.parquet")
    np.save(tmp / "embeddings.npy", mat)
    with open(tmp / "drops.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["kind", "source", "line", "set_id", "project", "path", "reason", "codes"])
        for o in outcomes:
            if not o.usable:
                w.writerow([o.kind, o.source, o.line, o.set_id, o.project, o.path, drop_reason(o.codes),
                            " ".join(o.codes)])  # fmt: skip
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return BuildResult(target, manifest)


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

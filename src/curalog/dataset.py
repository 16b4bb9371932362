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
import glob
import hashlib
import json
import os
import shutil
import socket
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from curalog.audit import AuditLog
from curalog.codes import DROP_ORDER
from curalog.config import Config, find_root, load_config
from curalog.embeddings.npy import read_vectors
from curalog.errors import ConfigError, CuralogError, listing, shown
from curalog.files import swap_folder, target_of, where_is
from curalog.legacy.logs import require_logs
from curalog.progress import Progress
from curalog.validate.decision_rules import canonical_codes
from curalog.validate.engine import collect, gc_paused
from curalog.validate.index import Embedded
from curalog.validate.outcomes import CleanSelections, RowOutcome
from curalog.version import __version__

CROP_COLUMNS = ("decision", "set_id", "project", "chosen_path", "chosen_hash", "x1", "y1", "x2", "y2", "row",
                "split")  # fmt: skip
PAIR_COLUMNS = ("decision", "kind", "set_id", "project", "chosen_path", "chosen_hash", "chosen_row",
                "rejected_path", "rejected_hash", "rejected_row", "split")  # fmt: skip
# why a rejected candidate makes no ranker pair (counted in the manifest's pairs.left_out)
NO_VECTOR = "rejected image has no usable vector"
SAME_CONTENT = "rejected image has the same content as the chosen one"
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


def drop_reason(codes: tuple[str, ...]) -> str:
    for code in DROP_ORDER:
        if code in codes:
            return code
    return codes[0] if codes else "unusable"


def splits(projects: list[str], set_ids: list[str], seed: int, val_fraction: float) -> np.ndarray:
    """For each (project, set), True when the set goes to validation. A keyed hash of the set
    decides (SipHash-2-4 keyed by the seed, as pandas.util.hash_array computes it), so a set is
    never on both sides and the same inputs always split the same way."""
    if not projects:
        return np.zeros(0, dtype=bool)
    return _split_keys(
        np.array([f"{p}\x00{s}" for p, s in zip(projects, set_ids, strict=True)], dtype=object),
        seed,
        val_fraction,
    )


def _split_keys(keys: np.ndarray, seed: int, val_fraction: float) -> np.ndarray:
    """``splits`` for keys already joined as "project\\x00set_id" (an object array)."""
    from pandas.util import hash_array

    if not len(keys):
        return np.zeros(0, dtype=bool)
    key = hashlib.sha256(str(seed).encode()).hexdigest()[:16]
    hashed = hash_array(keys, hash_key=key, categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) / 2.0**53 < val_fraction


def split_of(project: str, set_id: str, seed: int, val_fraction: float) -> str:
    """ "train" or "val" for a whole set (see ``splits``)."""
    return "val" if splits([project], [set_id], seed, val_fraction)[0] else "train"


def _inputs(config: Config) -> dict[str, Any]:
    """The identity of every input file the build read (path, size, mtime)."""
    out = {}
    for source, path in [*config.legacy_files(), (config.layout.database, config.path("database"))]:
        try:
            st = path.stat()
            out[source] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        except OSError:
            out[source] = None
    return out


@dataclass
class _Examples:
    crops: Any  # pyarrow.Table, CROP_COLUMNS
    pairs: Any  # pyarrow.Table, PAIR_COLUMNS
    hashes: list[str]  # the embedding matrix's rows: one content hash each
    pairs_left_out: dict[str, int]
    split_counts: dict[str, int]


def _examples(embedded: Embedded, outcomes: list[RowOutcome], clean: CleanSelections | None, seed: int,
              val_fraction: float) -> _Examples:  # fmt: skip
    """The usable decisions as training tables, built column-wise (a million decisions are a
    few array operations, not a million Python objects per table)."""
    import pyarrow as pa

    used = [o for o in outcomes if o.usable]
    cols: list = list(zip(*used, strict=True)) if used else [() for _ in RowOutcome._fields]
    kinds, sources, lines, set_ids, projects, paths, hashes, directories, others, boxes, sizes = cols[:11]
    val = splits(projects, set_ids, seed, val_fraction)
    split = np.where(val, "val", "train").astype(object)
    is_crop = np.array([k == "crop" for k in kinds], dtype=bool)
    split_counts = {
        f"{kind}_{side}": int(count)
        for kind, mask in (("crop", is_crop), ("selection", ~is_crop))
        for side, count in (("train", (mask & ~val).sum()), ("val", (mask & val).sum()))
        if count
    }

    # ranker pairs: the chosen image against each rejected candidate that has a usable vector
    known: dict[str, dict[str, str | None]] = {}  # directory -> logged path -> vector hash

    row_of: dict[str, int] = {}  # content hash -> its row in the embedding matrix
    crop_at = np.flatnonzero(is_crop)
    crop_rows = [_row_id(row_of, hashes[i]) for i in crop_at.tolist()]
    pair_of: list[int] = []  # the decision (position in ``used``) of each pair
    chosen_rows: list[int] = []
    rejected_paths: list[str] = []
    rejected_hashes: list[str] = []
    rejected_rows: list[int] = []
    left_out: Counter = Counter()
    for i, (rest, directory, chosen) in enumerate(zip(others, directories, hashes, strict=True)):
        cache = known.get(directory)
        if cache is None:
            cache = known[directory] = {}
        for other in rest:
            if not other:
                continue
            if other in cache:
                digest = cache[other]
            else:
                digest = cache[other] = embedded.usable_hash(other, directory)
            if digest is None:
                left_out[NO_VECTOR] += 1
            elif digest == chosen:
                left_out[SAME_CONTENT] += 1
            else:
                chosen_rows.append(_row_id(row_of, chosen))
                rejected_rows.append(_row_id(row_of, digest))
                pair_of.append(i)
                rejected_paths.append(other)
                rejected_hashes.append(digest)
    pair_at = np.array(pair_of, dtype=np.int64)
    n_crop = len(crop_at)

    columns = {
        "decision": pa.array([f"{s}:{line}" for s, line in zip(sources, lines, strict=True)], pa.string()),
        "kind": pa.array(kinds, pa.string()),
        "set_id": pa.array(set_ids, pa.string()),
        "project": pa.array(projects, pa.string()),
        "chosen_path": pa.array(paths, pa.string()),
        "chosen_hash": pa.array(hashes, pa.string()),
        "split": pa.array(split, pa.string()),
    }
    if n_crop:
        box = np.array([boxes[i] for i in crop_at], dtype=np.float64)
        wh = np.array([sizes[i] for i in crop_at], dtype=np.float64)
    else:
        box, wh = np.zeros((0, 4)), np.zeros((0, 2))
    already = (box.max(axis=1, initial=0) <= 1) & (box.min(axis=1, initial=0) >= 0) & ((wh > 1).any(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = box / np.hstack([wh, wh])
    norm = np.where(already[:, None], box, scaled)
    take = pa.array(crop_at, pa.int64())
    crops = pa.table({
        **{name: columns[name].take(take) for name in CROP_COLUMNS[:5]},
        "x1": norm[:, 0], "y1": norm[:, 1], "x2": norm[:, 2], "y2": norm[:, 3],
        "row": np.array(crop_rows, dtype=np.int64),
        "split": columns["split"].take(take),
    })  # fmt: skip
    take = pa.array(pair_at, pa.int64())
    pairs = pa.table({
        **{name: columns[name].take(take) for name in PAIR_COLUMNS[:6]},
        "chosen_row": np.array(chosen_rows, dtype=np.int64),
        "rejected_path": pa.array(rejected_paths, pa.string()),
        "rejected_hash": pa.array(rejected_hashes, pa.string()),
        "rejected_row": np.array(rejected_rows, dtype=np.int64),
        "split": columns["split"].take(take),
    })  # fmt: skip
    if clean is not None:
        bulk_pairs, bulk_split = _bulk_pairs(embedded, clean, row_of, left_out, seed, val_fraction)
        pairs = pa.concat_tables([pairs, bulk_pairs])
        for side, count in bulk_split.items():
            split_counts[f"selection_{side}"] = split_counts.get(f"selection_{side}", 0) + count
        split_counts = {k: v for k, v in sorted(split_counts.items()) if v}
    return _Examples(crops, pairs, list(row_of), dict(left_out), split_counts)


def _row_id(row_of: dict[str, int], digest: str) -> int:
    """The embedding matrix row of a content hash, numbering a new hash next."""
    row = row_of.get(digest)
    if row is None:
        row = row_of[digest] = len(row_of)
    return row


def _row_ids(row_of: dict[str, int], codes: np.ndarray, code_hash: list[str]) -> np.ndarray:
    """``_row_id`` of each code's hash, looked up once per distinct code (in code order)."""
    ids = np.full(len(code_hash), -1, dtype=np.int64)
    for c in np.unique(codes).tolist():
        ids[c] = _row_id(row_of, code_hash[c])
    return ids[codes]


def _bulk_pairs(embedded: Embedded, clean: CleanSelections, row_of: dict[str, int], left_out: Counter,
                seed: int, val_fraction: float) -> tuple[Any, dict[str, int]]:  # fmt: skip
    """Ranker pairs of the selections validated in bulk, column-wise (see ``_examples``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(clean.lines)
    keys = pc.binary_join_element_wise(clean.project, clean.set_id, "\x00").to_numpy(zero_copy_only=False)
    val = _split_keys(keys, seed, val_fraction)
    parents, paths = clean.columns.negatives(clean.at)
    dirs = clean.directory.take(pa.array(parents))
    codes, canonical = canonical_codes(embedded.resolver, paths, dirs)
    sound, index = embedded.sound, embedded.index
    digests: list[str | None] = [index[c].hash if c is not None and c in sound else None for c in canonical]
    unknown = [i for i, c in enumerate(canonical) if c is None]
    if unknown:  # paths quick cannot place: resolved one by one, as the per-row builder does
        rows = np.flatnonzero(np.isin(codes, unknown))
        raws, where = paths.take(pa.array(rows)).to_pylist(), dirs.take(pa.array(rows)).to_pylist()
        for j, raw, directory in zip(rows.tolist(), raws, where, strict=True):
            codes[j] = len(digests)
            digests.append(embedded.usable_hash(raw, directory))
    chosen = np.array(clean.code_hash, dtype=object)[clean.code[parents]]
    rejected = np.array(digests, dtype=object)[codes]
    missing = np.array([d is None for d in digests], dtype=bool)[codes]
    same = ~missing & (rejected == chosen)
    ok = ~missing & ~same
    if missing.any():
        left_out[NO_VECTOR] += int(missing.sum())
    if same.any():
        left_out[SAME_CONTENT] += int(same.sum())
    pick = parents[ok]
    take = pa.array(pick)
    digest_text = [d or "" for d in digests]
    decision = pc.binary_join_element_wise(
        pa.array(np.full(n, clean.columns.source, dtype=object), pa.string()),
        pc.cast(pa.array(clean.lines), pa.string()), ":",
    )  # fmt: skip
    table = pa.table({
        "decision": decision.take(take),
        "kind": pa.array(np.full(len(pick), "selection", dtype=object), pa.string()),
        "set_id": clean.set_id.take(take),
        "project": clean.project.take(take),
        "chosen_path": clean.path.take(take),
        "chosen_hash": clean.hash.take(take),
        "chosen_row": _row_ids(row_of, clean.code[pick], clean.code_hash),
        "rejected_path": paths.filter(pa.array(ok)),
        "rejected_hash": pa.array(digest_text, pa.string()).take(pa.array(codes[ok])),
        "rejected_row": _row_ids(row_of, codes[ok], digest_text),
        "split": pa.array(np.where(val, "val", "train").astype(object), pa.string()).take(take),
    })  # fmt: skip
    return table, {"train": int((~val).sum()), "val": int(val.sum())}


def build(
    root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build a training set from the project's decisions (ledger and legacy logs).
    ``progress(done, total, phase)`` follows the validation and the examples."""
    with gc_paused():  # millions of long-lived rows and no cycles: see gc_paused
        return _build(root, out, val_fraction=val_fraction, seed=seed, force=force, progress=progress)


# <target's parent>/.<name>.curalog-building-<host>-<pid>[.old]: a build's temp folder
BUILDING = ".curalog-building-"
STALE_AFTER = 24 * 3600  # seconds without a change after which another machine's temp folder is stale


def _building_name(target: Path) -> str:
    return f".{target.name}{BUILDING}{socket.gethostname()}-{os.getpid()}"


def _stale(path: Path) -> bool:
    """A temp folder whose build is gone: this machine's with a dead pid, or (another machine's, or
    a container's, whose pids this one cannot see) nothing changed in it for a day."""
    host, _, pid = path.name.split(BUILDING, 1)[1].removesuffix(".old").rpartition("-")
    if not pid.isdigit():
        return False
    if host == socket.gethostname() and not os.path.exists(f"/proc/{pid}"):
        return True
    try:
        newest = max([path.stat().st_mtime, *(e.stat().st_mtime for e in os.scandir(path))])
    except OSError:
        return False
    return time.time() - newest > STALE_AFTER


def _remove_leftovers(target: Path, audit: AuditLog) -> None:
    """Remove the temp folders of builds that were killed (see ``_stale``), audited."""
    for path in target.parent.glob(f".{glob.escape(target.name)}{BUILDING}*"):
        if not path.is_dir() or path.is_symlink() or not _stale(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        audit.record("delete", [path.name], dest_dir=str(path.parent), notes="temp folder of a killed build")


def _write(target: Path, ex: _Examples, mat: np.ndarray, outcomes: list[RowOutcome], manifest: dict,
           audit: AuditLog, force: bool) -> bool:  # fmt: skip
    """Write the set into a temp folder beside ``target``, then swap it in (a kill leaves the old
    set or the new one, never a half-written one). True when a set was replaced."""
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target, audit)
    tmp = target.with_name(_building_name(target))
    shutil.rmtree(tmp, ignore_errors=True)  # this process's own, from an earlier call
    tmp.mkdir()
    try:
        pq.write_table(ex.crops, tmp / "crops.parquet")
        pq.write_table(ex.pairs, tmp / "pairs.parquet")
        np.save(tmp / "embeddings.npy", mat)
        with open(tmp / "drops.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["kind", "source", "line", "set_id", "project", "path", "reason", "codes"])
            for o in outcomes:
                if not o.usable:
                    w.writerow([o.kind, o.source, o.line, o.set_id, o.project, o.path, drop_reason(o.codes),
                                " ".join(o.codes)])  # fmt: skip
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        # without --force only an empty folder (or none) is replaced: a set another build wrote
        # there meanwhile is not
        empty = target.is_dir() and not any(target.iterdir())
        old = swap_folder(tmp, target, replace=force or empty)
    except FileExistsError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConfigError(f"--out {shown(target)}: another build wrote a dataset there meanwhile; "
                          "pass --force to replace it") from exc  # fmt: skip
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        _remove_replaced(old, target, audit)
    return old is not None


def _remove_replaced(old: Path, target: Path, audit: AuditLog) -> None:
    """Delete the set that was replaced, checked again now: a file saved into it while the build
    ran (it was checked before) is kept, with the folder, and said so in the audit log."""
    if not _not_dataset_files(old, os.listdir(old)):
        shutil.rmtree(old)
        return
    kept = target.with_name(f"{target.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    os.rename(old, kept)
    why = "the replaced dataset held files added during the build: kept, not deleted"
    audit.record("move", [old.name], source_dir=str(old.parent), dest_dir=str(kept), notes=why)


def _not_dataset_files(folder: Path, names: list[str]) -> list[str]:
    """The entries of ``folder`` that are not one of a dataset's files as a build writes them (a
    regular file, not a link): what ``--force`` must never delete."""
    return [
        n for n in sorted(names) if n not in FILES or not (folder / n).is_file() or (folder / n).is_symlink()
    ]


def is_dataset(folder: Path) -> bool:
    """True when ``folder`` holds a dataset curalog built (its manifest says so)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "curalog" in manifest and "reconciliation" in manifest


def dataset_target(config: Config, out: str | os.PathLike[str] | None, *, force: bool = False) -> Path:
    """The folder a build writes (symlinks followed), or ``ConfigError`` saying why not.

    ``--force`` replaces only a dataset curalog built (its manifest and nothing else); never
    the project root, a folder above it, a folder that holds or is one of the project's own
    files (the logs, the database, the vectors, the audit log), or anything inside those."""
    target = Path(out).expanduser() if out is not None else config.root / "data" / "dataset"
    real, root = target_of(target), target_of(config.root)
    named = f"--out {shown(target)}"
    if real == root or real in root.parents:
        raise ConfigError(f"{named} is the project root or a folder above it; choose a folder of its own")
    for p in config.owned_paths():
        owned = where_is(p)
        if real == owned or real in owned.parents or owned in real.parents:
            raise ConfigError(f"{named} would replace the project's own {shown(p)}; choose another folder")
    if real.exists() and not real.is_dir():
        raise ConfigError(f"{named} is a file, not a folder")
    try:
        present = sorted(os.listdir(real)) if real.is_dir() else []
    except OSError as exc:
        raise ConfigError(f"{named}: {exc.strerror or exc}") from exc
    if not present:
        return real
    if not is_dataset(real):
        raise ConfigError(f"{named} is not empty and holds no curalog dataset (manifest.json); curalog "
                          "replaces only a dataset it built: choose a new or empty folder")  # fmt: skip
    foreign = _not_dataset_files(real, present)
    if foreign:
        raise ConfigError(f"{named} holds a dataset and other files: {listing(foreign)}; move them out first")
    if not force:
        raise ConfigError(f"{named} holds a dataset already; pass --force to replace it")
    return real


def _build(
    root: str | os.PathLike[str] | None,
    out: str | os.PathLike[str] | None,
    *,
    val_fraction: float,
    seed: int,
    force: bool,
    progress: Progress | None,
) -> BuildResult:

    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    config = load_config(Path(root) if root is not None else find_root())
    target = dataset_target(config, out, force=force)
    AuditLog(config.path("audit_dir")).require("build a dataset")
    require_logs(config.legacy_files(), "build a dataset (a training set without a whole log)")
    validated = collect(config, progress=progress)
    report, embedded = validated.report, validated.inputs.embedded
    outcomes, clean = validated.judged.rows, validated.judged.clean

    # -- reconciliation of decisions -------------------------------------------------------------
    logged = {"crop": report.crops, "selection": report.selections}
    used = {"crop": 0, "selection": 0}
    dropped: dict[str, Counter] = {"crop": Counter(), "selection": Counter()}
    for o in outcomes:
        if o.usable:
            used[o.kind] += 1
        else:
            dropped[o.kind][drop_reason(o.codes)] += 1
    if clean is not None:  # validated in bulk: no finding, all usable
        used["selection"] += len(clean.lines)
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
    decisions = len(outcomes) + (len(clean.lines) if clean is not None else 0)
    if progress:
        progress(0, decisions, "examples")
    ex = _examples(embedded, outcomes, clean, seed, val_fraction)
    rows_of = ex.hashes
    if progress:
        progress(decisions, decisions, "examples")

    # -- the matrix ------------------------------------------------------------------------------
    emb_dir = config.path("embeddings_dir")
    dims = {embedded.vectors.length[d] for d in rows_of}
    if len(dims) > 1:
        raise CuralogError(f"the vectors used have different lengths {sorted(dims)}: re-embed with one model")
    dim = dims.pop() if dims else 0
    try:  # the files are read in row order (none: no folder to open)
        mat = (
            read_vectors(emb_dir, [f"{digest}.npy" for digest in rows_of], dim)
            if rows_of
            else np.empty((0, dim), np.float32)
        )
    except (OSError, ValueError) as exc:
        raise CuralogError(f"a vector file changed while the dataset was built ({exc}); build again") from exc
    used_hashes = set(rows_of)
    sound = embedded.sound
    models = Counter(
        ref.model for path, ref in embedded.index.items() if path in sound and ref.hash in used_hashes
    )

    # -- write (into a temp folder, then swapped in: no half-written dataset) -------------------------
    manifest = {
        "curalog": __version__,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "root": str(config.root),
        "inputs": _inputs(config),
        "validation": {"errors": report.errors, "warnings": report.warnings, "by_code": report.by_code},
        "reconciliation": reconciliation,
        "pairs": {"written": ex.pairs.num_rows, "left_out": ex.pairs_left_out},
        "counts": {
            "crops": ex.crops.num_rows,
            "pairs": ex.pairs.num_rows,
            "images": len(rows_of),
            "dim": dim,
        },
        "split": {
            "seed": seed,
            "val_fraction": val_fraction,
            "by": "project + set_id",
            **ex.split_counts,
        },
        "embedding_models": dict(models),
    }
    audit = AuditLog(config.path("audit_dir"), script="curalog dataset build")
    try:
        replaced = _write(target, ex, mat, outcomes, manifest, audit, force)
    except OSError as exc:
        raise CuralogError(f"cannot write the dataset to {shown(target)}: {exc.strerror or exc}") from exc
    audit.record(
        "create",
        list(FILES),
        dest_dir=str(target),
        notes=f"dataset: {ex.crops.num_rows} crops, "
        f"{ex.pairs.num_rows} pairs" + ("; replaced the dataset that was there" if replaced else ""),
    )
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

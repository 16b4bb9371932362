"""The training examples: crops and ranker pairs, from what the validator concluded.

Built column-wise from the validator's inputs and its outcomes (a million decisions are a few
array operations, not a million Python objects per table). The split is decided per set by a
keyed hash, so a set is never on both sides.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from curalog.validate.decision_rules import canonical_codes
from curalog.validate.index import Embedded
from curalog.validate.outcomes import CleanSelections, Judged, RowOutcome

CROP_COLUMNS = ("decision", "set_id", "project", "chosen_path", "chosen_hash", "x1", "y1", "x2", "y2", "row",
                "split")  # fmt: skip
PAIR_COLUMNS = ("decision", "kind", "set_id", "project", "chosen_path", "chosen_hash", "chosen_row",
                "rejected_path", "rejected_hash", "rejected_row", "split")  # fmt: skip
# why a rejected candidate makes no ranker pair (counted in the manifest's pairs.left_out)
NO_VECTOR = "rejected image has no usable vector"
SAME_CONTENT = "rejected image has the same content as the chosen one"


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


@dataclass
class Examples:
    crops: Any  # pyarrow.Table, CROP_COLUMNS
    pairs: Any  # pyarrow.Table, PAIR_COLUMNS
    hashes: list[str]  # the embedding matrix's rows: one content hash each
    pairs_left_out: dict[str, int]
    split_counts: dict[str, int]


class _Pairs:
    """Ranker pairs found one decision at a time: the decision (its position among the usable
    ones) and the chosen and rejected images of each pair, by column."""

    def __init__(self) -> None:
        self.of: list[int] = []
        self.chosen_rows: list[int] = []
        self.rejected_paths: list[str] = []
        self.rejected_hashes: list[str] = []
        self.rejected_rows: list[int] = []


def examples(embedded: Embedded, judged: Judged, seed: int, val_fraction: float) -> Examples:
    """The usable decisions as training tables (``judged``: the outcomes the validator collected;
    ``embedded``: its answer to which images have a usable vector)."""
    import pyarrow as pa

    used = [o for o in judged.rows if o.usable]
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
    row_of: dict[str, int] = {}  # content hash -> its row in the embedding matrix
    crop_at = np.flatnonzero(is_crop)
    crop_rows = [_row_id(row_of, hashes[i]) for i in crop_at.tolist()]
    left_out: Counter = Counter()
    found = _row_pairs(embedded, others, directories, hashes, row_of, left_out)
    columns = {
        "decision": pa.array([f"{s}:{line}" for s, line in zip(sources, lines, strict=True)], pa.string()),
        "kind": pa.array(kinds, pa.string()),
        "set_id": pa.array(set_ids, pa.string()),
        "project": pa.array(projects, pa.string()),
        "chosen_path": pa.array(paths, pa.string()),
        "chosen_hash": pa.array(hashes, pa.string()),
        "split": pa.array(split, pa.string()),
    }
    crops = _crop_table(columns, crop_at, boxes, sizes, crop_rows)
    take = pa.array(np.array(found.of, dtype=np.int64), pa.int64())
    pairs = pa.table({
        **{name: columns[name].take(take) for name in PAIR_COLUMNS[:6]},
        "chosen_row": np.array(found.chosen_rows, dtype=np.int64),
        "rejected_path": pa.array(found.rejected_paths, pa.string()),
        "rejected_hash": pa.array(found.rejected_hashes, pa.string()),
        "rejected_row": np.array(found.rejected_rows, dtype=np.int64),
        "split": columns["split"].take(take),
    })  # fmt: skip
    if judged.clean is not None:
        bulk_pairs, bulk_split = _bulk_pairs(embedded, judged.clean, row_of, left_out, seed, val_fraction)
        pairs = pa.concat_tables([pairs, bulk_pairs])
        for side, count in bulk_split.items():
            split_counts[f"selection_{side}"] = split_counts.get(f"selection_{side}", 0) + count
        split_counts = {k: v for k, v in sorted(split_counts.items()) if v}
    return Examples(crops, pairs, list(row_of), dict(left_out), split_counts)


def _row_pairs(embedded: Embedded, others: tuple, directories: tuple, hashes: tuple, row_of: dict[str, int],
               left_out: Counter) -> _Pairs:  # fmt: skip
    """Ranker pairs of the decisions collected one by one: the chosen image against each rejected
    candidate that has a usable vector (each logged path looked up once per directory)."""
    found = _Pairs()
    known: dict[str, dict[str, str | None]] = {}  # directory -> logged path -> vector hash
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
                found.chosen_rows.append(_row_id(row_of, chosen))
                found.rejected_rows.append(_row_id(row_of, digest))
                found.of.append(i)
                found.rejected_paths.append(other)
                found.rejected_hashes.append(digest)
    return found


def _crop_table(columns: dict[str, Any], crop_at: np.ndarray, boxes: tuple, sizes: tuple,
                crop_rows: list[int]) -> Any:  # fmt: skip
    """The crops table: boxes in [0, 1] (pixel boxes divided by the logged size)."""
    import pyarrow as pa

    if len(crop_at):
        box = np.array([boxes[i] for i in crop_at], dtype=np.float64)
        wh = np.array([sizes[i] for i in crop_at], dtype=np.float64)
    else:
        box, wh = np.zeros((0, 4)), np.zeros((0, 2))
    already = (box.max(axis=1, initial=0) <= 1) & (box.min(axis=1, initial=0) >= 0) & ((wh > 1).any(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = box / np.hstack([wh, wh])
    norm = np.where(already[:, None], box, scaled)
    take = pa.array(crop_at, pa.int64())
    return pa.table({
        **{name: columns[name].take(take) for name in CROP_COLUMNS[:5]},
        "x1": norm[:, 0], "y1": norm[:, 1], "x2": norm[:, 2], "y2": norm[:, 3],
        "row": np.array(crop_rows, dtype=np.int64),
        "split": columns["split"].take(take),
    })  # fmt: skip


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
    """Ranker pairs of the selections validated in bulk, column-wise (see ``examples``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(clean.lines)
    keys = pc.binary_join_element_wise(clean.project, clean.set_id, "\x00").to_numpy(zero_copy_only=False)
    val = _split_keys(keys, seed, val_fraction)
    parents, paths = clean.columns.negatives(clean.at)
    dirs = clean.directory.take(pa.array(parents))
    codes, digests = _rejected_hashes(embedded, paths, dirs)
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


def _rejected_hashes(embedded: Embedded, paths: Any, dirs: Any) -> tuple[np.ndarray, list[str | None]]:
    """Per rejected path (pyarrow columns of paths and their rows' directories): an index into a
    list of usable vector hashes (None: no usable vector)."""
    import pyarrow as pa

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
    return codes, digests

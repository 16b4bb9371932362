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
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from curalog.audit import AuditLog
from curalog.codes import DROP_ORDER
from curalog.config import Config, find_root, load_config
from curalog.dataset.examples import Examples, examples
from curalog.dataset.folder import FILES, dataset_target, write_swapped
from curalog.dataset.formats import format_files, parse_formats
from curalog.db.postgres import change_counter as pg_change_counter
from curalog.embeddings.npy import read_vectors
from curalog.errors import CuralogError, shown
from curalog.legacy.logs import require_logs
from curalog.progress import Progress
from curalog.validate.engine import collect, gc_paused
from curalog.validate.index import Embedded
from curalog.validate.model import Report
from curalog.validate.outcomes import Judged
from curalog.version import __version__


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
    """The one reason a decision is dropped: its first code in findings.md's precedence."""
    for code in DROP_ORDER:
        if code in codes:
            return code
    return codes[0] if codes else "unusable"


def build(
    root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
    progress: Progress | None = None,
    formats: list[str] | None = None,
) -> BuildResult:
    """Build a training set from the project's decisions (ledger and legacy logs).
    ``progress(done, total, phase)`` follows the validation and the examples. ``formats``: the
    crops also as ``coco``, ``labelstudio`` and/or ``fiftyone`` (see ``dataset.formats``)."""
    with gc_paused():  # millions of long-lived rows and no cycles: see gc_paused
        return _build(root, out, val_fraction=val_fraction, seed=seed, force=force, progress=progress,
                      formats=parse_formats(formats))  # fmt: skip


def _build(root: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None, *, val_fraction: float,
           seed: int, force: bool, progress: Progress | None, formats: list[str]) -> BuildResult:  # fmt: skip
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    config = load_config(Path(root) if root is not None else find_root())
    target = dataset_target(config, out, force=force)
    AuditLog(config.path("audit_dir")).require("build a dataset")
    require_logs(config.legacy_files(), "build a dataset (a training set without a whole log)")
    validated = collect(config, progress=progress)
    report, judged, embedded = validated.report, validated.judged, validated.inputs.embedded
    reconciliation = _reconcile(report, judged)

    decisions = len(judged.rows) + (len(judged.clean.lines) if judged.clean is not None else 0)
    if progress:
        progress(0, decisions, "examples")
    ex = examples(embedded, judged, seed, val_fraction)
    if progress:
        progress(decisions, decisions, "examples")

    mat, dim = _matrix(config, embedded, ex.hashes)
    extra, accounts = format_files(formats, ex.crops, validated.inputs.images.size, config.root)
    manifest = {
        "curalog": __version__,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "root": str(config.root),
        "inputs": _input_files(config),
        "validation": {"errors": report.errors, "warnings": report.warnings, "by_code": report.by_code},
        "reconciliation": reconciliation,
        "pairs": {"written": ex.pairs.num_rows, "left_out": ex.pairs_left_out},
        "counts": {
            "crops": ex.crops.num_rows,
            "pairs": ex.pairs.num_rows,
            "images": len(ex.hashes),
            "dim": dim,
        },
        "split": {"seed": seed, "val_fraction": val_fraction, "by": "project + set_id", **ex.split_counts},
        "embedding_models": _models(embedded, ex.hashes),
        **({"formats": accounts} if formats else {}),
    }
    # written into a temp folder, then swapped in: no half-written dataset
    audit = AuditLog(config.path("audit_dir"), script="curalog dataset build")
    try:
        replaced = write_swapped(target, _writers(ex, mat, judged, manifest, extra), audit, force)
    except OSError as exc:
        raise CuralogError(f"cannot write the dataset to {shown(target)}: {exc.strerror or exc}") from exc
    audit.record(
        "create",
        [*FILES, *extra],
        dest_dir=str(target),
        notes=f"dataset: {ex.crops.num_rows} crops, "
        f"{ex.pairs.num_rows} pairs" + ("; replaced the dataset that was there" if replaced else ""),
    )
    return BuildResult(target, manifest)


def _reconcile(report: Report, judged: Judged) -> dict[str, Any]:
    """For crops and selections: logged, used, and dropped by reason; ``ReconciliationError``
    when logged != used + dropped, or used differs from the validator's usable counts."""
    logged = {"crop": report.crops, "selection": report.selections}
    used = {"crop": 0, "selection": 0}
    dropped: dict[str, Counter] = {"crop": Counter(), "selection": Counter()}
    for o in judged.rows:
        if o.usable:
            used[o.kind] += 1
        else:
            dropped[o.kind][drop_reason(o.codes)] += 1
    if judged.clean is not None:  # validated in bulk: no finding, all usable
        used["selection"] += len(judged.clean.lines)
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
    return reconciliation


def _matrix(config: Config, embedded: Embedded, rows_of: list[str]) -> tuple[np.ndarray, int]:
    """The embedding matrix (the vector of each content hash in ``rows_of``, in row order) and
    the vectors' length."""
    emb_dir = config.path("embeddings_dir")
    length = embedded.vectors.length
    dims = {length[d] for d in rows_of}
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
    return mat, dim


def _models(embedded: Embedded, rows_of: list[str]) -> dict[str, int]:
    """How many of the images used each embedding model made (by their counting index line)."""
    used_hashes = set(rows_of)
    sound = embedded.sound
    return dict(
        Counter(
            ref.model for path, ref in embedded.index.items() if path in sound and ref.hash in used_hashes
        )
    )


def _input_files(config: Config) -> dict[str, Any]:
    """The identity of every input file the build read (path, size, mtime)."""
    out: dict[str, Any] = {}
    if config.ledger_url:  # the ledger is on a server: its change counter says which state was read
        out["ledger"] = list(pg_change_counter(config.ledger_url))  # type: ignore[arg-type]
    files = config.legacy_files() + (
        [] if config.ledger_url else [(config.layout.database, config.path("database"))]
    )
    for source, path in files:
        try:
            st = path.stat()
            out[source] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        except OSError:
            out[source] = None
    return out


def _writers(
    ex: Examples, mat: np.ndarray, judged: Judged, manifest: dict, extra: dict[str, str]
) -> dict[str, Callable[[Path], None]]:
    """The dataset's files and how each is written, in the order they are written."""
    import pyarrow.parquet as pq

    def drops(path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["kind", "source", "line", "set_id", "project", "path", "reason", "codes"])
            for o in judged.rows:
                if not o.usable:
                    w.writerow([o.kind, o.source, o.line, o.set_id, o.project, o.path, drop_reason(o.codes),
                                " ".join(o.codes)])  # fmt: skip

    return {
        "crops.parquet": lambda path: pq.write_table(ex.crops, path),
        "pairs.parquet": lambda path: pq.write_table(ex.pairs, path),
        "embeddings.npy": lambda path: np.save(path, mat),
        "drops.csv": drops,
        **{name: partial(_text, text) for name, text in extra.items()},
        "manifest.json": lambda path: path.write_text(json.dumps(manifest, indent=2) + "\n"),
    }


def _text(text: str, path: Path) -> None:
    """A format's file, in its subfolder of the dataset (made on the first file)."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")

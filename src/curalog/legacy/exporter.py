"""Writing the ledger back out in the legacy columns (``export-legacy``), so scripts that read the
old CSV/JSONL files keep working. Never into the project's own legacy files.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from curalog.errors import ConfigError
from curalog.files import check_output, write_file
from curalog.legacy.logs import CROP_COORDS
from curalog.project import Project

SEL_COLUMNS = ["timestamp", "session_id", "set_id", "directory", "chosen_path", "negative_paths"]
CROP_COLUMNS = [
    "timestamp", "session_id", "set_id", "directory", "image_count", "chosen_index", "chosen_path",
    *CROP_COORDS,
    *(c for i in range(4) for c in (f"image_{i}_path", f"image_{i}_stage", f"width_{i}", f"height_{i}")),
]  # fmt: skip


@dataclass
class ExportSummary:
    files: dict[str, int] = field(default_factory=dict)  # relative path -> rows written
    refused: list[tuple[int, str]] = field(default_factory=list)  # decision id, why


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def export_legacy(project: Project, target: str | os.PathLike[str], *, force: bool = False) -> ExportSummary:
    """Write the ledger as legacy CSV/JSONL files under ``target`` (legacy layout, relative paths).

    Refuses to write into the project's own legacy files, and over existing files unless
    ``force``. Each file is written to a temp file and renamed; every file is audited.
    """
    out = Path(target).expanduser()
    lay = project.config.layout
    rels = [lay.selection_log, lay.crop_log, lay.embedding_index]
    problems, owned = [], project.config.owned_paths()
    for rel in rels:  # every refusal named at once
        try:  # the folders are made below
            check_output(out / rel, protected=owned, force=force, what="export-legacy:", new_folders=True)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("; ".join(problems))
    project.audit.require("export the legacy logs")
    summary = ExportSummary()
    sel, crop = io.StringIO(), io.StringIO()
    sw, cw = csv.writer(sel, lineterminator="\n"), csv.writer(crop, lineterminator="\n")
    sw.writerow(SEL_COLUMNS)
    cw.writerow(CROP_COLUMNS)
    n_sel = n_crop = 0
    for d in project.ledger.decisions():
        if d.kind == "selection":
            negatives = [c.path for c in d.candidates if c.idx != d.chosen_idx]
            sw.writerow(
                [d.created_at, d.session_id, d.set_id, d.directory, d.chosen.path, json.dumps(negatives)]
            )
            n_sel += 1
            continue
        if len(d.candidates) > 4:
            summary.refused.append((d.id, f"{len(d.candidates)} images: the legacy crop log holds at most 4"))
            continue
        assert d.box is not None
        row = [d.created_at, d.session_id, d.set_id, d.directory, len(d.candidates), d.chosen_idx,
               d.chosen.path, *(_num(v) for v in d.box)]  # fmt: skip
        for c in d.candidates:
            row += [c.path, c.stage or "", c.width, c.height]
        row += [""] * (len(CROP_COLUMNS) - len(row))
        cw.writerow(row)
        n_crop += 1
    index = io.StringIO()
    for e in project.embeddings.entries():
        index.write(json.dumps({"image_path": e.path, "hash": e.hash, "embedding_dim": e.dim,
                                "model": e.model, "timestamp": e.created_at}) + "\n")  # fmt: skip
    outputs = [
        (lay.selection_log, sel.getvalue(), n_sel),
        (lay.crop_log, crop.getvalue(), n_crop),
        (lay.embedding_index, index.getvalue(), len(project.embeddings.entries())),
    ]
    for rel, text, n in outputs:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, text)
        summary.files[str(path)] = n
        project.audit.record("create", [path.name], dest_dir=str(path.parent), notes="export-legacy")
    return summary


__all__ = ["ExportSummary", "export_legacy"]

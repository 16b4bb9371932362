"""``curalog doctor``: the post-mortem's debugging checklist, automated.

Each step says what it found (✅ fine, ⚠️ worth a look, ❌ broken) and what to do next.
Read-only, like the validator.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from curalog.config import LEGACY_FILES, Config
from curalog.legacy.index import read_index
from curalog.legacy.logs import CropRow, log_problem, read_crop_log, read_selection_log
from curalog.paths import convention_of
from curalog.project import Project

OK, WARN, BAD = "ok", "warn", "bad"
_RANK = {OK: 0, WARN: 1, BAD: 2}


def _worst(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


@dataclass
class Step:
    title: str
    status: str  # ok | warn | bad
    lines: list[str] = field(default_factory=list)
    next: str = ""


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def step_logs(config: Config, project: Project) -> Step:
    step = Step("1. Logs exist and hold data", OK)
    in_ledger = project.ledger.count()
    if in_ledger or project.db.exists():
        step.lines.append(f"✅ {config.layout.database}: {in_ledger:,} decisions in the ledger")
    for key, (rel, path) in zip(LEGACY_FILES, config.legacy_files(), strict=True):
        problem = log_problem(path)
        if problem is not None:  # there as a name, but not readable: never "missing" or empty
            step.lines.append(f"❌ {rel} {problem}")
            step.status = BAD
            continue
        if not path.is_file():
            if in_ledger:
                step.lines.append(f"   {rel}: not present (no legacy file; the ledger holds the decisions)")
                continue
            step.lines.append(f"❌ {rel}: missing")
            step.status = _worst(step.status, BAD if key != "selection_log" else WARN)
            continue
        n = _count_lines(path)
        header = 1 if key != "embedding_index" else 0
        mark = "✅" if n > header else "⚠️ "
        step.lines.append(f"{mark} {rel}: {n:,} lines ({max(n - header, 0):,} data lines)")
        if n <= header:
            step.status = _worst(step.status, WARN)
    if step.status != OK:
        step.next = "check the paths in curalog.toml ([layout]) or run `curalog init` where your data lives"
    return step


def step_index_vs_disk(config: Config, project: Project) -> Step:
    index = read_index(config.path("embedding_index"), config.layout.embedding_index)
    folder = config.path("embeddings_dir")
    files = {e.name[:-4] for e in os.scandir(folder) if e.name.endswith(".npy")} if folder.is_dir() else set()
    legacy_hashes = {r.hash for r in index.rows}
    ledger_hashes = {e.hash for e in project.embeddings.entries()}
    named = legacy_hashes | ledger_hashes
    gone = named - files
    orphans = files - named
    status = BAD if gone else WARN if orphans or index.malformed else OK
    step = Step("2. Embedding index vs files on disk", status)
    step.lines.append(
        f"{'✅' if not gone else '❌'} index: {index.data_lines:,} legacy lines + {len(ledger_hashes):,} "
        f"ledger entries name {len(named):,} vectors; {len(files):,} .npy files on disk"
    )
    if gone:
        step.lines.append(f"❌ {len(gone):,} vectors named by the index are not on disk")
    if orphans:
        step.lines.append(f"⚠️  {len(orphans):,} .npy files are named by no index line")
    if index.malformed:
        step.lines.append(f"⚠️  {len(index.malformed):,} index lines are unparseable")
    if status != OK:
        step.next = "curalog validate (names each one), then curalog embed --missing"
    return step


def step_crop_sample(config: Config, rng: random.Random, n: int = 10) -> Step:
    crops = read_crop_log(config.path("crop_log"), config.layout.crop_log)
    rows: list[CropRow] = list(crops.rows)
    if not rows:
        return Step("3. Random crop rows and their sizes", WARN, ["⚠️  no readable crop rows"],
                    "nothing to sample: check the crop log's path and header")  # fmt: skip
    sample = sorted(rng.sample(rows, min(n, len(rows))), key=lambda r: r.line)
    zero = 0
    step = Step(f"3. {len(sample)} random crop rows and their sizes", OK)
    for r in sample:
        w, h = r.chosen_size
        bad = w <= 0 or h <= 0
        zero += bad
        box = ", ".join(f"{v:g}" for v in r.box)
        step.lines.append(
            f"{'❌' if bad else '✅'} {r.source}:{r.line}  {r.chosen_path}: {w:g}x{h:g}  box ({box})"
        )
    if zero:
        step.status = BAD
        step.lines.append(
            f"❌ {zero} of {len(sample)} sampled rows have a 0x0 size (the dimension-logging bug)"
        )
        step.next = "curalog repair sizes --apply (re-measures sizes from the images)"
    return step


def step_path_conventions(config: Config, project: Project) -> Step:
    """Every path of every source, by convention, with one example of each."""
    root = config.root
    sources: list[tuple[str, list[str]]] = []
    sel = read_selection_log(config.path("selection_log"), config.layout.selection_log)
    sources.append((sel.source, [r.chosen_path for r in sel.rows]))
    crop = read_crop_log(config.path("crop_log"), config.layout.crop_log)
    sources.append((crop.source, [r.chosen_path for r in crop.rows]))
    index = read_index(config.path("embedding_index"), config.layout.embedding_index)
    sources.append((index.source, [r.image_path for r in index.rows]))
    sources.append((f"{config.layout.database} (index)", [e.path for e in project.embeddings.entries()]))
    step = Step("4. Paths in each source, side by side", OK)
    seen: set[str] = set()
    for source, paths in sources:
        if not paths:
            continue
        by_convention: dict[str, list[str]] = {}
        for raw in paths:
            by_convention.setdefault(convention_of(raw, root), []).append(raw)
        step.lines.append(f"{source}: {len(paths):,} paths")
        for convention, group in sorted(by_convention.items(), key=lambda kv: -len(kv[1])):
            seen.add(convention)
            share = 100 * len(group) / len(paths)
            step.lines.append(f"     {share:5.1f}%  {convention:<48} e.g. {group[0]}")
    drift = _index_drift(project)
    step.lines.extend(drift)
    drifted = any(line.startswith("⚠️") for line in drift)
    if not seen:
        step.status = WARN
        step.lines.append("⚠️  no source holds a path yet")
    elif len(seen) > 1 or drifted:
        step.status = WARN
        if len(seen) > 1:
            step.lines.append(f"⚠️  {len(seen)} path conventions in use across the sources")
        step.next = (
            "nothing to rewrite: curalog resolves every convention (prefix stripping, directory, unique "
            "file name); `curalog validate` names the paths that still match nothing"
        )
    return step


def _index_drift(project: Project) -> list[str]:
    """How the index's paths reach their images (the one path rule), and the seed's drift:
    ``<project>/<name>`` written without the subfolder the image lives in."""
    pairs = project.index_lines()
    placed = project.paths.index_view().resolved
    if not pairs:
        return []
    by_method: dict[str, int] = {}
    drift = {"file-name": 0, "content-hash": 0, "other": 0}
    top = project.paths.top_folders()
    for (raw, _digest), res in zip(pairs, placed, strict=True):
        method = res.method if res is not None else "cannot be placed"
        by_method[method] = by_method.get(method, 0) + 1
        parts = [p for p in raw.replace("\\", "/").split("/") if p]
        at = next((i for i, part in enumerate(parts) if part in top), None)  # the project folder
        if at is not None and len(parts) - at == 2 and method not in ("exact", "stripped-prefix"):
            drift[method if method in drift else "other"] += 1  # `<project>/<name>`, any prefix
    lines = [
        "   index lines reach their images: "
        + ", ".join(
            f"{METHOD_LABEL.get(m, m)} {n:,}" for m, n in sorted(by_method.items(), key=lambda kv: -kv[1])
        )
    ]
    n = sum(drift.values())
    if n:
        lines.append(
            f"⚠️  index uses `<project>/<name>` without the subfolder for {n:,} lines; resolved by file "
            f"name: {drift['file-name']:,}, by content hash: {drift['content-hash']:,}, "
            f"not found: {drift['other']:,}"
        )
    return lines


METHOD_LABEL = {
    "exact": "as written",
    "stripped-prefix": "after another machine's prefix",
    "file-name": "by unique file name",
    "content-hash": "by content hash (shared file name)",
    "gone": "image gone",
}


def run_doctor(root: str | os.PathLike[str] | None = None, seed: int | None = None) -> list[Step]:
    from curalog.config import find_root, load_config

    config = load_config(Path(root) if root is not None else find_root())
    rng = random.Random(seed)
    with Project(config, tool="curalog doctor") as project:
        return [
            step_logs(config, project),
            step_index_vs_disk(config, project),
            step_crop_sample(config, rng),
            step_path_conventions(config, project),
        ]

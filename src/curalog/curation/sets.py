"""Image sets: the images of one folder whose file names share the part matched by the group
``set`` of ``[curate] set_pattern`` (default: everything before ``_stage<N>``), variants in stage
order. Output folders (``crop/``, ``trash/``) are never scanned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from curalog.config import compile_pattern
from curalog.paths import list_images, project_of, utf8

MAX_VARIANTS = 4  # shown side by side, picked with keys 1-4
# Folders that hold curation outputs, never sets to review.
OUTPUT_FOLDERS = frozenset({"crop", "trash"})
TRASH = "trash"


@dataclass(frozen=True)
class ImageSet:
    key: str  # "<directory>/<name>": unique in the project
    name: str  # logged as the decision's set_id
    directory: str
    project: str
    paths: tuple[str, ...]  # canonical, in stage order; at most MAX_VARIANTS
    stages: tuple[str | None, ...]
    hidden: tuple[str, ...] = ()  # variants past the fourth: not shown, not logged


def _natural(text: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def find_sets(root: Path, pattern: str, images: Sequence[str] | None = None) -> tuple[list[ImageSet], int]:
    """Every set under ``root`` in natural order, and how many images matched no set.

    Output folders (``crop``, ``trash``), hidden folders and ``data/`` are not scanned.
    """
    rx = compile_pattern(pattern)
    groups: dict[tuple[str, str], list[tuple[tuple, str, str | None]]] = {}
    unmatched = 0
    for path in images if images is not None else list_images(root):
        directory, _, file = path.rpartition("/")
        if OUTPUT_FOLDERS.intersection(directory.split("/")):
            continue
        if not utf8(path):  # a name copied from a Samba share: cannot be logged or served
            unmatched += 1
            continue
        stem = file.rsplit(".", 1)[0]
        m = rx.search(stem)
        if m is None or not m.group("set"):
            unmatched += 1
            continue
        stage = m.groupdict().get("stage")
        order = (_natural(stage) if stage else (), file)
        label = f"stage{stage}" if stage and stage.isdigit() else stage
        groups.setdefault((directory, m.group("set")), []).append((order, path, label))
    out = []
    for (directory, name), members in sorted(
        groups.items(), key=lambda kv: (_natural(kv[0][0]), _natural(kv[0][1]))
    ):
        members.sort()
        shown, hidden = members[:MAX_VARIANTS], members[MAX_VARIANTS:]
        out.append(
            ImageSet(
                key=f"{directory}/{name}" if directory else name,
                name=name,
                directory=directory,
                project=project_of(directory) if directory else "",
                paths=tuple(p for _, p, _ in shown),
                stages=tuple(s for _, _, s in shown),
                hidden=tuple(p for _, p, _ in hidden),
            )
        )
    return out, unmatched

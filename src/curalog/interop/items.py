"""What every export shares: the decisions as items, the rounding rule, the reconciliation, and
the one careful way an export writes its files.

An ``Item`` is one decision as the other tools need it: its candidates (path, curalog sha256,
EXIF-oriented width and height), the chosen one, the box in pixels of the chosen image. Items come
from the ledger (``items_of``) or from a built dataset's crops (``dataset.formats``). Every
export counts what it read and names each item it could not carry with the reason
(``Exported.reconciles``: read = written + left out).

An export into a folder (Label Studio, FiftyOne) writes only into a new or empty folder, or, with
``force``, over an earlier export of the same format that its ``curalog-export.json`` lists: the
files it lists are replaced, nothing else in the folder is touched.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curalog.audit import local_iso, now_local
from curalog.errors import ConfigError, shown
from curalog.files import check_output, check_output_folder, target_of, write_file
from curalog.ledger import Decision
from curalog.ledger.admission import Candidate
from curalog.ledger.checks import Box
from curalog.paths import NOT_UTF8, utf8
from curalog.project import Project
from curalog.version import __version__

MANIFEST = "curalog-export.json"


@dataclass(frozen=True)
class Item:
    ref: int | str  # the ledger decision id, or "<log>:<line>" for a dataset row from a legacy log
    kind: str  # "selection" | "crop"
    set_id: str
    directory: str
    chosen_index: int
    candidates: tuple[Candidate, ...]
    box: Box | None  # pixels of the EXIF-oriented chosen image
    created_at: str | None = None

    @property
    def chosen(self) -> Candidate:
        return self.candidates[self.chosen_index]

    def block(self) -> dict[str, Any]:
        """The ``curalog`` block: what the other tool cannot carry, so nothing depends on a path."""
        return {
            "decision": self.ref, "kind": self.kind, "set_id": self.set_id, "directory": self.directory,
            "chosen_index": self.chosen_index, "candidates": [c.hash for c in self.candidates],
            "candidate_paths": [c.path for c in self.candidates], "created_at": self.created_at,
        }  # fmt: skip


def items_of(decisions: Iterable[Decision]) -> list[Item]:
    return [
        Item(d.id, d.kind, d.set_id, d.directory, d.chosen_idx, d.candidates, d.box, d.created_at)
        for d in decisions
    ]


def pixel(v: float) -> int:
    """The nearest whole pixel, halves up (the rounding rule of integer-pixel exports)."""
    return math.floor(v + 0.5)


@dataclass
class Exported:
    path: Path  # the file or folder written
    format: str
    decisions: int = 0  # live decisions (or dataset rows) read
    written: int = 0  # exported as items of the format
    images: int = 0
    left_out: list[tuple[int | str, str]] = field(default_factory=list)  # (decision, why)
    files: list[str] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.decisions == self.written + len(self.left_out)

    def reasons(self) -> dict[str, int]:
        return dict(sorted(Counter(why for _, why in self.left_out).items()))

    def summary(self) -> dict[str, Any]:
        """The manifest's account: counts, and every left-out decision with its reason."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["left_out"] = [{"decision": ref, "why": why} for ref, why in self.left_out]
        out["reasons"], out["reconciles"] = self.reasons(), self.reconciles
        return out

    def check(self) -> None:
        if not self.reconciles:  # every decision is exported or named with its reason
            raise ConfigError(f"the {self.format} export does not add up: {self.decisions} read, "
                              f"{self.written} written, {len(self.left_out)} left out")  # fmt: skip


def info() -> dict[str, str]:
    return {"tool": "curalog", "version": __version__, "date_created": local_iso(now_local())}


def write_export_file(project: Project, target: Path, text: str, *, force: bool, what: str,
                      marker: bytes) -> None:  # fmt: skip
    """One export file: never over the project's own files; an existing file only with ``force``
    and only when it is an earlier export of curalog (``marker`` in its first KiB): never a user's
    file, an image, or anything else that happens to have that name."""
    _named_in_utf8(target, what)
    check_output(target, protected=project.config.owned_paths(), force=force, what=what)
    real = target_of(target)
    if real.exists() and real.is_file() and not _holds(real, marker):
        raise ConfigError(f"{what}: {shown(target)} is not an earlier {what.split()[-1]} export of curalog; "
                          "curalog replaces only its own: choose another file")  # fmt: skip
    project.audit.require_for(target, what)
    _remove_stale_temps(project, real.parent, [real.name], what)
    replaced = real.is_file()
    write_file(target, text)
    if target_of(target).is_file():
        note = f"{what} (curalog export)" + ("; replaced the earlier export" if replaced else "")
        project.audit.record_created(real.resolve(), project.root, note)


def export_folder(project: Project, folder: str | os.PathLike[str], files: dict[str, str],
                  result: Exported, *, force: bool) -> None:  # fmt: skip
    """Write ``files`` (name -> text) and the export's manifest into ``folder`` (see the module).
    The manifest is written first, marked incomplete, and last, complete: a killed export leaves
    a folder that says so, which the next export (with ``force``) replaces."""
    what = f"export {result.format}"
    target = Path(folder).expanduser()
    _named_in_utf8(target, what)
    real = target_of(target)
    _check_folder(project, target, real, result.format, [*files, MANIFEST], force=force)
    project.audit.require(what)
    if not real.exists():
        real.mkdir(parents=True)
        project.audit.record_created(real.resolve(), project.root, f"{what}: its folder")
    _remove_stale_temps(project, real, [*files, MANIFEST], what)
    result.files = sorted(files)
    head = {"curalog_export": result.format, **info(), "files": result.files}
    existed = {name for name in [*files, MANIFEST] if (real / name).is_file()}  # what is replaced
    steps = [(MANIFEST, _manifest(head, complete=False)), *files.items(),
             (MANIFEST, _manifest(head | {"account": result.summary()}, complete=True))]  # fmt: skip
    for k, (name, text) in enumerate(steps):
        write_file(real / name, text)
        if k:  # the incomplete manifest is audited once, with the complete one that replaces it
            note = f"{what}: {name}" + ("; replaced the earlier export's" if name in existed else "")
            project.audit.record_created((real / name).resolve(), project.root, note)


def _manifest(content: dict[str, Any], *, complete: bool) -> str:
    return json.dumps(content | {"complete": complete}, indent=1, ensure_ascii=False) + "\n"


def _named_in_utf8(target: Path, what: str) -> None:
    if not utf8(os.fspath(target)):
        raise ConfigError(f"{what}: {shown(target)}: {NOT_UTF8}; choose a name in UTF-8")


def _holds(path: Path, marker: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return marker in fh.read(1024)
    except OSError:
        return False


def _remove_stale_temps(project: Project, folder: Path, names: list[str], what: str) -> None:
    """The temp files a killed export left beside ``names`` (their writer is gone): removed, audited."""
    for name in names:
        for tmp in folder.glob(f".{glob.escape(name[:200])}.curalog-tmp-*"):
            pid = tmp.name.rsplit(".curalog-tmp-", 1)[1].split("-", 1)[0]
            if (
                pid.isdigit()
                and not os.path.exists(f"/proc/{pid}")
                and tmp.is_file()
                and not tmp.is_symlink()
            ):
                tmp.unlink()
                project.audit.record(
                    "delete", [tmp.name], dest_dir=str(folder), notes=f"{what}: a killed export's temp file"
                )


def _check_folder(project: Project, shown_as: Path, real: Path, fmt: str, names: list[str], *,
                  force: bool) -> None:  # fmt: skip
    named = f"export {fmt}: {shown(shown_as)}"
    check_output_folder(real, project.root, project.config.owned_paths(), named, verb="write into")
    if not real.exists():
        if not real.parent.is_dir():
            raise ConfigError(f"{named}: the folder {shown(real.parent)} does not exist")
        return
    present = set(os.listdir(real))
    if not present:
        return
    listed = _earlier_export(real, fmt)
    if listed is None:
        raise ConfigError(f"{named} is not empty and holds no earlier {fmt} export of curalog "
                          f"({MANIFEST}); choose a new or empty folder")  # fmt: skip
    if not force:
        raise ConfigError(f"{named} holds an earlier export; pass --force to replace its files")
    for name in names:
        path = real / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ConfigError(f"{named}: {name} there is not a plain file; curalog will not replace it")
        if path.exists() and name != MANIFEST and name not in listed:
            raise ConfigError(f"{named}: {name} there is not one the earlier export's {MANIFEST} lists; "
                              "curalog will not replace it")  # fmt: skip


def _earlier_export(folder: Path, fmt: str) -> set[str] | None:
    """The files an earlier export of ``fmt`` in ``folder`` wrote (its manifest's list), or None
    when the folder holds none (a manifest that is not a regular file is never read)."""
    path = folder / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or manifest.get("curalog_export") != fmt:
        return None
    files = manifest.get("files")
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else set()

"""Verifying the embedding store both ways (index -> files, files -> index) and adopting the
orphans a crash left: every problem itemized, with its fix. Read-only except ``adopt_orphans``,
which indexes sound orphans through ``EmbeddingStore.put_many`` (the store's one write path).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from curalog.codes import TEMP_FILE_FIX, TEMP_FILE_STATE
from curalog.embeddings.npy import read_vector_file, read_vector_verdict, with_dim
from curalog.embeddings.store import EmbeddingStore, IndexEntry, PutResult, list_vector_files
from curalog.files import stat_key
from curalog.progress import Progress


@dataclass(frozen=True)
class StoreProblem:
    code: str
    severity: str  # "error" | "warning"
    subject: str  # the image path (index problems) or the vector file (file problems)
    message: str
    fix: str
    hash: str = ""


class Verdicts(Protocol):
    """Earlier verdicts on vector files, by file name and stat key (size, mtime_ns, inode), and
    what this run learned. ``known_sound`` may say True only when the file with that name and
    key was read and found a sound vector (a .npy file, 1-D, float, complete, finite, not all
    zeros) of length ``dim`` (any length when ``dim`` is None)."""

    def may_know(self, name: str) -> bool: ...  # False: no verdict on ``name`` at all (no stat needed)

    def known_sound(self, name: str, key: tuple[int, int, int, int], dim: int | None) -> bool: ...

    def learned(self, name: str, key: tuple[int, int, int, int], length: int, problem: str) -> None: ...


def _judge_file(
    directory: Path, name: str, dim: int | None, verdicts: Verdicts | None
) -> tuple[str | None, int | None]:
    """(why the file is not a sound vector of length ``dim``, or None; its size when known).

    A file the verdicts know as sound with its present stat key is not read again; any other
    file is read, and what was read is handed to ``verdicts.learned``."""
    if verdicts is None:
        return read_vector_file(directory / name, dim)[1], None
    path = f"{directory}/{name}"  # a string, not a Path: this runs for every file of the store
    try:
        if verdicts.may_know(name):  # a file no verdict names is read without a stat first
            st = os.stat(path)
            if verdicts.known_sound(name, stat_key(st), dim):
                return None, st.st_size
    except OSError:
        pass  # read it: the read says why it cannot be
    verdict = read_vector_verdict(path)
    if verdict.key is not None:
        verdicts.learned(name, verdict.key, verdict.length, verdict.problem)
    return with_dim(verdict, dim)[1], None


@dataclass
class VerifyReport:
    problems: list[StoreProblem] = field(default_factory=list)
    index_entries: int = 0
    vector_files: int = 0
    legacy_files: int = 0
    models: dict[str, int] = field(default_factory=dict)
    reused: bool = field(default=False, compare=False)  # the last report, nothing it read changed

    @property
    def errors(self) -> list[StoreProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[StoreProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def verify_store(
    store: EmbeddingStore, progress: Progress | None = None, verdicts: Verdicts | None = None
) -> VerifyReport:
    """Check index and files in both directions; every problem itemized.

    ``progress(done, total, "verifying")`` is called as vector files are read. With
    ``verdicts``, a file known sound at its present stat key is not read again, and the
    verdicts on the files read are handed back (the report is the same either way).
    """
    report = VerifyReport()
    entries = store.entries()
    report.index_entries = len(entries)
    by_hash: dict[str, list[IndexEntry]] = {}
    for e in entries:
        by_hash.setdefault(e.hash, []).append(e)
        report.models[e.model] = report.models.get(e.model, 0) + 1
    files, temps = list_vector_files(store.directory)
    report.vector_files = len(files)
    rel = store.rel_dir
    done, total = 0, len(files)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress and (done % 256 == 0 or done == total):
            progress(done, total, "verifying")

    if len(report.models) > 1:
        mix = ", ".join(f"{m} ({n})" for m, n in sorted(report.models.items()))
        report.problems.append(
            StoreProblem(
                "embedding.model_mixture", "error", rel,
                f"the index mixes {len(report.models)} models: {mix}",
                "curalog embed (re-embeds every image with the configured model)",
            )
        )  # fmt: skip
    report.problems += _indexed_files(store, by_hash, files, tick, verdicts)
    report.problems += _unindexed_files(store, report, by_hash, files, temps, tick, verdicts)
    return report


def _indexed_files(store: EmbeddingStore, by_hash: dict[str, list[IndexEntry]], files: dict[str, str],
                   tick: Callable[[], None], verdicts: Verdicts | None) -> list[StoreProblem]:  # fmt: skip
    """Index -> files: every indexed hash has its file, sound and of the size written."""
    out: list[StoreProblem] = []
    rel = store.rel_dir
    for digest, group in sorted(by_hash.items()):
        if digest not in files:
            for e in group:
                out.append(
                    StoreProblem(
                        "embedding.file_missing", "error", e.path,
                        f"the index names {rel}/{digest}.npy for {e.path}, but it is not on disk",
                        f"curalog embed {e.path}", digest,
                    )
                )  # fmt: skip
            continue
        path = store.directory / files[digest]
        tick()
        problem, size = _judge_file(store.directory, files[digest], group[0].dim, verdicts)
        if problem is None and (size := path.stat().st_size if size is None else size) != group[0].file_size:
            problem = f"size {size} differs from the {group[0].file_size} written"
        if problem:
            out.append(
                StoreProblem(
                    "embedding.corrupt", "error", f"{rel}/{files[digest]}",
                    f"{rel}/{files[digest]} ({group[0].path}): {problem}",
                    f"curalog embed {group[0].path}", digest,
                )
            )  # fmt: skip
    return out


def _unindexed_files(
    store: EmbeddingStore, report: VerifyReport, by_hash: dict[str, list[IndexEntry]], files: dict[str, str],
    temps: list[str], tick: Callable[[], None], verdicts: Verdicts | None,
) -> list[StoreProblem]:  # fmt: skip
    """Files -> index: a file no index row names is the legacy index's (counted in ``report``;
    it must be sound too), an orphan, or a temp file left by an interrupted write."""
    out: list[StoreProblem] = []
    rel = store.rel_dir
    legacy = store.legacy_hashes()
    for digest, name in sorted(files.items()):
        if digest in by_hash:
            continue
        tick()
        problem, _size = _judge_file(store.directory, name, None, verdicts)
        if digest in legacy:  # named by the legacy index: not an orphan, but it must be sound too
            report.legacy_files += 1
            if problem:
                out.append(
                    StoreProblem(
                        "embedding.corrupt", "error", f"{rel}/{name}",
                        f"{rel}/{name} (named by the legacy index): {problem}",
                        "curalog validate (names the image it belongs to), then curalog embed that image",
                        digest,
                    )
                )  # fmt: skip
            continue
        state = f"unreadable: {problem}" if problem else "sound"
        out.append(
            StoreProblem(
                "embedding.orphan_file", "warning", f"{rel}/{name}",
                f"{rel}/{name} is named by no index entry ({state})",
                "curalog verify --adopt-orphans" if not problem else f"inspect {rel}/{name}",
                digest,
            )
        )  # fmt: skip
    for name in sorted(temps):
        out.append(
            StoreProblem(
                "embedding.orphan_file", "warning", f"{rel}/{name}",
                f"{rel}/{name} is {TEMP_FILE_STATE}",
                TEMP_FILE_FIX,
            )
        )  # fmt: skip
    return out


def adopt_orphans(
    store: EmbeddingStore,
    paths_by_hash: Callable[[], dict[str, list[str]]],
    model: str,
    dim: int,
    progress: Progress | None = None,
) -> tuple[list[PutResult], list[tuple[str, str]]]:
    """Index sound orphan files whose hash is the content hash of an image under the root.

    Returns (adopted, skipped with reasons). Orphans are vectors curalog wrote before a crash
    stopped it from indexing them, so they are recorded under ``model`` when their length is
    ``dim``; any other orphan is skipped and said why.
    """
    report = verify_store(store, progress)
    orphans = [p for p in report.problems if p.code == "embedding.orphan_file" and p.hash]
    if not orphans:
        return [], []
    images = paths_by_hash()
    adopted: list[PutResult] = []
    skipped: list[tuple[str, str]] = []
    for o in orphans:
        arr, problem = read_vector_file(store.vector_path(o.hash))
        if arr is None:
            skipped.append((o.subject, f"unreadable: {problem}"))
        elif arr.shape[0] != dim:
            skipped.append((o.subject, f"length {arr.shape[0]} is not {model}'s {dim}"))
        elif o.hash not in images:
            skipped.append((o.subject, "no image under the root has this content hash"))
        else:
            adopted.extend(store.put_many([(o.hash, images[o.hash], arr)], model))
    return adopted, skipped

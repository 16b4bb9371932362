"""``verify`` with the validator's per-file verdict cache: a vector file the cache knows as sound
at its present stat key (size, mtime_ns, inode) is not read again, and the verdicts on the files
``verify`` did read are merged into the cache, so that a repeat ``verify`` (or ``validate``) with
nothing changed reads no vector at all. The report is the one ``Project.verify`` gives.

Like ``validate``, this writes only the validator's own cache (not audited, see ``cache``); a
cache that cannot be read or written makes the run slower, never different or failed. In a
legacy folder (no ``curalog.toml``) ``verify`` creates nothing: there it only updates a cache
that ``validate`` made.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict

from curalog.config import CONFIG_NAME
from curalog.db.postgres import change_counter as pg_change_counter
from curalog.embeddings.verify import StoreProblem, VerifyReport
from curalog.progress import Progress
from curalog.project import Project
from curalog.validate.cache import CACHE_NAME, ValidateCache
from curalog.validate.memo import ident, ledger_version, vector_idents
from curalog.validate.vectors import CacheEntry
from curalog.version import __version__


class CachedVerdicts:
    """``embeddings.verify.Verdicts`` over a ``ValidateCache``."""

    def __init__(self, cache: ValidateCache, *, create: bool = True) -> None:
        self.cache = cache
        self.create = create  # False: update the cache file only if it is already there
        self.entries: dict[str, CacheEntry] = {}
        self.new: dict[str, CacheEntry] = {}
        self.memo: tuple[str, str] | None = None  # (signature, report) to remember
        try:
            cache.load()
            self.entries = cache.vector_entries()
        except Exception:  # an unreadable cache, in whatever way: read every file
            self.entries = {}

    def may_know(self, name: str) -> bool:
        hit = self.entries.get(name)
        return hit is not None and hit[2] == ""  # only a sound verdict can spare a read

    def known_sound(self, name: str, key: tuple[int, int, int, int], dim: int | None) -> bool:
        """Sound by ``check_files`` at this very stat key, with the length asked for: then
        ``read_vector_file(path, dim)`` finds no problem either (same parser, same value rules)."""
        hit = self.entries.get(name)
        if hit is None or hit[0] != key or hit[2] != "":
            return False
        length = hit[1]
        return length > 0 and (dim is None or length == dim)

    def learned(self, name: str, key: tuple[int, int, int, int], length: int, problem: str) -> None:
        entry = (key, length, problem)
        if self.entries.get(name) != entry:  # a file with a problem is read every time: no news
            self.new[name] = entry

    def remember(self, signature: str, report: str) -> None:
        """The report of this run, to be returned while ``signature`` holds."""
        self.memo = (signature, report)

    def save(self) -> None:
        """Merge what was learned (and the report to remember) into the cache on disk, the
        validator's memo and image facts kept."""
        if not (self.new or self.memo) or not (self.create or os.path.lexists(self.cache.path)):
            return
        try:
            self.cache.load_memo()
            self.cache.learn_vectors(self.new)
            if self.memo:
                self.cache.verify_signature, self.cache.verify_report = self.memo
            self.cache.changed = True
            self.cache.save()
        except Exception:  # a cache: not writing it only makes the next run slower
            pass


VERIFY_MEMO_VERSION = 1  # bump when verify changes what it reports


def verify_signature(project: Project) -> str:
    """A digest of the stat identity of everything ``verify`` reads: every entry of the vector
    folder (temp files too), the legacy index file, and the ledger's index table (its change
    counter)."""
    config = project.config
    folder = project.embeddings.directory
    if config.ledger_url:
        ledger: object = ("server", pg_change_counter(config.ledger_url))
    else:
        ledger = ledger_version(config.path("database"))
    index = config.path("embedding_index")
    parts = [VERIFY_MEMO_VERSION, __version__, str(folder), sorted(vector_idents(folder)),
             (str(index), ident(index)), ledger]  # fmt: skip
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _to_json(report: VerifyReport) -> str:
    return json.dumps(asdict(report), ensure_ascii=True)


def _from_json(text: str) -> VerifyReport:
    data = json.loads(text)
    problems = [StoreProblem(**p) for p in data["problems"]]
    return VerifyReport(problems, data["index_entries"], data["vector_files"], data["legacy_files"],
                        dict(data["models"]), reused=True)  # fmt: skip


def verify_project(
    project: Project, progress: Progress | None = None, *, use_cache: bool = True
) -> VerifyReport:
    """``project.verify(progress)``, reusing and filling the validator's per-file verdict cache
    (``use_cache=False``: read every vector file, touch no cache). When nothing ``verify`` reads
    changed since its last run (``verify_signature``), that run's report is returned as it was."""
    config = project.config
    if not use_cache or project.embeddings.directory != config.path("embeddings_dir"):
        return project.verify(progress)  # the cache's names are those of the configured folder
    cache = ValidateCache(config.path("database").with_name(CACHE_NAME))
    before = verify_signature(project)
    cache.load_memo()
    if cache.verify_signature == before and cache.verify_report:
        try:
            return _from_json(cache.verify_report)
        except (ValueError, KeyError, TypeError):
            pass  # a memo of another shape: run
    verdicts = CachedVerdicts(cache, create=(config.root / CONFIG_NAME).is_file())
    report = project.verify(progress, verdicts)
    # remembered under the signature taken before the run: anything that changes while it runs
    # makes the next run's signature differ from that one, so the next run reads it again
    verdicts.remember(before, _to_json(report))
    verdicts.save()
    return report

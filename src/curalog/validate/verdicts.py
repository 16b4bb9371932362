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

import os

from curalog.config import CONFIG_NAME
from curalog.embeddings.verify import VerifyReport
from curalog.progress import Progress
from curalog.project import Project
from curalog.validate.cache import CACHE_NAME, ValidateCache
from curalog.validate.vectors import CacheEntry


class CachedVerdicts:
    """``embeddings.verify.Verdicts`` over a ``ValidateCache``."""

    def __init__(self, cache: ValidateCache, *, create: bool = True) -> None:
        self.cache = cache
        self.create = create  # False: update the cache file only if it is already there
        self.entries: dict[str, CacheEntry] = {}
        self.new: dict[str, CacheEntry] = {}
        try:
            cache.load()
            self.entries = cache.vector_entries()
        except Exception:  # an unreadable cache, in whatever way: read every file
            self.entries = {}

    def known_sound(self, name: str, key: tuple[int, int, int], dim: int | None) -> bool:
        """Sound by ``check_files`` at this very stat key, with the length asked for: then
        ``read_vector_file(path, dim)`` finds no problem either (same parser, same value rules)."""
        hit = self.entries.get(name)
        if hit is None or hit[0] != key or hit[2] != "":
            return False
        length = hit[1]
        return length > 0 and (dim is None or length == dim)

    def learned(self, name: str, key: tuple[int, int, int], length: int, problem: str) -> None:
        entry = (key, length, problem)
        if self.entries.get(name) != entry:  # a file with a problem is read every time: no news
            self.new[name] = entry

    def save(self) -> None:
        """Merge what was learned into the cache on disk, its memo and image facts kept."""
        if not self.new or not (self.create or os.path.lexists(self.cache.path)):
            return
        try:
            self.cache.load_memo()
            self.cache.learn_vectors(self.new)
            self.cache.save()
        except Exception:  # a cache: not writing it only makes the next run slower
            pass


def verify_project(
    project: Project, progress: Progress | None = None, *, use_cache: bool = True
) -> VerifyReport:
    """``project.verify(progress)``, reusing and filling the validator's per-file verdict cache
    (``use_cache=False``: read every vector file, touch no cache)."""
    config = project.config
    if not use_cache or project.embeddings.directory != config.path("embeddings_dir"):
        return project.verify(progress)  # the cache's names are those of the configured folder
    cache = ValidateCache(config.path("database").with_name(CACHE_NAME))
    verdicts = CachedVerdicts(cache, create=(config.root / CONFIG_NAME).is_file())
    report = project.verify(progress, verdicts)
    verdicts.save()
    return report

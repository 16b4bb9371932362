"""Image headers and content hashes, as the validator reads them: each at most once a run.

An image's size (for ``crop.dimension_mismatch``) and its sha256 (to settle a shared file name,
or to link an image no index line names by its content) come from the validator's cache or the
ledger's file facts when the file's stat is unchanged, else from the file itself. Read-only: the
ledger is not written; only the validator's own cache learns the new values.
"""

from __future__ import annotations

import os
from pathlib import Path

from curalog.db.connection import Database
from curalog.db.facts import stored_sha256
from curalog.errors import ImageError
from curalog.files import stat_key
from curalog.images import image_size, sha256_file
from curalog.validate.cache import ValidateCache
from curalog.validate.memo import Ident


class ImageFacts:
    """Sizes and content hashes of images (canonical paths), remembered for the run.

    ``measured`` holds the identity (``files.stat_key``) of every image a lookup looked at,
    as it was then (None: gone): a memoized report depends on those images too."""

    def __init__(self, root: Path, cache: ValidateCache, db: Database | None) -> None:
        self.root = root
        self.cache = cache
        self.db = db
        self.measured: dict[str, Ident | None] = {}
        self.sizes: dict[str, tuple[int, int] | None] = {}  # this run's header reads

    def content_hash(self, canonical: str) -> str | None:
        """The sha256 of an image (asked only for images that share a file name with an index line
        that needs them, or that no index line names): from the validator's cache or the ledger's
        image facts when the file's stat is unchanged, else read once. None: unreadable."""
        full = f"{self.root}/{canonical}"
        try:
            st = os.stat(full)
        except OSError:
            return None
        key = stat_key(st)  # a FIFO or device named like an image: refused by sha256_file, never opened
        self.measured.setdefault(canonical, key)
        hit = self.cache.hashes.get(canonical)
        if hit is not None and hit[0] == key:
            return hit[1]
        digest = stored_sha256(self.db, canonical, key) if self.db is not None else None
        if digest is None:
            try:
                digest = sha256_file(full)
            except ImageError:
                return None
        self.cache.hashes[canonical] = (key, digest)
        self.cache.changed = True
        return digest

    def size(self, canonical: str) -> tuple[int, int] | None:
        """The image's (width, height) as seen (EXIF orientation applied), or None when it cannot
        be measured."""
        if canonical in self.sizes:
            return self.sizes[canonical]
        self.sizes[canonical] = size = self._measure(canonical)
        return size

    def _measure(self, canonical: str) -> tuple[int, int] | None:
        full = f"{self.root}/{canonical}"
        try:
            st = os.stat(full)
        except OSError:
            self.measured[canonical] = None
            return None
        key = stat_key(st)
        self.measured[canonical] = key
        hit = self.cache.images.get(canonical)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        try:
            w, h = image_size(full)
        except ImageError:
            return None
        self.cache.images[canonical] = (key, w, h)
        self.cache.changed = True
        return w, h

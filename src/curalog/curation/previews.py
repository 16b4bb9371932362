"""Previews for the curation app: the EXIF-transposed image, scaled down, kept in memory."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from curalog.files import stat_key
from curalog.images import preview_jpeg
from curalog.paths import served_image


class PreviewCache:
    """Downscaled JPEG previews kept in memory (least recently used dropped past ``budget``
    bytes), keyed by the file's stat identity so a changed file is never served stale."""

    def __init__(self, root: Path, max_side: int = 1024, budget: int = 256 << 20) -> None:
        self.root = root
        self.max_side = max_side
        self.budget = budget
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, rel: str) -> bytes:
        """The preview of the image at canonical ``rel``; PathError or ImageError if refused."""
        full = served_image(self.root, rel)
        key = (rel, stat_key(os.stat(full)))
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                return data
        data = preview_jpeg(full, self.max_side)
        with self._lock:
            if key not in self._items:
                self._items[key] = data
                self._bytes += len(data)
            while self._bytes > self.budget and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
        return data

"""Paths: canonical form, listing, and the one resolution rule (``PathResolver``)."""

from curalog.paths.canonical import (
    MAX_PATH_CHARS,
    NOT_UTF8,
    SKIP_DIRS,
    IndexLines,
    Resolution,
    _split,
    convention_of,
    list_images,
    project_of,
    served_image,
    utf8,
)
from curalog.paths.index_placement import IndexView
from curalog.paths.resolver import METHOD_TEXT, PathResolver

__all__ = [
    "MAX_PATH_CHARS",
    "METHOD_TEXT",
    "NOT_UTF8",
    "SKIP_DIRS",
    "IndexLines",
    "IndexView",
    "PathResolver",
    "Resolution",
    "_split",
    "convention_of",
    "list_images",
    "project_of",
    "served_image",
    "utf8",
]

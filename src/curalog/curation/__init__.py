"""Curation: the queue of image sets waiting for a decision, and the decisions made on them.

This is the library under ``curalog serve``; a script can drive it the same way::

    with curalog.open_project(root) as project:
        curator = Curator(project)
        s = curator.next_set()
        curator.decide(s.key, chosen=1, box=(0.1, 0.1, 0.9, 0.8))   # box in [0, 1] of the image

A *set* is the images of one folder whose file names share the part matched by the group
``set`` of ``[curate] set_pattern`` (default: everything before ``_stage<N>``). A set is *done*
when a live (not undone) ledger decision names one of its images, matched by project and file
name, so a set stays done after its files were moved.

The server owns the truth: a box arrives normalized to the image as the person saw it, and is
turned into pixels of the image's real size, read from its file with EXIF orientation applied.
Before a decision is logged, images of its set without an embedding are embedded; a crop whose
chosen image cannot be embedded is refused with the reason.

A Curator serializes its own calls (one lock), so a web server may call it from many threads.
"""

from curalog.curation.curator import Curator, Outcome, Summary, box_to_pixels
from curalog.curation.previews import PreviewCache
from curalog.curation.sets import MAX_VARIANTS, OUTPUT_FOLDERS, TRASH, ImageSet, find_sets

__all__ = [
    "MAX_VARIANTS",
    "OUTPUT_FOLDERS",
    "TRASH",
    "Curator",
    "ImageSet",
    "Outcome",
    "PreviewCache",
    "Summary",
    "box_to_pixels",
    "find_sets",
]

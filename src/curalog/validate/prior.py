"""What the lines a log already had concluded that lines appended later depend on: the first line
of each decision a later line would repeat (``row.duplicate``).

A repeat is judged over every line without an error, in line order: a selection repeats an
earlier one with the same session, set and chosen image; a crop, one with the same session, set,
chosen image and box. An incremental validation (``validate.resume``) judges only the appended
lines, with ``Prior`` standing in for the lines before them: for each kind, key -> first line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

SelectionKey = tuple[str, str, str]  # session, set, chosen image (canonical)
CropKey = tuple[str, str, str, tuple[float, float, float, float]]  # ... and the box as logged


@dataclass
class Prior:
    """The first line of every repeat key of the lines judged before (see the module)."""

    selections: dict[SelectionKey, int] = field(default_factory=dict)
    crops: dict[CropKey, int] = field(default_factory=dict)

    def learn(self, firsts: dict[str, Callable[[], list[tuple[tuple, int]]]]) -> None:
        """Take in the first lines of the keys a run judged (``Judged.firsts``; keys of lines
        after these, so none is here yet)."""
        for kind, keys in (("selection", self.selections), ("crop", self.crops)):
            if kind in firsts:
                keys.update(firsts[kind]())  # type: ignore[arg-type]


class Seen(dict):
    """The crop rule's ``seen`` (key -> first line) over the lines judged now, falling back to
    the lines judged before them (``before``)."""

    def __init__(self, before: dict[CropKey, int]) -> None:
        super().__init__()
        self.before = before

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.before

    def get(self, key: CropKey, default: int | None = None) -> int | None:  # type: ignore[override]
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return self.before.get(key, default)

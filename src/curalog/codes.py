"""Every finding code, once: what it means to each part of curalog.

The codes are docs/findings.md's (plus two write-time codes, ``image.unreadable`` and the store's
``embedding.model_mixture``). Each part that needs a table of codes reads it from here, derived
below (``SEVERITY``, ``PHRASES``, ...), so a code cannot be known to the validator and unknown to
the alerts, the dataset builder or the health figures. ``tests/test_codes.py`` fails when a code
literal anywhere in ``src/`` is not registered here.
"""

from __future__ import annotations

from dataclasses import dataclass

EMBED = "curalog embed --missing"
REPAIR_SIZES = "curalog repair sizes --apply"
REPAIR_CROPS = "curalog repair crops --outputs DIR"


@dataclass(frozen=True)
class Code:
    name: str
    severity: str  # the default ("decision.no_embedding" depends on the decision and the policy)
    phrase: str  # the text report's group heading; {name} is the source file, {kind} its decisions
    fix: str | None = None  # the command that fixes most of them (the validator's recommendations)
    red_flag: tuple[str, str] | None = None  # alerted once each, whatever the count: (one, several)
    drop_rank: int | None = None  # which code names a dropped decision's reason (lowest first)
    no_vector: bool = False  # health: leaves a decision without a usable vector
    bad_size: bool = False  # health: says a crop's logged size is wrong
    leave_out: bool = False  # import: a non-chosen image with only these problems is left out


CODES: dict[str, Code] = {c.name: c for c in (
    Code("row.malformed", "error", "unparseable lines in {name}", "curalog import-legacy --dry-run",
         drop_rank=0, no_vector=True, bad_size=True),
    Code("row.duplicate", "warning", "duplicate decisions in {name}", drop_rank=8),
    Code("path.unresolved", "error", "chosen paths in {name} that match no image", "curalog doctor",
         drop_rank=1, no_vector=True, leave_out=True),
    Code("path.ambiguous", "warning", "chosen paths in {name} whose file name matches several images",
         "curalog doctor", drop_rank=2, no_vector=True, leave_out=True),
    Code("crop.zero_dimensions", "error", "crop entries with dimensions = (0, 0)", REPAIR_SIZES,
         red_flag=("crop row logged with a 0x0 (or negative) image size",
                   "crop rows logged with a 0x0 (or negative) image size"),
         drop_rank=3, bad_size=True),
    Code("crop.placeholder", "error", "crop entries with the placeholder box 0,0,1,1", REPAIR_CROPS,
         drop_rank=4),
    Code("crop.invalid_box", "error", "crop entries with inverted, empty, negative or NaN boxes",
         REPAIR_CROPS, drop_rank=5),
    Code("crop.out_of_bounds", "error", "crop entries with boxes outside the image", REPAIR_CROPS,
         red_flag=("crop box outside the image (outside [0, 1] once normalized)",
                   "crop boxes outside the image (outside [0, 1] once normalized)"),
         drop_rank=6),
    Code("crop.dimension_mismatch", "warning", "crop entries whose logged size differs from the file",
         REPAIR_SIZES, bad_size=True),
    Code("decision.no_embedding", "error", "{kind} without a usable embedding", EMBED,
         red_flag=("decision without a usable embedding", "decisions without a usable embedding"),
         drop_rank=7, no_vector=True),
    Code("embedding.file_missing", "error", "index entries in {name} point to missing embedding files", EMBED,
         red_flag=("index entry whose vector file is gone", "index entries whose vector file is gone")),
    Code("embedding.orphan_file", "warning", "vector files that no index entry names",
         "curalog verify --adopt-orphans"),
    Code("embedding.corrupt", "error", "corrupt vector files", EMBED),
    Code("embedding.stale", "warning", "index entries whose image changed since it was embedded", EMBED),
    Code("embedding.model_mixture", "error", "indexes that mix embedding models", "curalog embed"),
    Code("image.missing", "warning", "chosen images in {name} indexed but missing from disk",
         "curalog doctor", leave_out=True),
    Code("image.unreadable", "error", "chosen images in {name} that cannot be read", leave_out=True),
)}  # fmt: skip

# an orphan that is a temp file of an interrupted write: removed by the next embed, never adopted
TEMP_FILE_STATE = "a temp file left by an interrupted write"
TEMP_FILE_FIX = "curalog embed (removes the temp files of runs that have ended)"

SEVERITY = {name: c.severity for name, c in CODES.items()}
PHRASES = {name: c.phrase for name, c in CODES.items()}
# embedding.model_mixture is the store's (curalog verify), not a validator recommendation
RECOMMEND = {name: c.fix for name, c in CODES.items() if c.fix and name != "embedding.model_mixture"}
RED_FLAGS = {name: c.red_flag for name, c in CODES.items() if c.red_flag}
DROP_ORDER = tuple(
    sorted((n for n, c in CODES.items() if c.drop_rank is not None), key=lambda n: CODES[n].drop_rank)
)  # type: ignore[arg-type, return-value]
NO_VECTOR_CODES = frozenset(n for n, c in CODES.items() if c.no_vector)
BAD_SIZE_CODES = frozenset(n for n, c in CODES.items() if c.bad_size)
LEAVE_OUT = frozenset(n for n, c in CODES.items() if c.leave_out)

__all__ = [
    "BAD_SIZE_CODES", "CODES", "DROP_ORDER", "LEAVE_OUT", "NO_VECTOR_CODES", "PHRASES", "RECOMMEND",
    "RED_FLAGS", "SEVERITY", "TEMP_FILE_FIX", "TEMP_FILE_STATE", "Code",
]  # fmt: skip

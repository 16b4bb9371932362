"""Repairs of what the old bugs destroyed. Every repair is a dry run unless applied; applying
writes the repaired decision into the ledger with its provenance (``repairs`` table: what, old
and new values, method, evidence, confidence, when). Legacy files are never edited: the ledger
holds the fixed version, and ``curalog export-legacy`` writes fixed copies.
"""

from curalog.repair.matcher import locate_crop
from curalog.repair.sizes import SizeFix, SizePlan, apply_sizes, plan_sizes

__all__ = ["SizeFix", "SizePlan", "apply_sizes", "locate_crop", "plan_sizes"]

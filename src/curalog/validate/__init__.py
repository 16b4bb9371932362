"""The validator: every finding of findings.md, read-only."""

from curalog.validate.engine import validate
from curalog.validate.model import Finding, Report

__all__ = ["Finding", "Report", "validate"]

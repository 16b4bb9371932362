"""The version of curalog, in one place (read by the package, the dataset manifest and the validator memo)."""

__version__ = "0.1.0"

"""The legacy formats (docs/legacy-formats.md): line-exact CSV, the crop and selection logs, the
embedding index JSONL; importing them into the ledger and exporting the ledger back."""

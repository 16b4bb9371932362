"""The decision ledger: admission (every check before a row exists), sessions, decision writes
with their provenance, reads."""

from curalog.ledger.admission import Admitted, Candidate
from curalog.ledger.ledger import Decision, Ledger, Session, new_session_id
from curalog.ledger.provenance import LegacyLine, Provenance, Repair

__all__ = [
    "Admitted",
    "Candidate",
    "Decision",
    "Ledger",
    "LegacyLine",
    "Provenance",
    "Repair",
    "Session",
    "new_session_id",
]

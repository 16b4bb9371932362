"""The decision ledger: sessions, validated decision writes, reads."""

from curalog.ledger.ledger import Candidate, Decision, Ledger, Session, new_session_id

__all__ = ["Candidate", "Decision", "Ledger", "Session", "new_session_id"]

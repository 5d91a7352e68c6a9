"""The append-only, hash-chained, redactable audit trail.

chain.py   how an event is hashed (commitments of values, chained)
record.py  appending events inside the change's transaction
verify.py  walking the chain
snapshot.py one snapshot for reads that compare events with the head
anchors.py signed chain heads written outside the database, and checking against them
"""

from registry.audit.chain import GENESIS_HASH, PURGED, event_hash
from registry.audit.record import (
    AuditEntry,
    audit_record,
    audit_record_many,
    diff,
    jsonable,
    no_such_object,
)
from registry.audit.verify import PURGE_ACTION, ChainReport, verify_chain

__all__ = [
    "GENESIS_HASH",
    "PURGED",
    "PURGE_ACTION",
    "AuditEntry",
    "ChainReport",
    "audit_record",
    "audit_record_many",
    "diff",
    "event_hash",
    "jsonable",
    "no_such_object",
    "verify_chain",
]

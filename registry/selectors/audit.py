"""The audit trail as a reader sees it, and the stored-secret scan."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from registry.audit import PURGE_ACTION, PURGED
from registry.audit.chain import CHANGES_PREFIX, canonical, slot_values
from registry.models import AuditEvent
from registry.rules.actors import Actor
from registry.rules.validation import credential_in
from registry.selectors.paths import paths_visible_to


def visible_audit_events(*, actor: Actor) -> QuerySet[AuditEvent]:
    """Security reads the whole log; teams read the history of the paths they see."""
    if actor.sees_everything:
        return AuditEvent.objects.order_by("-seq")
    return AuditEvent.objects.filter(path__in=paths_visible_to(actor)).order_by("-seq")


@dataclass(frozen=True)
class StoredSecret:
    seq: int
    slot: str
    kind: str


def audit_stored_secrets() -> Iterator[StoredSecret]:
    """Every unpurged audit value the detector now recognises as a credential (a format
    it learnt after the value was written): what `audit_value_purge` should remove."""
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        for slot, value in slot_values(event):
            if slot in event.purged or value in (None, "", PURGED):
                continue
            if event.action == PURGE_ACTION and slot.startswith(CHANGES_PREFIX):
                continue  # what a purge purged: the verifier needs it, and it holds no value
            text = value if isinstance(value, str) else canonical(value)
            if finding := credential_in(slot.removeprefix(CHANGES_PREFIX), text):
                yield StoredSecret(event.seq, slot, finding.kind)

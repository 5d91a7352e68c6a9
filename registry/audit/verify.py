"""Walking the audit chain: is every event present, in place and unaltered?

The walk recomputes each event's hash from its values (or, for a purged value, from the
commitment kept when it was purged) and checks that every purged value names the
`audit.value_purged` event that purged it, so a value cannot be quietly blanked.
A chain rewritten from end to end by someone holding the database is consistent with
itself; `registry.audit.anchors` catches that against signed heads kept outside.

The events and the chain head are read in one snapshot (`registry.audit.snapshot`): read
in two statements while writers append, an intact chain would look cut short.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from registry.audit.chain import GENESIS_HASH, PURGED, event_hash, slot_value, slot_values
from registry.audit.snapshot import chain_snapshot
from registry.models import AuditChainHead, AuditEvent

PURGE_ACTION = "audit.value_purged"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_seq: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def events_in_order() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)


def _marker_problem(event: AuditEvent, slots: set[str]) -> str:
    """A purge marker the application could not have written is tampering, not a crash."""
    if not isinstance(event.purged, dict):
        return f"event #{event.seq} has a malformed purge record"
    for slot, marker in event.purged.items():
        well_formed = (
            slot in slots
            and isinstance(marker, dict)
            and set(marker) == {"commitment", "by_seq"}
            and isinstance(marker["commitment"], str)
            and len(marker["commitment"]) == 64
            and isinstance(marker["by_seq"], int)
        )
        if not well_formed:
            return f"event #{event.seq} has a malformed purge marker ({slot})"
        if slot_value(event, slot) not in (PURGED, [PURGED, PURGED]):
            return f"event #{event.seq} has a purged value ({slot}) that was written over"
    return ""


def _settle_purges(event: AuditEvent, pending: dict[tuple[int, str], int]) -> None:
    """Remember the purges this event claims; settle the ones this event performed."""
    for slot, marker in event.purged.items():
        pending[(event.seq, slot)] = marker["by_seq"]
    if event.action == PURGE_ACTION:
        target = (int(event.object_id), str(event.changes.get("slot", "")))
        if pending.get(target) == event.seq:
            del pending[target]


def verify_chain() -> ChainReport:
    """Walk the whole chain; report the first event that is missing, edited or out of place.

    The events and the head are read in one snapshot, so writers appending meanwhile
    neither break nor extend what is checked."""
    with chain_snapshot():
        return walk_chain()


def walk_chain() -> ChainReport:
    """The walk itself, in whatever transaction the caller is in: `verify_chain` gives it
    one snapshot (kept apart so a test can show what happens without one)."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    pending: dict[tuple[int, str], int] = {}
    for event in events_in_order():
        if event.seq != expected_seq:
            return ChainReport(checked, expected_seq, f"event #{expected_seq} is missing")
        if event.prev_hash != expected_prev:
            return ChainReport(
                checked, event.seq, f"event #{event.seq} does not follow event #{event.seq - 1}"
            )
        if problem := _marker_problem(event, {slot for slot, _ in slot_values(event)}):
            return ChainReport(checked, event.seq, problem)
        if event_hash(event) != event.hash:
            return ChainReport(
                checked, event.seq, f"event #{event.seq} was altered after it was written"
            )
        _settle_purges(event, pending)
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    if pending:
        seq, slot = min(pending)
        return ChainReport(
            seq - 1, seq, f"event #{seq} has a value ({slot}) purged without a purge event"
        )
    # The head remembers the last event written through audit_record: it catches a
    # chain cut short at its end, a rewritten newest event (no later event's prev_hash
    # would notice) and events inserted past it behind the application's back.
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        return ChainReport(checked)
    if head.last_seq > checked:
        return ChainReport(
            checked, checked + 1, f"events after #{checked} are missing (head is #{head.last_seq})"
        )
    if head.last_seq < checked:
        return ChainReport(
            head.last_seq,
            head.last_seq + 1,
            f"event #{head.last_seq + 1} was not written through the audit trail "
            f"(head is #{head.last_seq})",
        )
    if checked and head.last_hash != expected_prev:
        return ChainReport(checked - 1, checked, f"event #{checked} does not match the chain head")
    return ChainReport(checked)

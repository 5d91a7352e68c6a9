"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models.paths import AccessPath


class AuditChainHead(models.Model):
    """The one row that serialises appends to the audit chain.

    Locking it (select_for_update) inside the writing transaction makes the chain's
    sequence and prev_hash exact even with many concurrent writers.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="audit_chain_head_singleton"),
        ]

    def __str__(self) -> str:
        return f"audit chain head #{self.last_seq}"


class AuditEvent(models.Model):
    """Append-only, hash-chained record of every change.

    `seq` is gap-free (allocated under the chain-head lock), so a deleted event shows
    as a gap and an edited one as a hash mismatch. The hash covers salted commitments of
    the values (`registry/audit/chain.py`), so a value that turns out to be a secret can
    be purged: it becomes "[purged]" and its commitment moves to `purged`. On PostgreSQL
    triggers refuse DELETE, TRUNCATE and every UPDATE except such a purge.
    """

    class ActorType(models.TextChoices):
        USER = "user", "User"
        TOKEN = "token", "API token"
        SYSTEM = "system", "System"

    seq = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    actor_type = models.CharField(max_length=8, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=True,
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    path = models.ForeignKey(
        AccessPath,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Random per event: the commitments' salt (hex).
    salt = models.CharField(max_length=32)
    # {slot: {"commitment": hex, "by_seq": the audit.value_purged event}} per purged value.
    purged = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # A path's timeline (path detail page, audit-events?path=).
            models.Index(fields=["path", "seq"], name="audit_by_path"),
            models.Index(fields=["object_type", "object_id"], name="audit_by_object"),
            # The dashboard's charts and the inventory's "event in this week" filter.
            models.Index(fields=["action", "created_at"], name="audit_by_action_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

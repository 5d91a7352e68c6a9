"""Leak incidents: a credential known to have leaked, from detection to containment."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models.paths import AccessPath


class Incident(models.Model):
    """One leak of one credential: open -> contained (disabled at the source) -> closed.

    Opened by a person (manual, partner report) or by a scanner's alert (GitHub secret
    scanning, the generic intake). An alert that names no registered credential is kept
    with no path, for security to link: nothing reported is lost. The ladder
    (`escalation_stage`) climbs on an hours scale while the incident is open
    (Policy.incident_escalation_hours). Rows are never deleted."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CONTAINED = "contained", "Contained (disabled at the source)"
        CLOSED = "closed", "Closed"

    class Detection(models.TextChoices):
        MANUAL = "manual", "Reported by a person"
        SECRET_SCANNING = "secret_scanning", "Secret-scanning alert"
        PARTNER = "partner_report", "Partner report"

    path = models.ForeignKey(
        AccessPath, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    detection = models.CharField(max_length=16, choices=Detection.choices)
    # Where an alert came from ("github", "trufflehog", …) and its id there: a second
    # delivery of the same alert updates the incident instead of opening another.
    source = models.CharField(max_length=64, blank=True)
    external_ref = models.CharField(max_length=300, blank=True)
    alert_url = models.URLField(max_length=500, blank=True)
    secret_type = models.CharField(max_length=100, blank=True)
    location = models.CharField(max_length=500, blank=True)
    # How the alert found its path ("fingerprint", "key_id", …); never the value.
    matched_by = models.CharField(max_length=32, blank=True)
    summary = models.TextField(blank=True)
    detected_at = models.DateTimeField()
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reported_by_label = models.CharField(max_length=200)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    contained_at = models.DateTimeField(null=True, blank=True)
    contained_by_label = models.CharField(max_length=200, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_label = models.CharField(max_length=200, blank=True)
    escalation_stage = models.PositiveSmallIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_ref"],
                condition=~Q(external_ref=""),
                name="incident_once_per_alert",
            ),
            # Closed without a containment time: security closed an open alert as no
            # leak (a false positive), which must not count in the time to contain.
            models.CheckConstraint(
                condition=~Q(state="contained") | Q(contained_at__isnull=False),
                name="incident_contained_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="closed") | Q(closed_at__isnull=False),
                name="incident_closed_has_time",
            ),
        ]
        indexes = [
            # The ladder and the dashboard's open count: open incidents by detection.
            models.Index(fields=["detected_at"], condition=Q(state="open"), name="incident_open"),
            # The dashboard's time-to-contain over 90 days.
            models.Index(fields=["detected_at", "contained_at"], name="incident_detected"),
            models.Index(fields=["path", "state"], name="incident_by_path"),
        ]

    def __str__(self) -> str:
        return f"incident {self.pk} ({self.state})"

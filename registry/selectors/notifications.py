"""Notifications a reader may see; dead letters."""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import Notification
from registry.rules.actors import Actor


def visible_notifications(*, actor: Actor) -> QuerySet[Notification]:
    qs = Notification.objects.select_related("team").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(team_id__in=actor.team_ids)


def dead_notifications() -> QuerySet[Notification]:
    return (
        Notification.objects.filter(status=Notification.Status.DEAD)
        .select_related("team", "path")
        .order_by("-created_at", "-id")
    )

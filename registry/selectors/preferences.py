"""A person's saved filters."""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import SavedFilter


def saved_filters(*, user) -> QuerySet[SavedFilter]:
    return SavedFilter.objects.filter(user=user, archived_at__isnull=True).order_by("name")

"""Building and reading outbox rows, shared by the delivery tests."""

from __future__ import annotations

from django.db import transaction

from registry import services
from registry.models import AccessPath, Notification, Team
from registry.notifications.outbox import Notice, queue
from tests.conftest import NOW


def notice(team: Team, path: AccessPath, *, audience="members", reason="review_reminder", stage=7):
    due = path.next_review_at or NOW
    return Notice(
        team_id=team.pk,
        audience=audience,
        path_id=path.pk,
        reason=reason,
        cycle=due,
        stage=stage,
        payload={
            "path": {
                "id": str(path.pk),
                "name": path.name,
                "system": path.system,
                "environment": path.environment,
            },
            "reason": reason,
            "stage": stage,
            "due_at": due.isoformat(),
        },
    )


def queue_notices(notices: list[Notice], *, event: bool = False) -> int:
    team_ids = {n.team_id for n in notices}
    teams = {team.pk: team for team in Team.objects.filter(pk__in=team_ids)}
    with transaction.atomic():
        return queue(notices, teams=teams, now=NOW, event=event)


def rows(**filters) -> list[Notification]:
    return list(Notification.objects.filter(**filters).order_by("id"))


def set_channels(personas, team: Team, **changes) -> Team:
    return services.team_update(actor=personas.system, team=team, changes=changes, now=NOW)

"""Reads (house rule 2): scoped, annotated queries. The package's names are the reads the
pages, the API and the tasks use; each module holds one noun's reads."""

from registry.selectors.audit import StoredSecret, audit_stored_secrets, visible_audit_events
from registry.selectors.imports import import_runs, queued_imports, visible_import_runs
from registry.selectors.notifications import dead_notifications, visible_notifications
from registry.selectors.paths import (
    PathRequests,
    TimelineEntry,
    path_get,
    path_history,
    path_identifiers,
    path_list,
    path_notifications,
    path_open_requests,
    path_queryset,
    pending_change_request,
    visible_paths_q,
    with_identifiers,
)
from registry.selectors.preferences import saved_filters
from registry.selectors.reminders import UpcomingReminder, reminder_preview
from registry.selectors.requests import (
    pending_claims,
    pending_exceptions,
    transfers_waiting_for,
    visible_change_requests,
    visible_claims,
    visible_exceptions,
    visible_transfers,
)
from registry.selectors.teams import (
    actor_teams,
    channel_test_of,
    team_directory,
    team_for_reader,
    team_members,
    team_tokens,
)

__all__ = [
    "PathRequests",
    "StoredSecret",
    "TimelineEntry",
    "UpcomingReminder",
    "actor_teams",
    "audit_stored_secrets",
    "channel_test_of",
    "dead_notifications",
    "import_runs",
    "path_get",
    "path_history",
    "path_identifiers",
    "path_list",
    "path_notifications",
    "path_open_requests",
    "path_queryset",
    "pending_change_request",
    "pending_claims",
    "pending_exceptions",
    "queued_imports",
    "reminder_preview",
    "saved_filters",
    "team_directory",
    "team_for_reader",
    "team_members",
    "team_tokens",
    "transfers_waiting_for",
    "visible_audit_events",
    "visible_change_requests",
    "visible_claims",
    "visible_exceptions",
    "visible_import_runs",
    "visible_notifications",
    "visible_paths_q",
    "visible_transfers",
    "with_identifiers",
]

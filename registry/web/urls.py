from django.urls import path

from registry.web.views import (
    change_requests,
    control_points,
    dashboard,
    evidence,
    exports,
    imports,
    incidents,
    inventory,
    paths,
    queues,
    source,
    teams,
    triage,
)

app_name = "registry"

P = "paths/<str:path_id>/"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("paths/", inventory.path_list, name="path-list"),
    path("paths/export.csv", inventory.path_export, {"fmt": "csv"}, name="path-export"),
    path("paths/export.json", inventory.path_export, {"fmt": "json"}, name="path-export-json"),
    path("exports/<uuid:run_id>/", exports.export_detail, name="export-detail"),
    path("exports/<uuid:run_id>/download", exports.export_download, name="export-download"),
    path("saved-filters/", inventory.saved_filter_create, name="saved-filter-create"),
    path(
        "saved-filters/<int:saved_id>/archive/",
        inventory.saved_filter_archive,
        name="saved-filter-archive",
    ),
    path(P, paths.path_detail, name="path-detail"),
    path(P + "edit/", paths.path_edit, name="path-edit"),
    path(P + "claim/", paths.path_claim, name="path-claim"),
    path(P + "attest/", paths.path_attest, name="path-attest"),
    path(P + "transfer/", paths.path_transfer, name="path-transfer"),
    path(P + "revoke/", paths.path_revoke, name="path-revoke"),
    path(P + "source-disabled/", source.path_source_disabled, name="path-source-disabled"),
    path(P + "exceptions/", paths.exception_request, name="exception-request"),
    path(P + "claims/<int:claim_id>/<str:decision>/", paths.claim_decide, name="claim-decide"),
    path(
        P + "changes/<int:change_id>/<str:decision>/",
        change_requests.change_decide,
        name="change-decide",
    ),
    path(
        P + "transfers/<int:transfer_id>/<str:decision>/",
        paths.transfer_answer,
        name="transfer-answer",
    ),
    path(
        P + "exceptions/<int:exception_id>/<str:decision>/",
        paths.exception_decide,
        name="exception-decide",
    ),
    path("triage/", triage.triage, name="triage"),
    path("incidents/", incidents.incident_list_page, name="incident-list"),
    path("incidents/new/", incidents.incident_new, name="incident-new"),
    path("incidents/<int:incident_id>/", incidents.incident_detail, name="incident-detail"),
    path(
        "incidents/<int:incident_id>/contain/",
        incidents.incident_contain,
        name="incident-contain",
    ),
    path("incidents/<int:incident_id>/close/", incidents.incident_close, name="incident-close"),
    path("incidents/<int:incident_id>/link/", incidents.incident_link, name="incident-link"),
    path("queues/mine/", queues.my_teams, name="queue-mine"),
    path("queues/unclaimed/", queues.unclaimed, name="queue-unclaimed"),
    path("queues/security/", queues.security_queues, name="queue-security"),
    path("evidence/", evidence.evidence_pack, name="evidence-pack"),
    path("control-policies/", control_points.control_policies, name="control-policies"),
    path("imports/", imports.import_list, name="import-list"),
    path("imports/<uuid:run_id>/", imports.import_detail, name="import-detail"),
    path(
        "notifications/<int:notification_id>/retry/",
        queues.notification_retry,
        name="notification-retry",
    ),
    path("teams/", teams.team_list, name="team-list"),
    path("teams/<slug:slug>/", teams.team_detail, name="team-detail"),
    path("teams/<slug:slug>/channels/", teams.team_channels, name="team-channels"),
    path("teams/<slug:slug>/channels/test/", teams.team_channel_test, name="team-channel-test"),
    path(
        "teams/<slug:slug>/channels/test/<str:test_id>/",
        teams.team_channel_test_status,
        name="team-channel-test-status",
    ),
    path("teams/<slug:slug>/tokens/", teams.token_create, name="token-create"),
    path(
        "teams/<slug:slug>/tokens/<int:token_id>/revoke/",
        teams.token_revoke,
        name="token-revoke",
    ),
    path("teams/<slug:slug>/reminders/", teams.team_reminders, name="team-reminders"),
]

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api import (
    change_requests,
    control_points,
    incident_intake,
    incidents,
    leases,
    ownership,
    policy,
    signoff,
    source,
    views,
)

router = DefaultRouter(trailing_slash=True)
router.register("access-paths", views.AccessPathViewSet, basename="access-path")
router.register("claims", ownership.ClaimViewSet, basename="claim")
router.register("transfers", ownership.TransferViewSet, basename="transfer")
router.register("teams", views.TeamViewSet, basename="team")
router.register("exceptions", views.ExceptionViewSet, basename="exception")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("notifications", views.NotificationViewSet, basename="notification")
router.register("imports", views.ImportRunViewSet, basename="import")
router.register("incidents", incidents.IncidentViewSet, basename="incident")
router.register("change-requests", change_requests.ChangeRequestViewSet, basename="change-request")
router.register("control-policies", control_points.ControlPolicyViewSet, basename="control-policy")
router.register("agent-actions", signoff.AgentActionViewSet, basename="agent-action")

urlpatterns = [
    path("v1/me/", views.MeView.as_view(), name="me"),
    path("v1/triage/", views.TriageView.as_view(), name="triage"),
    # Before the router: "github" and "intake" are not incident ids.
    path("v1/incidents/github/", incident_intake.github_webhook, name="incident-github"),
    path(
        "v1/incidents/intake/",
        incident_intake.GenericIntakeView.as_view(),
        name="incident-intake",
    ),
    path(
        "v1/access-paths/<str:pk>/source-disabled/",
        source.SourceDisabledView.as_view(),
        name="access-path-source-disabled",
    ),
    path(
        "v1/access-paths/<str:pk>/signoff-policy/",
        signoff.SignoffPolicyView.as_view(),
        name="access-path-signoff-policy",
    ),
    path(
        "v1/access-paths/<str:pk>/agent-actions/",
        signoff.AgentActionsView.as_view(),
        name="access-path-agent-actions",
    ),
    path(
        "v1/access-paths/<str:pk>/leases/",
        leases.LeasesView.as_view(),
        name="access-path-leases",
    ),
    path("v1/posture-rules/", policy.PostureRulesView.as_view(), name="posture-rules"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's starter script as a file, so the page runs
    # under the same Content-Security-Policy as ours (no inline script).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

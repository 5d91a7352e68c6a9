from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api import views

router = DefaultRouter(trailing_slash=True)
router.register("access-paths", views.AccessPathViewSet, basename="access-path")
router.register("claims", views.ClaimViewSet, basename="claim")
router.register("transfers", views.TransferViewSet, basename="transfer")
router.register("teams", views.TeamViewSet, basename="team")
router.register("exceptions", views.ExceptionViewSet, basename="exception")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("notifications", views.NotificationViewSet, basename="notification")
router.register("imports", views.ImportRunViewSet, basename="import")

urlpatterns = [
    path("v1/me/", views.MeView.as_view(), name="me"),
    path("v1/triage/", views.TriageView.as_view(), name="triage"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's starter script as a file, so the page runs
    # under the same Content-Security-Policy as ours (no inline script).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

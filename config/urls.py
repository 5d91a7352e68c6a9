from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from registry.web.health import healthz, readyz
from registry.web.metrics import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("registry.web.urls")),
]

handler404 = "api.exceptions.not_found"
# A failing database or disk is a 503 with Retry-After, anything else a 500.
handler500 = "registry.web.middleware.server_error"

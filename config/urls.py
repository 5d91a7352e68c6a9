from django.contrib import admin
from django.urls import include, path

from registry.web.health import healthz, readyz
from registry.web.metrics import metrics
from registry.web.oidc import (
    ProviderCallbackView,
    ProviderSignInView,
    SignInView,
    SignOutView,
)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    # Signing in through the identity provider (404 while NHI_OIDC_ISSUER is unset).
    path("oidc/sign-in/", ProviderSignInView.as_view(), name="oidc-sign-in"),
    path("oidc/callback/", ProviderCallbackView.as_view(), name="oidc-callback"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("scim/v2/", include("scim.urls")),
    path("", include("registry.web.urls")),
]

handler404 = "api.exceptions.not_found"
# A failing database or disk is a 503 with Retry-After, anything else a 500.
handler500 = "registry.web.middleware.server_error"

from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clinic.signin.views import SignInView
from config import views
from intake.urls import api_urlpatterns as intake_api
from intake.urls import report_urlpatterns as intake_reports
from notifications.urls import dev_urlpatterns as notifications_dev
from notifications.urls import webhook_urlpatterns as notifications_webhooks
from scheduling.urls import api_urlpatterns as scheduling_api
from scheduling.urls import public_urlpatterns as scheduling_public
from scheduling.urls import webhook_urlpatterns as scheduling_webhooks

api_v1 = [*intake_api, *scheduling_api]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="intake:article-index"), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        # Swagger UI's script is served as a file (the split view); its page and
        # widgets still style inline.
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="api-docs",
    ),
    path(
        "webhooks/",
        include(
            ([*notifications_webhooks, *scheduling_webhooks], "webhooks"), namespace="webhooks"
        ),
    ),
    path("articles/", include("intake.urls")),
    path("console/", include("scheduling.urls")),
    path("reports/", include((intake_reports, "reports"), namespace="reports")),
    path("", include((scheduling_public, "manage"), namespace="manage")),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/two-factor/", include("clinic.signin.urls", namespace="signin")),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(settings.ADMIN_URL, admin.site.urls),
]

if settings.DEVELOPMENT:
    urlpatterns.append(path("dev/", include((notifications_dev, "dev"), namespace="dev")))

# Styled, with the user's navigation (403 and 404 use templates/403.html and 404.html);
# under /api/ the one JSON error shape instead.
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"

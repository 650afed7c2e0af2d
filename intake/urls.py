from __future__ import annotations

from django.urls import path

from intake import apis, views

app_name = "intake"

api_urlpatterns = [
    path("leads/", apis.LeadSubmitApi.as_view(), name="lead-submit"),
    path("leads/<str:reference>/", apis.LeadDetailApi.as_view(), name="lead-detail"),
    path("events/", apis.CtaEventApi.as_view(), name="cta-event"),
    path("cta/", apis.CtaConfigApi.as_view(), name="cta-config"),
    path("reports/articles/", apis.ArticleReportApi.as_view(), name="reports-articles"),
]

# Mounted at /reports/ by config.urls: marketing's dashboard.
report_urlpatterns = [
    path("", views.reports_dashboard, name="reports-dashboard"),
]

urlpatterns = [
    path("", views.article_index, name="article-index"),
    path("<slug:slug>/", views.article_detail, name="article-detail"),
    path("<slug:slug>/request/", views.article_request, name="article-request"),
]

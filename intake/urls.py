from __future__ import annotations

from django.urls import path

from intake import views
from intake.apis import events as event_apis
from intake.apis import insurance as insurance_apis
from intake.apis import leads as lead_apis
from intake.apis import reports as report_apis

app_name = "intake"

api_urlpatterns = [
    path("leads/", lead_apis.LeadSubmitApi.as_view(), name="lead-submit"),
    path("leads/<str:reference>/", lead_apis.LeadDetailApi.as_view(), name="lead-detail"),
    path(
        "leads/<str:reference>/insurance/",
        insurance_apis.LeadInsuranceApi.as_view(),
        name="lead-insurance",
    ),
    path(
        "leads/<str:reference>/insurance/verification/",
        insurance_apis.LeadInsuranceVerificationApi.as_view(),
        name="lead-insurance-verification",
    ),
    path(
        "insurance/waiting/", insurance_apis.InsuranceWaitingApi.as_view(), name="insurance-waiting"
    ),
    path("events/", event_apis.CtaEventApi.as_view(), name="cta-event"),
    path("cta/", event_apis.CtaConfigApi.as_view(), name="cta-config"),
    path("reports/articles/", report_apis.ArticleReportApi.as_view(), name="reports-articles"),
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

from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "notifications"

dev_urlpatterns = [
    path("outbox/", views.dev_outbox, name="dev-outbox"),
]

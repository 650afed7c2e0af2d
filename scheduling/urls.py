from __future__ import annotations

from django.urls import path

from scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("", views.console, name="console"),
    path("queue/", views.console_queue, name="console-queue"),
    path("next/", views.console_claim_next, name="console-claim-next"),
    path("callbacks/<int:callback_id>/release/", views.console_release, name="console-release"),
]

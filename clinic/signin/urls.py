from __future__ import annotations

from django.urls import path

from clinic.signin import views

app_name = "signin"

urlpatterns = [
    path("", views.otp_verify, name="verify"),
    path("enrol/", views.otp_enrol, name="enrol"),
    path("backup-codes/", views.backup_codes, name="backup-codes"),
]

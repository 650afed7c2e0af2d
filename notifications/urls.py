from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "notifications"

webhook_urlpatterns = [
    path("twilio/status/", views.twilio_status, name="twilio-status"),
    path("twilio/inbound/", views.twilio_inbound, name="twilio-inbound"),
    path("twilio/voice/", views.twilio_voice, name="twilio-voice"),
    path("twilio/voice/dial/", views.twilio_voice_dial, name="twilio-voice-dial"),
]

dev_urlpatterns = [
    path("outbox/", views.dev_outbox, name="dev-outbox"),
]

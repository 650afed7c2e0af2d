from __future__ import annotations

from django.urls import path, re_path

from scheduling import (
    apis,
    board,
    call_apis,
    call_settings_apis,
    call_settings_views,
    call_views,
    call_webhooks,
    inbox_apis,
    inbox_page,
    recording_views,
    recording_webhooks,
    refusal_views,
)
from scheduling.apis import screenings as screening_apis
from scheduling.apis import waitlist as waitlist_apis
from scheduling.views import booking as booking_views
from scheduling.views import callback as callback_views
from scheduling.views import console as console_views
from scheduling.views import insurance as insurance_views
from scheduling.views import manage as manage_views
from scheduling.views import waitlist as waitlist_views

app_name = "scheduling"

api_urlpatterns = [
    path("callbacks/", apis.CallbackListApi.as_view(), name="callback-list"),
    path("callbacks/claim-next/", apis.CallbackClaimNextApi.as_view(), name="callback-claim-next"),
    path(
        "callbacks/<int:callback_id>/release/",
        apis.CallbackReleaseApi.as_view(),
        name="callback-release",
    ),
    path(
        "callbacks/<int:callback_id>/attempts/",
        apis.CallbackAttemptsApi.as_view(),
        name="callback-attempts",
    ),
    path(
        "callbacks/<int:callback_id>/refusal/acknowledge/",
        apis.CallbackRefusalAcknowledgeApi.as_view(),
        name="callback-refusal-acknowledge",
    ),
    path(
        "callbacks/<int:callback_id>/call/",
        call_apis.CallbackCallApi.as_view(),
        name="callback-call",
    ),
    path("calls/<int:call_id>/", call_apis.CallApi.as_view(), name="call-detail"),
    path("me/phone/", call_settings_apis.MePhoneApi.as_view(), name="me-phone"),
    path("me/phone/verify/", call_settings_apis.MePhoneVerifyApi.as_view(), name="me-phone-verify"),
    path(
        "me/availability/", call_settings_apis.MeAvailabilityApi.as_view(), name="me-availability"
    ),
    path("me/voice-token/", call_settings_apis.MeVoiceTokenApi.as_view(), name="me-voice-token"),
    path("inbox/", inbox_apis.InboxListApi.as_view(), name="inbox-list"),
    path(
        "inbox/<int:conversation_id>/",
        inbox_apis.InboxThreadApi.as_view(),
        name="inbox-thread",
    ),
    path(
        "inbox/<int:conversation_id>/reply/",
        inbox_apis.InboxReplyApi.as_view(),
        name="inbox-reply",
    ),
    path(
        "leads/<str:reference>/screenings/",
        screening_apis.LeadScreeningsApi.as_view(),
        name="lead-screenings",
    ),
    path(
        "leads/<str:reference>/waitlist/",
        waitlist_apis.LeadWaitlistApi.as_view(),
        name="lead-waitlist",
    ),
    path("waitlist/", waitlist_apis.WaitlistListApi.as_view(), name="waitlist-list"),
    path(
        "waitlist/<int:entry_id>/remove/",
        waitlist_apis.WaitlistRemoveApi.as_view(),
        name="waitlist-remove",
    ),
    path("slots/", apis.SlotListApi.as_view(), name="slot-list"),
    path("appointments/", apis.AppointmentListApi.as_view(), name="appointment-list"),
    path(
        "appointments/<int:appointment_id>/move/",
        apis.AppointmentMoveApi.as_view(),
        name="appointment-move",
    ),
    re_path(
        r"^appointments/(?P<appointment_id>\d+)/(?P<action>cancel|attended|no-show)/$",
        apis.AppointmentActionApi.as_view(),
        name="appointment-action",
    ),
]

urlpatterns = [
    path("", console_views.console, name="console"),
    path("queue/", console_views.console_queue, name="console-queue"),
    path("next/", console_views.console_claim_next, name="console-claim-next"),
    path("board/", board.console_board, name="console-board"),
    path("inbox/", inbox_page.console_inbox, name="console-inbox"),
    path("inbox/list/", inbox_page.console_inbox_list, name="console-inbox-list"),
    path(
        "inbox/<int:conversation_id>/",
        inbox_page.console_inbox_thread,
        name="console-inbox-thread",
    ),
    path(
        "inbox/<int:conversation_id>/texts/",
        inbox_page.console_inbox_texts,
        name="console-inbox-texts",
    ),
    path(
        "inbox/<int:conversation_id>/reply/",
        inbox_page.console_inbox_reply,
        name="console-inbox-reply",
    ),
    path(
        "inbox/<int:conversation_id>/assign/",
        inbox_page.console_inbox_assign,
        name="console-inbox-assign",
    ),
    path("callbacks/<int:callback_id>/", callback_views.console_callback, name="console-callback"),
    path(
        "callbacks/<int:callback_id>/attempt/",
        callback_views.console_attempt,
        name="console-attempt",
    ),
    path("callbacks/<int:callback_id>/call/", call_views.console_call, name="console-call"),
    path(
        "callbacks/<int:callback_id>/call/status/",
        call_views.console_call_status,
        name="console-call-status",
    ),
    path("callbacks/<int:callback_id>/renew/", callback_views.console_renew, name="console-renew"),
    path("callbacks/<int:callback_id>/sms/", callback_views.console_sms, name="console-sms"),
    path("callbacks/<int:callback_id>/email/", callback_views.console_email, name="console-email"),
    path("callbacks/<int:callback_id>/undo/", callback_views.console_undo, name="console-undo"),
    path("preferences/", console_views.console_preferences, name="console-preferences"),
    path(
        "callbacks/<int:callback_id>/confirm-details/",
        callback_views.console_details_confirm,
        name="console-details-confirm",
    ),
    path(
        "callbacks/<int:callback_id>/verify-details/",
        callback_views.console_details_verify,
        name="console-details-verify",
    ),
    path(
        "callbacks/<int:callback_id>/assign/", console_views.console_assign, name="console-assign"
    ),
    path(
        "callbacks/<int:callback_id>/refusal/acknowledge/",
        refusal_views.console_refusal_acknowledge,
        name="console-refusal-acknowledge",
    ),
    path(
        "callbacks/<int:callback_id>/refusal/lift/",
        refusal_views.console_refusal_lift,
        name="console-refusal-lift",
    ),
    path(
        "callbacks/<int:callback_id>/sms-consent-invite/",
        refusal_views.console_sms_consent_invite,
        name="console-sms-consent-invite",
    ),
    path(
        "callbacks/<int:callback_id>/decide/",
        board.console_crisis_decide,
        name="console-crisis-decide",
    ),
    path(
        "alerts/<int:alert_id>/acknowledge/",
        board.console_alert_acknowledge,
        name="console-alert-acknowledge",
    ),
    path(
        "callbacks/<int:callback_id>/release/",
        console_views.console_release,
        name="console-release",
    ),
    path("callbacks/<int:callback_id>/book/", callback_views.console_book, name="console-book"),
    path(
        "callbacks/<int:callback_id>/booking-link/",
        booking_views.console_booking_link,
        name="console-booking-link",
    ),
    path(
        "callbacks/<int:callback_id>/screening/",
        callback_views.console_screening,
        name="console-screening",
    ),
    path(
        "callbacks/<int:callback_id>/insurance/",
        insurance_views.console_insurance,
        name="console-insurance",
    ),
    path(
        "callbacks/<int:callback_id>/insurance/verification/",
        insurance_views.console_insurance_verification,
        name="console-insurance-verification",
    ),
    path(
        "callbacks/<int:callback_id>/insurance/use/",
        insurance_views.console_insurance_use,
        name="console-insurance-use",
    ),
    path(
        "insurance/",
        insurance_views.console_insurance_waiting,
        name="console-insurance-waiting",
    ),
    path("profile/", call_settings_views.console_profile, name="console-profile"),
    path("profile/phone/", call_settings_views.console_profile_phone, name="console-profile-phone"),
    path(
        "profile/verify/",
        call_settings_views.console_profile_verify,
        name="console-profile-verify",
    ),
    path(
        "profile/availability/",
        call_settings_views.console_profile_availability,
        name="console-profile-availability",
    ),
    path(
        "recordings/<int:recording_id>/audio/",
        recording_views.console_recording_audio,
        name="console-recording-audio",
    ),
    path("waitlist/", waitlist_views.console_waitlist, name="console-waitlist"),
    path(
        "waitlist/<int:entry_id>/remove/",
        waitlist_views.console_waitlist_remove,
        name="console-waitlist-remove",
    ),
    path(
        "callbacks/<int:callback_id>/waitlist/",
        waitlist_views.console_waitlist_add,
        name="console-waitlist-add",
    ),
    path("appointments/", console_views.console_appointments, name="console-appointments"),
    path(
        "appointments/<int:appointment_id>/mark/",
        console_views.console_appointment_mark,
        name="console-appointment-mark",
    ),
]

# Pages a person reaches from the signed links in their emails.
public_urlpatterns = [
    path("r/<str:token>/", manage_views.request_manage, name="request"),
    path("a/<str:token>/", manage_views.appointment_manage, name="appointment"),
    path("b/<str:token>/", booking_views.booking_page, name="booking"),
    path("w/<str:token>/", waitlist_views.waitlist_offer, name="waitlist-offer"),
]

# Twilio's webhooks of the clinic's bridged calls (signed; under /webhooks/).
webhook_urlpatterns = [
    path("twilio/calls/browser/", call_webhooks.call_browser, name="call-browser"),
    path(
        "twilio/calls/browser/status/",
        call_webhooks.call_browser_status,
        name="call-browser-status",
    ),
    path("twilio/calls/<int:call_id>/answer/", call_webhooks.call_answer, name="call-answer"),
    path("twilio/calls/<int:call_id>/connect/", call_webhooks.call_connect, name="call-connect"),
    path(
        "twilio/calls/<int:call_id>/person/",
        call_webhooks.call_person_answered,
        name="call-person",
    ),
    path(
        "twilio/calls/<int:call_id>/dial-ended/",
        call_webhooks.call_dial_ended,
        name="call-dial-ended",
    ),
    path(
        "twilio/calls/<int:call_id>/status/<slug:leg>/",
        call_webhooks.call_status,
        name="call-status",
    ),
    path(
        "twilio/calls/<int:call_id>/recording/",
        recording_webhooks.call_recording_status,
        name="call-recording",
    ),
]

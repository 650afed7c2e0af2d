"""The clinic's phone is configured from the environment, and production refuses a
voice setup that would call people from no number, or name the clinic to people who
asked us not to."""

from __future__ import annotations

from django.conf import settings

from tests.config.test_settings import PRODUCTION_ENV, production_answers


def test_voice_settings_have_their_documented_defaults_in_tests():
    assert settings.VOICE_BACKEND == "locmem"
    assert settings.INSTANT_CALL_RING_SECONDS == 25
    assert settings.CALL_RECORDING is False
    assert settings.CALL_RECORDING_RETENTION_DAYS == 30


def test_production_refuses_bad_voice_configurations():
    answers = production_answers(
        {
            "complete": {},
            "no caller id": {"CLINIC_CALLER_ID": ""},
            "console voice": {"VOICE_BACKEND": "console"},
            "unknown backend": {"VOICE_BACKEND": "carrier-pigeon"},
            "caller id not e164": {"CLINIC_CALLER_ID": "475 329 2686"},
            "discreet id is the clinic's": {
                "DISCREET_CALLER_ID": PRODUCTION_ENV["CLINIC_CALLER_ID"]
            },
            "softphone half configured": {"TWILIO_API_KEY": "SK" + "1" * 32},
            "softphone key not a key sid": {
                "TWILIO_API_KEY": "AC" + "1" * 32,
                "TWILIO_API_SECRET": "a-real-looking-secret-0123456789",
                "TWILIO_TWIML_APP_SID": "AP" + "1" * 32,
            },
            "softphone complete": {
                "TWILIO_API_KEY": "SK" + "1" * 32,
                "TWILIO_API_SECRET": "a-real-looking-secret-0123456789",
                "TWILIO_TWIML_APP_SID": "AP" + "1" * 32,
            },
            "ring too short": {"INSTANT_CALL_RING_SECONDS": "2"},
            "retention zero": {"CALL_RECORDING_RETENTION_DAYS": "0"},
        }
    )
    assert answers["complete"] is None
    assert answers["softphone complete"] is None
    assert answers["no caller id"] == "VOICE_BACKEND=twilio needs CLINIC_CALLER_ID"
    assert answers["console voice"] == "VOICE_BACKEND must be twilio when DJANGO_ENV=production"
    assert answers["unknown backend"] == "VOICE_BACKEND must be console, locmem or twilio"
    assert "CLINIC_CALLER_ID must be a phone number in E.164" in answers["caller id not e164"]
    assert answers["discreet id is the clinic's"] == (
        "DISCREET_CALLER_ID must differ from CLINIC_CALLER_ID"
    )
    assert "needs all of TWILIO_API_KEY" in answers["softphone half configured"]
    assert answers["softphone key not a key sid"] == "TWILIO_API_KEY is an API key SID (SK...)"
    assert "INSTANT_CALL_RING_SECONDS" in answers["ring too short"]
    assert "CALL_RECORDING_RETENTION_DAYS" in answers["retention zero"]

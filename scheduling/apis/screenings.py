"""A lead's pre-admission screenings over HTTP: ``GET`` and ``POST``
``/api/v1/leads/{reference}/screenings/``, for coordinators and supervisors. The answers,
scores and bands are clinical: every answer that carries them is on the audit trail,
and no error repeats a value that was sent (only which field or answer was wrong)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.openapi import FORBIDDEN, INVALID, NOT_FOUND, server_rules
from intake import instruments
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.instruments import ANSWER_MAX, ANSWER_MIN, INSTRUMENTS
from intake.models import Screening
from scheduling import services
from scheduling.apis.callbacks import CARE

_FEWEST = min(len(each.questions) for each in INSTRUMENTS.values())
_MOST = max(len(each.questions) for each in INSTRUMENTS.values())


class AnswerField(serializers.IntegerField):
    """A whole number as JSON writes it: not ``true``, ``1.0`` or ``"1"`` (DRF's
    IntegerField takes all three)."""

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class ScreeningInputSerializer(serializers.Serializer):
    instrument = serializers.ChoiceField(
        choices=Screening.Instrument.choices,
        error_messages={"invalid_choice": f"Choose one of: {', '.join(INSTRUMENTS)}."},
    )
    answers = serializers.ListField(
        child=AnswerField(
            min_value=ANSWER_MIN,
            max_value=ANSWER_MAX,
            error_messages={
                "invalid": "A whole number from 0 to 3.",
                "min_value": "A whole number from 0 to 3.",
                "max_value": "A whole number from 0 to 3.",
            },
        ),
        min_length=_FEWEST,
        max_length=_MOST,
        help_text="The answers in the instrument's order, each 0 (not at all) to 3 (nearly "
        "every day): 9 for phq9, 7 for gad7.",
    )
    presenting_concern = serializers.ChoiceField(
        choices=[], required=False, allow_blank=True, help_text="SCREENING_PRESENTING_CONCERNS."
    )
    level_of_care = serializers.ChoiceField(
        choices=[],
        required=False,
        allow_blank=True,
        help_text="The recommended level of care, from SCREENING_LEVELS_OF_CARE.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The configured lists as they are now (settings, not import time).
        for name, choices in (
            ("presenting_concern", instruments.presenting_concerns()),
            ("level_of_care", instruments.levels_of_care()),
        ):
            field = self.fields[name]
            field.choices = choices
            field.error_messages["invalid_choice"] = (
                f"Choose one of: {', '.join(value for value, _label in choices)}."
            )


class ScreeningOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = serializers.ChoiceField(choices=Screening.Instrument.choices)
    answers = serializers.ListField(child=serializers.IntegerField(), source="answer_list")
    score = serializers.IntegerField(source="score_value", allow_null=True)
    band = serializers.CharField(
        help_text="minimal, mild, moderate, moderately_severe (PHQ-9), severe; empty once "
        "the lead's data was erased."
    )
    band_label = serializers.CharField()
    presenting_concern = serializers.CharField()
    level_of_care = serializers.CharField()
    opens_crisis = serializers.BooleanField(
        help_text="PHQ-9 question 9 answered above 0: the lead's callback is urgent, a "
        "supervisor was alerted and every message takes the crisis wording."
    )
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(
        source="created_by.get_username", allow_null=True, default=None
    )


class LeadScreeningsApi(APIView):
    """``/api/v1/leads/{reference}/screenings/``: the lead's screenings, and recording one
    (PHQ-9 or GAD-7, scored with the published severity bands)."""

    permission_classes = CARE

    @extend_schema(
        operation_id="leads_screenings_list",
        responses={
            200: ScreeningOutputSerializer(many=True),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        tags=["screenings"],
    )
    def get(self, request: Request, reference: str) -> Response:
        lead = intake_selectors.lead_of_reference(reference=reference)
        screenings = intake_selectors.lead_screenings(lead_id=lead.pk)
        intake_services.screenings_access_record(
            screenings=screenings, what="screenings API", reference=reference
        )
        return Response(ScreeningOutputSerializer(screenings, many=True).data)

    @extend_schema(
        operation_id="leads_screenings_create",
        request=ScreeningInputSerializer,
        responses={
            201: ScreeningOutputSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        extensions=server_rules(
            answers="Exactly as many answers as the instrument has questions: 9 for phq9, "
            "7 for gad7.",
        ),
        tags=["screenings"],
    )
    def post(self, request: Request, reference: str) -> Response:
        lead = intake_selectors.lead_of_reference(reference=reference)
        serializer = ScreeningInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        checked = intake_services.screening_check(
            instrument=data["instrument"],
            answers=data["answers"],
            presenting_concern=data.get("presenting_concern", ""),
            level_of_care=data.get("level_of_care", ""),
        )
        screening = services.lead_screening_record(
            lead_id=lead.pk, user_id=request.user.pk, request=checked
        )
        # The answer shows the score and band: a read like any other.
        intake_services.screenings_access_record(
            screenings=[screening], what="screenings API (recorded)", reference=reference
        )
        return Response(ScreeningOutputSerializer(screening).data, status=status.HTTP_201_CREATED)

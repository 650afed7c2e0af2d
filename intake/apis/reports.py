"""Marketing's conversion report, ``GET /api/v1/reports/articles/`` (JSON or CSV):
aggregates only, for marketing, supervisors and admins."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.errors import ErrorSerializer
from clinic.openapi import server_rules
from intake.report_table import csv_fields, csv_header
from intake.reports import GROUPS, article_funnel_report, form_abandonment_report
from intake.services.events import clinic_day

REPORT_ROLES = (roles.MARKETING, roles.SUPERVISOR, roles.ADMIN)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 0},
            {"type": "string", "pattern": "^<[0-9]+$", "example": "<5"},
            {"type": "string", "enum": ["hidden"]},
        ],
        "nullable": True,
        "description": 'A count; below REPORT_MIN_CELL it is the string "<N>" '
        "(small-cell suppression). Counts of people (submissions to admitted, and the "
        "admissions steps screened, insurance verified and waitlisted) are "
        "perturbed by at most REPORT_NOISE, the same for the same people whatever the "
        "query, so that overlapping queries cannot be subtracted to recover a small count, "
        'and are "<N>" when their perturbed value is below N; CTA event counts are exact, '
        'and "hidden" where a larger one is withheld so that a small one in the same column '
        "cannot be recovered from the total. In every row no stage shows more than the "
        "stage before it (article views to admitted): a stage shows at least the stage "
        "after it; the admissions steps stand beside the funnel and are not raised. "
        "Null where it does not apply (CTA events by campaign or source).",
    }
)
class SuppressedCountField(serializers.Field):
    def to_representation(self, value: Any) -> Any:
        return value


class ReportRatesSerializer(serializers.Serializer):
    """Each null when a count it divides is suppressed, zero or not applicable."""

    cta_view_rate = serializers.FloatField(allow_null=True, help_text="CTA views / article views.")
    form_start_rate = serializers.FloatField(allow_null=True, help_text="Form starts / CTA views.")
    submission_rate = serializers.FloatField(
        allow_null=True, help_text="Submissions / form starts (phone calls start no form)."
    )
    contact_rate = serializers.FloatField(allow_null=True, help_text="Contacted / leads.")
    booking_rate = serializers.FloatField(
        allow_null=True, help_text="Consultation booked / contacted."
    )
    attendance_rate = serializers.FloatField(allow_null=True, help_text="Attended / booked.")
    admission_rate = serializers.FloatField(allow_null=True, help_text="Admitted / attended.")
    lead_to_patient_rate = serializers.FloatField(allow_null=True, help_text="Admitted / leads.")


class ReportWaitSerializer(serializers.Serializer):
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)


class ReportFirstContactSerializer(serializers.Serializer):
    system = ReportWaitSerializer(
        help_text="From the submission to the callback and confirmations being queued."
    )
    coordinators = ReportWaitSerializer(help_text="From then to the first contact.")


class ReportFirstConversationSerializer(serializers.Serializer):
    conversations = SuppressedCountField(
        help_text="People whose first request (for this article) had its first conversation: "
        "a call the person answered for 30 s or more, a call logged as reached, or a two-way "
        "text exchange where they chose texts. Suppressed and perturbed like every count "
        "of people."
    )
    median_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="Median time from the first request to the first conversation; null "
        "beside a suppressed count.",
    )
    p90_seconds = serializers.IntegerField(
        allow_null=True, help_text="90th percentile of the same; null beside a suppressed count."
    )


class ReportRowSerializer(serializers.Serializer):
    key = serializers.CharField(
        allow_blank=True,
        help_text="Article slug, topic, UTM value, web/phone, or the first day of the week "
        "or month.",
    )
    label = serializers.CharField()
    article_views = SuppressedCountField()
    cta_views = SuppressedCountField()
    form_starts = SuppressedCountField()
    submissions = SuppressedCountField()
    leads = SuppressedCountField(help_text="Unique people (spam excluded).")
    contacted = SuppressedCountField()
    consult_booked = SuppressedCountField()
    consult_attended = SuppressedCountField()
    admitted = SuppressedCountField()
    screened = SuppressedCountField(
        help_text="People first screened (PHQ-9 or GAD-7): an admissions step beside the "
        "funnel, counted at its own time, under the same small-cell rules."
    )
    insurance_verified = SuppressedCountField(
        help_text="People whose benefits were first verified (in or out of network)."
    )
    waitlisted = SuppressedCountField(help_text="People first put on the waitlist.")
    rates = ReportRatesSerializer()
    first_contact = ReportFirstContactSerializer(
        help_text="Time to first contact, estimated from a histogram; null for fewer than "
        "REPORT_MIN_CELL leads."
    )
    contacted_within_target_share = serializers.FloatField(
        allow_null=True,
        help_text="Share of contacted leads reached by the end of the callback window "
        "promised at their first submission (the speed-to-lead target in clinic hours).",
    )
    first_conversation = ReportFirstConversationSerializer(
        allow_null=True,
        help_text="Time to first conversation, by the article of each person's first "
        "request (whatever the attribution), for people whose first request fell in the "
        "range. Only when grouped by article (null otherwise), and null for an article a "
        "submission made up (its people are in the row without an article). Never per "
        "person or per coordinator.",
    )


class FormFieldSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The form field's name, as in the events API.")
    label = serializers.CharField()


class FormAbandonmentRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Article slug.")
    label = serializers.CharField()
    counts = serializers.DictField(
        child=SuppressedCountField(),
        help_text="Per field name (every one of ``fields``): forms left unsent with this "
        "field touched last.",
    )


class FormAbandonmentSerializer(serializers.Serializer):
    fields = FormFieldSerializer(
        many=True, help_text="The columns: fields with a count in some row, in form order."
    )
    rows = FormAbandonmentRowSerializer(
        many=True,
        help_text="One per article with a count of at least min_cell (articles whose "
        "counts are all suppressed are left out); no total.",
    )


class ArticleReportOutputSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    group = serializers.CharField()
    attribution = serializers.CharField()
    article = serializers.CharField(allow_blank=True)
    min_cell = serializers.IntegerField(help_text="Counts below this (and above 0) are hidden.")
    noise = serializers.IntegerField(
        help_text="Counts of people are the true count plus a noise within +-noise (0: exact)."
    )
    rows = ReportRowSerializer(many=True)
    total = ReportRowSerializer()
    form_abandonment = FormAbandonmentSerializer(
        help_text="Started forms left unsent, per article and field last touched (counts "
        "of page views, exact, small ones suppressed; field names only, never values), "
        "over the same days and article filter whatever the grouping. Not in the CSV."
    )


class ArticleReportQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(
        required=False, help_text="First clinic day (default: 90 days before date_to)."
    )
    date_to = serializers.DateField(required=False, help_text="Last clinic day (default: today).")
    group = serializers.ChoiceField(choices=GROUPS, default="article")
    attribution = serializers.ChoiceField(
        choices=[("first", "First touch"), ("last", "Last touch")],
        default="first",
        help_text="first: everything a lead does counts for their first touch; last: each "
        "step counts for the latest submission before it.",
    )
    article = serializers.SlugField(
        max_length=200, required=False, allow_blank=True, help_text="Only this article."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        date_to = attrs.get("date_to") or clinic_day()
        date_from = attrs.get("date_from") or date_to - timedelta(days=89)
        if date_from > date_to:
            raise ValidationError({"date_from": ["Must be on or before date_to."]})
        if (date_to - date_from).days > 3 * 366:
            raise ValidationError({"date_from": ["At most three years at a time."]})
        attrs.update(date_from=date_from, date_to=date_to)
        return attrs


class ReportCsvRenderer(BaseRenderer):
    """``?format=csv``: one line per row and a total line, with the page's headings;
    number columns hold numbers only, a count not shown is empty and flagged beside it
    (``intake.report_table``)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        out = io.StringIO()
        writer = csv.writer(out)
        if not isinstance(data, dict) or "rows" not in data:  # an error body
            writer.writerow(["code", "message"])
            writer.writerow([(data or {}).get("code", ""), (data or {}).get("message", "")])
            return out.getvalue().encode()
        writer.writerow(csv_header(data.get("group", "article")))
        for row in [*data["rows"], data["total"]]:
            fields = csv_fields(row, min_cell=data.get("min_cell", 0))
            writer.writerow([_csv_cell(value) for value in fields])
        return out.getvalue().encode()


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells starting with these as formulas; UTM values come from URLs.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class ArticleReportApi(APIView):
    """``GET /api/v1/reports/articles/``: the conversion funnel per article (or topic,
    campaign, source, week, month), aggregates only, for marketing, supervisors and
    admins. ``?format=csv`` for a spreadsheet."""

    permission_classes = [roles.HasRole.of(*REPORT_ROLES)]
    renderer_classes = [JSONRenderer, ReportCsvRenderer]

    @extend_schema(
        operation_id="reports_articles",
        summary="Conversion funnel per article, campaign, source, week or month",
        parameters=[
            ArticleReportQuerySerializer,
            OpenApiParameter(
                "format",
                str,
                OpenApiParameter.QUERY,
                required=False,
                enum=["json", "csv"],
                description="csv: the same rows as text/csv, one line each plus a total.",
            ),
        ],
        responses={
            (200, "application/json"): ArticleReportOutputSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The dashboard table's columns with its headings (Key, the "
                "grouping, counts, rates, times in seconds). Number columns hold numbers "
                'only: a count not shown is empty and its "<heading> suppressed" column '
                'says why ("fewer than 5" or "withheld").',
            ),
            400: OpenApiResponse(ErrorSerializer, "Invalid query parameters."),
            403: OpenApiResponse(
                ErrorSerializer, "Not signed in, or not marketing, supervisor or admin."
            ),
            404: OpenApiResponse(ErrorSerializer, "A format other than json or csv."),
        },
        extensions=server_rules(
            date_from="On or before date_to (default: today), at most three years before it."
        ),
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        query = ArticleReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        report = article_funnel_report(
            date_from=data["date_from"],
            date_to=data["date_to"],
            group=data["group"],
            attribution=data["attribution"],
            article_slug=data.get("article", ""),
        )
        report["form_abandonment"] = form_abandonment_report(
            date_from=data["date_from"],
            date_to=data["date_to"],
            article_slug=data.get("article", ""),
        )
        response = Response(ArticleReportOutputSerializer(report).data)
        if getattr(request.accepted_renderer, "format", "") == "csv":
            name = f"funnel-{data['group']}-{data['date_from']}-{data['date_to']}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "private, no-store"
        return response

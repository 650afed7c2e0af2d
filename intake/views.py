"""Public pages: the article with its call to action, and the no-JavaScript form;
and marketing's reports dashboard."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clinic.errors import ApplicationError
from clinic.roles import ADMIN, MARKETING, SUPERVISOR, role_required
from intake.apis.leads import (
    LeadSubmitInputSerializer,
    submission_next_contact,
)
from intake.apis.reports import ArticleReportQuerySerializer
from intake.consent import consent_text
from intake.crisis import crisis_resources
from intake.form_origin import FORM_FIELD, form_post_origin, form_token
from intake.models import Article, Lead, payer_choices
from intake.report_charts import (
    FUNNEL_STAGES,
    TREND_SERIES,
    funnel_bars,
    funnel_height,
    trend_bars,
)
from intake.report_table import (
    COLUMNS,
    DEFAULT_COLUMNS,
    GROUP_LABELS,
    abandonment_row,
    chosen_columns,
    table_row,
)
from intake.reports import GROUPS, article_choices, article_funnel_report, form_abandonment_report
from intake.selectors import article_get_listed, article_list_listed, cta_config
from intake.services import submission_check, submission_store
from intake.throttles import client_ip, limits_hit, request_limits

logger = logging.getLogger(__name__)

# Where the bot-check widgets put their token in a plain form post.
_CAPTCHA_FORM_FIELDS = ("captcha_token", "cf-turnstile-response", "h-captcha-response")

_URL = re.compile(r"^https?://\S+$")


@dataclass(frozen=True)
class Block:
    kind: str  # "heading", "paragraph" or "link"
    text: str


def article_blocks(article: Article) -> list[Block]:
    """Split an article's plain-text body into headings, paragraphs and links."""
    blocks = []
    for chunk in re.split(r"\n\s*\n", article.body):
        text = " ".join(chunk.split())
        if not text:
            continue
        if _URL.match(text):
            blocks.append(Block("link", text))
        elif len(text) < 90 and not text.endswith((".", "?", "!", '"', "”")):
            blocks.append(Block("heading", text.rstrip(":")))
        else:
            blocks.append(Block("paragraph", text))
    return blocks


def _cta_context(article: Article, *, errors: dict | None = None, values: dict | None = None):
    return {
        "article": article,
        "consent": consent_text(),
        "channels": Lead.Channel.choices,
        "best_times": Lead.BestTime.choices,
        "interests": cta_config()["interests"],
        "payers": payer_choices(),
        "errors": errors or {},
        "values": values or {},
        "form_token_field": FORM_FIELD,
        "form_token": form_token(article_slug=article.slug),
    }


@require_GET
def article_index(request: HttpRequest) -> HttpResponse:
    return render(request, "intake/article_index.html", {"articles": article_list_listed()})


@require_GET
def article_detail(request: HttpRequest, slug: str) -> HttpResponse:
    article = article_get_listed(slug=slug)
    if article is None:
        raise Http404("No such article")
    context = _cta_context(article)
    context["blocks"] = article_blocks(article)
    return render(request, "intake/article_detail.html", context)


# The form is public and carries no session: there is no ambient authority for a
# forged request to use, and an article embedded on the clinic's other sites could
# not send our CSRF token anyway. Where the post comes from is checked instead
# (intake.form_origin): no other site can make its visitors submit.
@csrf_exempt
@require_POST
def article_request(request: HttpRequest, slug: str) -> HttpResponse:
    """The call-to-action form posted without JavaScript; same rules as the API."""
    article = article_get_listed(slug=slug)
    if article is None:
        raise Http404("No such article")
    origin = form_post_origin(request, article_slug=article.slug)
    if not origin.allowed:
        logger.info("intake.cta_form_refused", extra={"reason": origin.reason})
        return render(request, "intake/request_refused.html", {"article": article}, status=403)
    waits = [verdict.wait for verdict in limits_hit(request_limits(request)) if not verdict.allowed]
    if waits:
        return _throttled(request, article, max(waits))
    data = request.POST.dict()
    data["article"] = slug
    # Checkboxes: absent means unticked.
    for box in ("sms_consent", "in_crisis"):
        data[box] = box in request.POST
    data["contact_preferences"] = {
        "voicemail_ok": "voicemail_ok" in request.POST,
        "mention_clinic_ok": "mention_clinic_ok" in request.POST,
    }
    data["captcha_token"] = next(
        (request.POST[name] for name in _CAPTCHA_FORM_FIELDS if request.POST.get(name)), ""
    )
    data["page_url"] = request.build_absolute_uri(article_path(article))
    data["referrer"] = request.headers.get("Referer", "")[:2000]
    serializer = LeadSubmitInputSerializer(data=data)
    if not serializer.is_valid():
        context = _cta_context(article, errors=serializer.errors, values=data)
        context["blocks"] = article_blocks(article)
        return render(request, "intake/article_detail.html", context, status=400)
    try:
        checked = submission_check(
            data=serializer.validated_data,
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
        outcome = submission_store(request=checked)
    except ApplicationError as error:
        context = _cta_context(article, errors=error.fields or {}, values=data)
        context["blocks"] = article_blocks(article)
        return render(request, "intake/article_detail.html", context, status=error.status_code)
    submission = outcome.submission
    return render(
        request,
        "intake/request_received.html",
        {
            "article": article,
            "submission": submission,
            "next_contact": submission_next_contact(submission),
            "crisis_resources": crisis_resources() if submission.is_crisis else [],
        },
        status=201,
    )


def _throttled(request: HttpRequest, article: Article, wait: float | None) -> HttpResponse:
    response = render(request, "intake/request_throttled.html", {"article": article}, status=429)
    response["Retry-After"] = str(int(wait or 60))
    return response


def article_path(article: Article) -> str:
    return f"/articles/{article.slug}/"


@require_GET
@role_required(MARKETING, SUPERVISOR, ADMIN)
def reports_dashboard(request: HttpRequest) -> HttpResponse:
    """Marketing's dashboard: the funnel, a weekly trend, a sortable table, CSV export,
    and where started forms were left. Aggregates only (``intake.reports``), suppressed
    like the API."""
    query = ArticleReportQuerySerializer(data=request.GET)
    if not query.is_valid():
        query = ArticleReportQuerySerializer(data={})
        query.is_valid(raise_exception=True)
        messages.error(request, "Some filters were not valid; showing the last 90 days.")
    params = query.validated_data
    report = article_funnel_report(
        date_from=params["date_from"],
        date_to=params["date_to"],
        group=params["group"],
        attribution=params["attribution"],
        article_slug=params.get("article", ""),
    )
    trend = article_funnel_report(
        date_from=params["date_from"],
        date_to=params["date_to"],
        group="week",
        attribution=params["attribution"],
        article_slug=params.get("article", ""),
    )
    abandonment = form_abandonment_report(
        date_from=params["date_from"],
        date_to=params["date_to"],
        article_slug=params.get("article", ""),
    )
    filters = {
        "date_from": params["date_from"].isoformat(),
        "date_to": params["date_to"].isoformat(),
        "group": params["group"],
        "attribution": params["attribution"],
        "article": params.get("article", ""),
    }
    query_string = urlencode(filters)
    # The table's columns: the default set, or the chooser's without JavaScript (with
    # it, reports.js applies the choice the browser remembers).
    chosen, chose = chosen_columns(request.GET)
    funnel = funnel_bars(report["total"], min_cell=report["min_cell"])
    response = render(
        request,
        "intake/reports_dashboard.html",
        {
            "report": report,
            "params": params,
            "groups": [(group, GROUP_LABELS[group]) for group in GROUPS],
            "articles": article_choices(),
            "funnel": funnel,
            "funnel_height": funnel_height(funnel),
            "funnel_stages": [label for _name, label in FUNNEL_STAGES],
            "trend": trend_bars(trend["rows"]),
            "trend_series": [label for _name, label in TREND_SERIES],
            "csv_url": f"/api/v1/reports/articles/?{query_string}&format=csv",
            "group_label": GROUP_LABELS[params["group"]],
            "filters": filters,
            "table_columns": [
                {
                    "name": column.name,
                    "label": column.label,
                    "shown": column.name in chosen,
                    "default": column.name in DEFAULT_COLUMNS,
                }
                for column in COLUMNS
            ],
            "chosen_columns": chosen,
            "columns_chosen_in_query": chose,
            "table_rows": [table_row(row, chosen=chosen) for row in report["rows"]],
            "table_total": table_row(report["total"], chosen=chosen),
            "abandonment": abandonment,
            "abandonment_rows": [abandonment_row(row) for row in abandonment["rows"]],
        },
    )
    response["Cache-Control"] = "private, no-store"
    return response

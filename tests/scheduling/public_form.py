"""The public form as a stranger's browser sends it, with the worker's part run after
each POST (the test's transaction never commits): for the tests of what a form may
and may not do to a known person (refusals, consent to texts)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from intake.models import Submission
from tests.factories import ArticleFactory

URL = "/api/v1/leads/"
ARTICLE = "science-behind-antidepressants"
PHONE = "+12025550143"
EMAIL = "maria.lopez@example.org"


def form_body(**overrides: Any) -> dict[str, Any]:
    """Maria's request, with ``overrides`` (a value of None leaves the field out)."""
    values = {
        "first_name": "Maria",
        "phone": PHONE,
        "email": EMAIL,
        "sms_consent": True,
        "article": ARTICLE,
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def form_poster(api_client: Any, capture: Any) -> Callable[..., tuple[Any, Submission]]:
    """A function that POSTs the form from a fresh address (past the per-address limits)
    and runs the worker; it returns the response and the stored submission."""
    ArticleFactory(slug=ARTICLE)
    addresses = itertools.count(1)

    def post(**overrides: Any) -> tuple[Any, Submission]:
        with capture(execute=True):
            response = api_client.post(
                URL,
                form_body(**overrides),
                format="json",
                REMOTE_ADDR=f"198.51.100.{next(addresses)}",
            )
        assert response.status_code == 201, response.content
        return response, Submission.objects.get(reference=response.json()["reference"])

    return post

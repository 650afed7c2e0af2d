"""Test data, made through the real service functions where a service exists."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from phonenumber_field.phonenumber import to_python

from intake.models import Article
from intake.services import lead_submit, submission_attach


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"article-{n}")
    title = factory.Sequence(lambda n: f"Article {n}")
    body = "A paragraph long enough to be a paragraph and not a heading, ending in a stop."


_counter = iter(range(10_000, 99_999))


def submit_lead(**overrides: Any):
    """A submission through ``intake.services.lead_submit``, with sensible defaults,
    attached to its lead as the worker would (``submission_attach``; routing it
    queues the callback and confirmations)."""
    number = next(_counter)
    values: dict[str, Any] = {
        "first_name": "Maria",
        "phone": to_python(f"+1202555{number % 10000:04d}"),
        "email": f"maria{number}@example.org",
        "sms_consent": True,
        "article_slug": "science-behind-antidepressants",
        "ip_address": "203.0.113.9",
        "user_agent": "pytest",
    }
    values.update(overrides)
    if isinstance(values.get("phone"), str):
        values["phone"] = to_python(values["phone"])
    slug = values.get("article_slug")
    if slug:
        ArticleFactory(slug=slug)
    submission = lead_submit(**values).submission
    submission.refresh_from_db()  # outside a test transaction the worker already ran
    with transaction.atomic():
        submission_attach(submission=submission)
    return submission

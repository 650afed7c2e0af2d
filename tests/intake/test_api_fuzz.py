"""Property-based fuzzing of the public API from its own OpenAPI schema (schemathesis).

More than 1,000 generated requests, valid and invalid, against the WSGI application:
none may answer 5xx, and every answer must match the documented schema (the error
shape included). Deterministic (derandomized) so that CI is reproducible; for a
longer, random hunt: ``FUZZ_EXAMPLES=5000 FUZZ_RANDOM=1 pytest tests/intake/test_api_fuzz.py``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1150"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))
CHECKS = [not_a_server_error, response_schema_conformance]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.fixture
def schema(settings) -> Iterator[schemathesis.BaseSchema]:
    # The schema as a stranger would read it where the docs are public.
    settings.API_DOCS_PUBLIC = True
    # Fuzzing is not abuse: lift the throttles (429 is documented and checked elsewhere).
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            scope: "1000000/hour" for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        },
    }
    # Requests go straight to the WSGI app inside the test's transaction, as Django's
    # test client does: connections must not be recycled between requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fuzz(strategy: st.SearchStrategy, *, examples: int) -> Counter[str]:
    calls: Counter[str] = Counter()

    @given(case=strategy)
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call()
        calls[f"{case.method} {case.path} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS)

    run()
    return calls


def _strategies(schema: schemathesis.BaseSchema, path: str, method: str) -> list:
    operation = schema[path][method]
    return [operation.as_strategy(generation_mode=mode) for mode in MODES]


# Random strings are almost never a valid phone number, time zone or consent version:
# these cases take the schema's generated body and give it values that pass, so the
# whole storage path (lead, submission, consent, idempotency) is fuzzed too.
PHONES = ["+12025550143", "(202) 555-0181", "+44 20 7183 8750", "+33 6 12 34 56 78", "+19005551234"]
EMAILS = ["", "maria@example.org", "Ana.Lopez@Example.COM"]
TIME_ZONES = ["", "America/New_York", "Europe/Madrid"]
KEYS = [None, "fuzz-key-1", "fuzz-key-2"]


def _realistic(case: schemathesis.Case, phone: str, email: str, tz: str, key: str | None):
    if isinstance(case.body, dict):
        case.body.update(phone=phone, email=email)
        for name, value in (("timezone", tz), ("consent_version", ""), ("interest", "anxiety")):
            if name in case.body:
                case.body[name] = value
    case.headers = {name: value for name, value in (case.headers or {}).items()}
    case.headers.pop("Idempotency-Key", None)
    if key:
        case.headers["Idempotency-Key"] = key
    return case


def _realistic_leads(schema: schemathesis.BaseSchema) -> st.SearchStrategy:
    return st.builds(
        _realistic,
        schema["/api/v1/leads/"]["POST"].as_strategy(),
        st.sampled_from(PHONES),
        st.sampled_from(EMAILS),
        st.sampled_from(TIME_ZONES),
        st.sampled_from(KEYS),
    )


def test_no_generated_lead_or_event_request_gets_a_server_error_or_breaks_the_schema(schema):
    strategy = st.one_of(
        *_strategies(schema, "/api/v1/leads/", "POST"),
        _realistic_leads(schema),
        *_strategies(schema, "/api/v1/events/", "POST"),
    )

    calls = fuzz(strategy, examples=EXAMPLES)

    total = sum(calls.values())
    assert total >= 1000, calls
    statuses = {key.rsplit(" ", 1)[1] for key in calls}
    # Both valid and invalid requests were tried, on both endpoints.
    assert {"201", "204", "400"} <= statuses, calls
    assert sum(n for key, n in calls.items() if "/leads/" in key) >= 400, calls
    assert sum(n for key, n in calls.items() if "/events/" in key) >= 400, calls


def test_no_generated_cta_config_request_gets_a_server_error_or_breaks_the_schema(schema):
    calls = fuzz(st.one_of(*_strategies(schema, "/api/v1/cta/", "GET")), examples=100)

    assert sum(calls.values()) >= 100

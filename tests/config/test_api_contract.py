"""The OpenAPI document says what the server does (issue 22, item 7).

schemathesis runs every check it has (``--checks all``: status codes, content types,
response schemas and headers, valid data accepted, invalid data refused, allowed
methods, authentication ignored...) in its examples, coverage and fuzzing phases
against a real server over HTTP, as a stranger and as a signed-in coordinator, and
finds nothing. The one excuse it is given is the schema's own: a 400 naming only fields
whose rules the operation documents under x-server-rules (tests/config/api_contract_rules.py).

Bounded and deterministic for CI; for a longer hunt against a running server:
``SCHEMATHESIS_HOOKS=tests.config.api_contract_hooks schemathesis run
http://127.0.0.1:8000/api/schema/?format=json --checks all -n 100``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.test import Client
from schemathesis.config import HealthCheck, SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from tests.config import api_contract_rules
from tests.signin import verified_login

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "5"))
# A fixed CSRF token, sent as both the cookie and the header a browser's script sends.
CSRF_TOKEN = "contractcontractcontractcontract"


@dataclass
class Run:
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    excused: int = 0


@pytest.fixture
def server(live_server, settings):
    # The schema as a stranger reads it where the docs are public.
    settings.API_DOCS_PUBLIC = True
    # Generated requests are not abuse: lift the throttles (their 429s are documented).
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            scope: "1000000/hour" for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        },
    }
    return live_server


ALL_PHASES = ["examples", "coverage", "fuzzing"]


def _public(operation: Any) -> bool:
    return not operation.definition.raw.get("security")


def contract_run(
    base_url: str, headers: dict[str, str], *, public: bool, phases: list[str] = ALL_PHASES
) -> Run:
    """schemathesis with every check on the public operations (``public``) or the staff
    ones, as the CLI runs it; failures the schema does not explain are returned."""
    config = SchemathesisConfig()
    config.update(suppress_health_check=[HealthCheck.all], max_failures=None)
    project = config.projects.override
    project.update(headers=headers, workers=1)
    project.phases.update(phases=phases)
    project.checks.update(included_check_names=["all"])
    project.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")
    schema = schemathesis.openapi.from_url(
        f"{base_url}/api/schema/?format=json", config=config, headers=headers
    )
    schema = schema.include(lambda context: _public(context.operation) == public)
    schema.hook(api_contract_rules.filter_failure)

    run = Run()
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError | events.NonFatalError):
            run.failures.append(f"{type(event).__name__}: {getattr(event, 'label', '')}")
        elif isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            run.cases += len(recorder.cases)
            run.excused += sum(recorder.filtered_failures.values())
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    run.statuses[str(interaction.response.status_code)] += 1
            for checks in recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        run.failures.append(f"{recorder.label}: {failure.title} {failure.message}")
    return run


def test_a_stranger_finds_no_difference_between_the_schema_and_the_server(server):
    public = contract_run(server.url, {}, public=True)
    # The staff operations only refuse a stranger: their coverage phase would send
    # hundreds of variants to the same 403, so they get examples and fuzzing.
    staff = contract_run(server.url, {}, public=False, phases=["examples", "fuzzing"])

    assert public.failures + staff.failures == []
    assert public.cases >= 300, public
    assert {"200", "204", "400", "415"} <= set(public.statuses), public.statuses
    assert staff.cases >= 40, staff
    # Refused, or (an id that is not a number: no such path) not found; nothing more.
    assert "403" in staff.statuses and set(staff.statuses) <= {"403", "404"}, staff.statuses


def test_a_coordinator_finds_no_difference_between_the_schema_and_the_server(server, coordinator):
    client = Client()
    verified_login(client, coordinator)
    session = client.cookies["sessionid"].value
    headers = {
        "Cookie": f"sessionid={session}; csrftoken={CSRF_TOKEN}",
        "X-CSRFToken": CSRF_TOKEN,
    }

    run = contract_run(server.url, headers, public=False)

    assert run.failures == []
    assert run.cases >= 300, run
    # Signed in: the staff operations answer (200s), not only refuse.
    assert {"200", "400", "404"} <= set(run.statuses), run.statuses

"""Which schemathesis failures the API's own schema explains (shared by the contract
test and the CLI's hooks, tests/config/api_contract_hooks.py).

One only: a schema-valid request answered 400 in the error shape whose field errors all
name fields the operation documents under ``x-server-rules`` (clinic.openapi): a rule
between fields, against stored data or a library's judgement, that OpenAPI 3 cannot
state ("end after start", "an existing lead", "a valid phone number"). Any other 400 to
valid data, a 400 without field errors, or one naming an undocumented field stays a
failure, and so does every failure of every other check.
"""

from __future__ import annotations

from typing import Any

from schemathesis.openapi.checks import RejectedPositiveData

from clinic.openapi import RULES


def documented_server_rule(failure: Any, case: Any, response: Any) -> bool:
    """True when ``failure`` is a 400 that the operation's x-server-rules explain."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return False
    rules = case.operation.definition.raw.get(RULES) or {}
    try:
        body = response.json()
    except ValueError:
        return False
    fields = body.get("fields") if isinstance(body, dict) else None
    return bool(fields) and set(fields) <= set(rules)


def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """schemathesis's ``filter_failure`` hook: keep every failure but those above."""
    return not documented_server_rule(failure, case, response)

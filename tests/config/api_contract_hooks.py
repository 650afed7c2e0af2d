"""The contract's one excuse (tests/config/api_contract_rules.py) for the CLI:

    SCHEMATHESIS_HOOKS=tests.config.api_contract_hooks \
        schemathesis run http://127.0.0.1:8000/api/schema/?format=json --checks all
"""

from __future__ import annotations

import os

import django
import schemathesis

# The rules' name comes from clinic.openapi, which needs Django's settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from tests.config import api_contract_rules  # noqa: E402 (after django.setup())

schemathesis.hook(api_contract_rules.filter_failure)

"""X-Forwarded-For is believed only from our own proxies (TRUSTED_PROXIES), never
counted hops (issue 20, item 8). A client that writes its own X-Forwarded-For, to the
app directly or through the proxy, cannot choose the address that the throttles, the
sign-in lockout and the audit trail see."""

from __future__ import annotations

import pytest
from django.test import Client

from clinic.proxies import client_address
from intake.models import Submission
from tests.clinic.test_signin import PASSWORD, sign_in, staff
from tests.config.test_settings import PRODUCTION_ENV, SETUP, run_python
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
ATTACKER = "203.0.113.9"
URL = "/api/v1/leads/"
BODY = {"first_name": "Maria", "email": "maria@example.org", "article": "an-article"}


@pytest.fixture(autouse=True)
def behind_a_proxy(settings):
    """The proxy is trusted. DRF's hop count (NUM_PROXIES, how older code found the
    client) is set too: it must play no part."""
    settings.TRUSTED_PROXIES = [f"{PROXY}/32", "2001:db8:f::/48"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}


def meta(remote: str, forwarded: str | None = None) -> dict[str, str]:
    values = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        values["HTTP_X_FORWARDED_FOR"] = forwarded
    return values


# --- Who the client is ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        # Straight to the app: its own header counts for nothing.
        (ATTACKER, "198.51.100.1", ATTACKER),
        (ATTACKER, f"{PROXY}, 198.51.100.1", ATTACKER),
        # Through the proxy: the right-most entry that is not a proxy.
        (PROXY, "198.51.100.23", "198.51.100.23"),
        (PROXY, "6.6.6.6, 198.51.100.23", "198.51.100.23"),
        (PROXY, f"6.6.6.6, 198.51.100.23, {PROXY}", "198.51.100.23"),
        (PROXY, "6.6.6.6,198.51.100.23", "198.51.100.23"),
        # A proxy that forwarded nothing, or only proxies: the left-most proxy.
        (PROXY, None, PROXY),
        (PROXY, "", PROXY),
        (PROXY, f" {PROXY} ", PROXY),
        # Garbage a client wrote left of the real entry is never reached...
        (PROXY, "not-an-address, 198.51.100.23", "198.51.100.23"),
        # ...and garbage at the edge leaves the proxy that reported it.
        (PROXY, "198.51.100.23, unknown", PROXY),
        # Ports, brackets, IPv6 and IPv4 mapped into IPv6.
        (PROXY, "198.51.100.23:51234", "198.51.100.23"),
        (PROXY, "[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8:f::1", "2001:db8::7", "2001:db8::7"),
        ("::ffff:10.0.0.2", "198.51.100.23", "198.51.100.23"),
        ("", "198.51.100.23", None),
    ],
)
def test_the_client_is_the_right_most_address_our_proxies_vouch_for(remote, forwarded, client):
    assert client_address(meta(remote, forwarded)) == client


# --- The attacks ------------------------------------------------------------------------


def _limit(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "lead_submit_ip": rate,
        },
    }


def test_a_client_reaching_the_app_directly_cannot_dodge_the_ip_limit_with_its_own_header(
    api_client, settings
):
    _limit(settings, "2/hour")
    answers = [
        api_client.post(URL, BODY, format="json", **meta(ATTACKER, f"198.51.100.{n}")).status_code
        for n in range(4)
    ]

    assert answers == [201, 201, 429, 429]


def test_a_client_behind_the_proxy_cannot_dodge_the_ip_limit_with_a_forged_prefix(
    api_client, settings
):
    _limit(settings, "2/hour")
    answers = [
        api_client.post(
            URL, BODY, format="json", **meta(PROXY, f"198.51.100.{n}, {ATTACKER}")
        ).status_code
        for n in range(4)
    ]

    assert answers == [201, 201, 429, 429]
    assert {s.ip_address for s in Submission.objects.all()} == {ATTACKER}


def test_a_chain_of_our_own_proxies_still_finds_the_client(api_client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    api_client.post(URL, BODY, format="json", **meta("10.0.0.3", f"6.6.6.6, {ATTACKER}, {PROXY}"))

    assert Submission.objects.get().ip_address == ATTACKER


def test_a_password_guesser_cannot_escape_the_lockout_by_rotating_its_header(db):
    staff("casey")
    guesser = Client()
    for n in range(5):
        sign_in(guesser, "casey", "wrong password", **meta(ATTACKER, f"198.51.100.{n}"))

    assert sign_in(guesser, "casey", **meta(ATTACKER, "198.51.100.99")).status_code == 429
    # Casey, elsewhere, is not locked out by the guesser.
    assert sign_in(Client(), "casey", PASSWORD, **meta(PROXY, "192.0.2.44")).status_code == 302


def test_a_password_guesser_cannot_lock_out_someone_elses_address_with_a_forged_header(db):
    staff("casey")
    guesser = Client()
    for _ in range(5):
        sign_in(guesser, "casey", "wrong password", **meta(ATTACKER, "192.0.2.44"))

    # The clinic's own address (through the proxy) was never the guesser's to spend.
    assert sign_in(Client(), "casey", PASSWORD, **meta(PROXY, "192.0.2.44")).status_code == 302


def test_the_audit_trail_records_the_address_the_proxy_saw_not_the_one_claimed(coordinator):
    from intake.models import LeadEvent

    submission = submit_lead(first_name="Maria", phone="+12025550111")
    client = Client(**meta(PROXY, f"6.6.6.6, {ATTACKER}"))
    verified_login(client, coordinator)

    client.get(f"/api/v1/leads/{submission.reference}/")

    [read] = LeadEvent.objects.filter(pgh_obj_id=submission.lead_id, pgh_label="lead.read")
    assert read.pgh_context["ip"] == ATTACKER


# --- Configuration ------------------------------------------------------------------------


def test_num_proxies_is_refused_with_a_pointer_to_trusted_proxies():
    result = run_python(SETUP, {**PRODUCTION_ENV, "NUM_PROXIES": "1"})

    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "NUM_PROXIES" in last and "TRUSTED_PROXIES" in last


def test_a_trusted_proxy_that_is_not_an_address_is_refused():
    result = run_python(SETUP, {**PRODUCTION_ENV, "TRUSTED_PROXIES": "10.0.0.0/8,the-proxy"})

    assert result.returncode != 0
    assert "TRUSTED_PROXIES" in result.stderr.strip().splitlines()[-1]


def test_trusted_proxies_accept_addresses_and_networks_of_both_families():
    result = run_python(
        SETUP + "; from django.conf import settings; print(settings.TRUSTED_PROXIES)",
        {**PRODUCTION_ENV, "TRUSTED_PROXIES": "172.30.0.0/24,10.0.0.2,fd00::/8"},
    )

    assert result.returncode == 0, result.stderr
    assert "172.30.0.0/24" in result.stdout

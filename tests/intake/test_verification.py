"""Which of a lead's details are the person's: only the person (answering on the
number) or a coordinator who spoke with them can say; a form never can (issue 20,
item 4)."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from intake.models import Lead
from intake.services import lead_details_confirm, lead_details_verify
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


def test_a_form_naming_a_verified_number_verifies_none_of_its_other_details():
    first = submit_lead(first_name="Maria", phone="+12025550143", email="")
    lead_details_verify(lead_id=first.lead_id, phone=True, by=Lead.Verification.CALL)

    later = submit_lead(first_name="Mariana", phone="+12025550143", email="new@example.org")

    lead = Lead.objects.get(pk=first.lead_id)
    assert later.lead_id == lead.pk
    assert (lead.first_name, lead.email) == ("Maria", "")
    assert lead.email_verified_at is None and lead.name_confirmed_at is None


@pytest.mark.parametrize("by", [Lead.Verification.CALL, Lead.Verification.SMS_REPLY])
def test_an_email_or_a_name_is_never_proven_by_a_call_or_a_text(by):
    submission = submit_lead()

    with pytest.raises(ValueError, match="coordinator"):
        lead_details_verify(lead_id=submission.lead_id, email=True, by=by)
    with pytest.raises(ValueError, match="coordinator"):
        lead_details_verify(lead_id=submission.lead_id, name=True, by=by)

    lead = Lead.objects.get(pk=submission.lead_id)
    assert lead.email_verified_at is None and lead.name_confirmed_at is None


def test_the_first_proof_of_a_detail_is_kept():
    submission = submit_lead()
    lead_details_verify(lead_id=submission.lead_id, phone=True, by=Lead.Verification.CALL)
    first = Lead.objects.get(pk=submission.lead_id).phone_verified_at

    with time_machine.travel(timezone.now() + timezone.timedelta(hours=1)):
        lead_details_verify(lead_id=submission.lead_id, phone=True, by=Lead.Verification.SMS_REPLY)

    lead = Lead.objects.get(pk=submission.lead_id)
    assert (lead.phone_verified_at, lead.phone_verified_by) == (first, Lead.Verification.CALL)


def test_a_lead_without_an_email_has_no_email_to_verify():
    submission = submit_lead(email="")

    lead_details_verify(lead_id=submission.lead_id, email=True, by=Lead.Verification.COORDINATOR)

    assert Lead.objects.get(pk=submission.lead_id).email_verified_at is None


def test_confirming_a_requests_details_verifies_exactly_what_it_gave():
    first = submit_lead(first_name="Maria", phone="+12025550143", email="maria@example.org")
    later = submit_lead(first_name="Maria", phone=None, email="maria@example.org")

    lead_details_confirm(lead_id=first.lead_id, submission_id=later.pk)

    lead = Lead.objects.get(pk=first.lead_id)
    assert lead.email_verified_by == Lead.Verification.COORDINATOR
    assert lead.name_confirmed_at is not None
    assert lead.phone_verified_at is None  # that request gave no number to confirm


def test_a_number_an_admin_types_in_is_not_verified(rf, django_user_model):
    from django.contrib import admin
    from django.forms.models import model_to_dict

    submission = submit_lead(first_name="Maria", phone="+12025550143")
    lead_details_verify(
        lead_id=submission.lead_id,
        phone=True,
        email=True,
        name=True,
        by=Lead.Verification.COORDINATOR,
    )
    lead = Lead.objects.get(pk=submission.lead_id)
    lead_admin = admin.site._registry[Lead]
    request = rf.post("/")
    request.user = django_user_model.objects.create(username="root", is_superuser=True)
    data = {
        name: value
        for name, value in model_to_dict(lead).items()
        if value is not None and name in lead_admin.get_form(request, lead).base_fields
    }
    form = lead_admin.get_form(request, lead)(data={**data, "phone": "+12025550199"}, instance=lead)
    assert form.is_valid(), form.errors

    lead_admin.save_model(request, form.save(commit=False), form, change=True)

    lead = Lead.objects.get(pk=lead.pk)
    assert str(lead.phone) == "+12025550199"
    assert (lead.phone_verified_at, lead.phone_verified_by) == (None, "")
    assert lead.email_verified_at is not None and lead.name_confirmed_at is not None

"""The forms staff edit in the admin: every field explains itself, and choices stay in scope."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from sessions_app.models import Organization
from tests import factories
from tests.admin_scenarios import reconnected_phone, staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

EDITED_BY_STAFF = [
    "admin:sessions_app_organization",
    "admin:sessions_app_whatsappsession",
    "admin:sessions_app_whatsappgroup",
    "admin:scheduling_workshop",
    "admin:scheduling_webinar",
    "admin:scheduling_notificationcampaign",
]


def editable_fields_without_help(response) -> list[str]:
    missing = []
    forms = [response.context["adminform"].form]
    forms += [inline.formset.empty_form for inline in response.context["inline_admin_formsets"]]
    for form in forms:
        for name, form_field in form.fields.items():
            if form_field.widget.is_hidden or name in ("DELETE", "id"):
                continue
            if not form_field.help_text:
                missing.append(f"{type(form).__name__}.{name}")
    return missing


@pytest.mark.parametrize("url_prefix", EDITED_BY_STAFF)
def test_every_field_staff_edit_has_a_help_text(admin_client, url_prefix):
    scene = reconnected_phone()
    add_page = admin_client.get(reverse(f"{url_prefix}_add"))
    assert add_page.status_code == HTTPStatus.OK
    assert editable_fields_without_help(add_page) == []
    rows = {
        "admin:sessions_app_organization": scene.organization,
        "admin:sessions_app_whatsappsession": scene.old,
        "admin:sessions_app_whatsappgroup": scene.groups[0],
        "admin:scheduling_workshop": scene.workshops[0],
        "admin:scheduling_webinar": scene.webinars[0],
        "admin:scheduling_notificationcampaign": scene.campaigns[0],
    }
    change_page = admin_client.get(reverse(f"{url_prefix}_change", args=[rows[url_prefix].pk]))
    assert change_page.status_code == HTTPStatus.OK
    assert editable_fields_without_help(change_page) == []


def test_status_phone_and_times_of_a_session_are_only_set_by_the_gateway(admin_client):
    scene = reconnected_phone()
    page = admin_client.get(
        reverse("admin:sessions_app_whatsappsession_change", args=[scene.old.pk])
    )
    assert set(page.context["adminform"].form.fields) == set()


def test_a_community_session_must_belong_to_the_organization(admin_client):
    ours = reconnected_phone()
    theirs = reconnected_phone(phone_number="+5511933332222")
    response = admin_client.post(
        reverse("admin:sessions_app_organization_change", args=[ours.organization.pk]),
        {
            "name": ours.organization.name,
            "community_session": str(theirs.new.pk),
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == HTTPStatus.OK
    assert "community_session" in response.context["adminform"].form.errors
    assert Organization.objects.get(pk=ours.organization.pk).community_session == ours.old


def test_only_superusers_add_organizations(client):
    organization = factories.OrganizationFactory()
    user = staff_member(organization, permissions=["sessions_app.add_organization"])
    client.force_login(user)
    response = client.get(reverse("admin:sessions_app_organization_add"))
    assert response.status_code == HTTPStatus.FORBIDDEN

"""Lists filtered by a row on their path to the organization, as the links of a session's page
filter them: an id (or ids) is allowed at each step, a field of the row beyond it is not."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from tests import factories
from tests.admin_scenarios import staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

MESSAGES = "admin:scheduling_scheduledwhatsappmessage_changelist"
GROUPS = "admin:sessions_app_whatsappgroup_changelist"


def listed(client, url_name, **params):
    response = client.get(reverse(url_name), params)
    assert response.status_code == HTTPStatus.OK, response.content.decode()[:500]
    return {str(row.pk) for row in response.context["cl"].result_list}


@pytest.mark.parametrize(
    "lookup",
    [
        "group__id__exact",
        "group__session__id__exact",
        "group__session__organization__id__exact",
        "group__session__id__in",
        "group__session__organization__exact",
    ],
)
def test_messages_by_a_row_on_their_path_to_the_organization(client, lookup):
    first, second = factories.ScheduledWhatsAppMessageFactory.create_batch(2)
    organizations = [m.group.session.organization for m in (first, second)]
    client.force_login(staff_member(*organizations))
    row = {
        "group": first.group,
        "group__session": first.group.session,
        "group__session__organization": organizations[0],
    }[lookup.removesuffix("__exact").removesuffix("__in").removesuffix("__id")]

    assert listed(client, MESSAGES, **{lookup: str(row.pk)}) == {str(first.pk)}


def test_groups_by_their_session_and_its_organization(client):
    first, second = factories.WhatsAppGroupFactory.create_batch(2)
    organizations = [g.session.organization for g in (first, second)]
    client.force_login(staff_member(*organizations))

    assert listed(client, GROUPS, session__id__exact=str(first.session_id)) == {str(first.pk)}
    assert listed(client, GROUPS, session__organization__id__exact=str(organizations[1].pk)) == {
        str(second.pk)
    }


def test_a_field_of_a_row_on_the_path_is_refused(client):
    message = factories.ScheduledWhatsAppMessageFactory()
    client.force_login(staff_member(message.group.session.organization))

    response = client.get(reverse(MESSAGES), {"group__session__phone_number__startswith": "+55"})

    assert response.status_code == HTTPStatus.BAD_REQUEST

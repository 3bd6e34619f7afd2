"""The whole pairing over HTTP: the admin starts the session on the fake WAHA, the fake "scans"
and posts its signed report to the live server's webhook, and the admin's status shows what
moved (or, for another phone, that nothing did)."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.models import SessionMigration, WhatsAppSession
from tests import factories
from tests.admin_scenarios import staff_member
from tests.pairing_scenarios import (
    MOVED_WITH_A_RESYNCED_GROUP,
    PAIRING_PERMISSIONS,
    dropped_phone,
    fake_waha,
    resync_a_group,
    session_url,
    use_fake_waha,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

PHONE = "+5511987654321"
OTHER_PHONE = "+5521998765432"


@pytest.fixture
def waha(settings, live_server):
    with fake_waha() as server:
        use_fake_waha(settings, server, webhook_url=f"{live_server.url}/webhooks/whatsapp/")
        yield server


@pytest.fixture
def scene():
    return dropped_phone(factories.OrganizationFactory(name="Instituto Aurora"), phone_number=PHONE)


@pytest.fixture
def staff_client(client, scene):
    client.force_login(staff_member(scene.organization, permissions=PAIRING_PERMISSIONS))
    return client


def start_pairing(client, scene) -> tuple[WhatsAppSession, str]:
    response = client.post(session_url("pair", scene.old.pk))
    assert response.status_code == HTTPStatus.FOUND, response
    session = WhatsAppSession.objects.exclude(pk=scene.old.pk).get(organization=scene.organization)
    status_url = session_url("pairing_status", session.pk, f"predecessor={scene.old.pk}")
    return session, status_url


def test_same_phone_everything_moves_to_the_new_session(waha, staff_client, scene):
    session, status_url = start_pairing(staff_client, scene)
    resynced_message = resync_a_group(scene, session)
    assert staff_client.get(status_url).json()["outcome"] == "waiting"

    webhook = waha.scan(session.gateway_session_name, PHONE)

    assert webhook.status_code == HTTPStatus.OK, webhook.text
    progress = staff_client.get(status_url).json()
    assert (progress["outcome"], progress["phone_number"]) == ("connected", PHONE)
    assert "now points at the new session" in progress["message"]
    migration = SessionMigration.objects.get(old_session=scene.old, new_session=session)
    assert migration.trigger == SessionMigration.Trigger.AUTOMATIC
    assert migration.counts == MOVED_WITH_A_RESYNCED_GROUP
    (shown,) = progress["migrations"]
    assert shown["url"] == reverse(
        "admin:sessions_app_sessionmigration_change", args=[migration.pk]
    )
    assert shown["summary"].startswith("Workshops: 2, Webinars: 1, Active campaigns: 1")
    assert staff_client.get(shown["url"]).status_code == HTTPStatus.OK

    session.refresh_from_db()
    scene.old.refresh_from_db()
    assert (session.status, session.phone_number) == ("connected", PHONE)
    assert scene.old.superseded_by_id == session.pk
    for row in [*scene.workshops, *scene.webinars]:
        row.refresh_from_db()
        assert row.whatsapp_session_id == session.pk
    campaign = NotificationCampaign.objects.get(pk=scene.campaigns[0].pk)
    assert campaign.session_id == session.pk
    resynced_message.refresh_from_db()
    assert resynced_message.group.session_id == session.pk
    assert resynced_message.status == ScheduledWhatsAppMessage.Status.PENDING


def test_another_phone_moves_nothing_and_says_which_phone(waha, staff_client, scene):
    session, status_url = start_pairing(staff_client, scene)

    assert waha.scan(session.gateway_session_name, OTHER_PHONE).status_code == HTTPStatus.OK

    progress = staff_client.get(status_url).json()
    assert (progress["outcome"], progress["phone_number"]) == ("other_phone", OTHER_PHONE)
    assert OTHER_PHONE in progress["message"] and PHONE in progress["message"]
    assert "Nothing moved" in progress["message"]
    assert progress["migrations"] == []
    scene.old.refresh_from_db()
    assert scene.old.superseded_by_id is None
    for row in scene.workshops:
        row.refresh_from_db()
        assert row.whatsapp_session_id == scene.old.pk

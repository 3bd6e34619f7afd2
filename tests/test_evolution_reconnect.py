"""A phone reconnects through Evolution API, told only over HTTP: the fake Evolution server
posts its signed webhooks to the live test server, and the dispatcher sends through it."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.gateway import get_gateway
from sessions_app.models import SessionMigration, WhatsAppSession
from tests.factories import (
    NotificationCampaignFactory,
    ScheduledWhatsAppMessageFactory,
    WebinarFactory,
    WhatsAppGroupFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)
from tests.fake_evolution import FakeEvolution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

EVOLUTION = "sessions_app.gateway.evolution.GatewayBackend"


@pytest.fixture
def evolution(settings):
    with FakeEvolution(api_key="global-key") as server:
        settings.WHATSAPP_GATEWAY_BACKEND = EVOLUTION
        settings.WHATSAPP_GATEWAY_URL = server.url
        settings.WHATSAPP_GATEWAY_API_KEY = "global-key"
        settings.WHATSAPP_SEND_INTERVAL_SECONDS = 0
        settings.WHATSAPP_SEND_JITTER_SECONDS = 0
        yield server


def start(name: str, *, live_server) -> None:
    """Start `name` the way pairing does: the backend names its webhook and its secret."""
    gateway = get_gateway()
    try:
        gateway.start_session(
            name,
            webhook_url=f"{live_server.url}{reverse(gateway.webhook_url_name)}",
            webhook_secret=gateway.webhook_secret(),
            metadata={},
        )
    finally:
        gateway.close()


def test_reconnect_end_to_end(evolution, live_server):
    old = WhatsAppSessionFactory(
        phone_number="+5511987654321", session_data={"session_name": "aurora-1"}
    )
    organization = old.organization
    workshop = WorkshopFactory(organization=organization, whatsapp_session=old)
    webinar = WebinarFactory(organization=organization, whatsapp_session=old)
    campaign = NotificationCampaignFactory(
        organization=organization, session=old, status=NotificationCampaign.Status.SCHEDULED
    )
    organization.community_session = old
    organization.save(update_fields=["community_session"])
    group = WhatsAppGroupFactory(session=old)
    message = ScheduledWhatsAppMessageFactory(
        workshop=None, webinar=webinar, group=group, body="Webinar at 8"
    )
    start("aurora-1", live_server=live_server)
    evolution.scan("aurora-1", "5511987654321")

    # The phone drops: Evolution closes the instance and says so.
    assert evolution.drop("aurora-1", status_reason=401).status_code == 200
    old.refresh_from_db()
    assert (old.status, old.phone_number) == ("disconnected", "+5511987654321")

    # Paired again under a new instance, created before Evolution reports on it.
    new = WhatsAppSessionFactory(
        organization=organization,
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "aurora-2"},
    )
    start("aurora-2", live_server=live_server)
    response = evolution.scan("aurora-2", "5511987654321")
    assert response.status_code == 200, response.text

    new.refresh_from_db()
    old.refresh_from_db()
    for row in (workshop, webinar, campaign, organization, group, message):
        row.refresh_from_db()
    assert (new.status, new.phone_number) == ("connected", "+5511987654321")
    assert old.superseded_by_id == new.pk
    assert workshop.whatsapp_session_id == webinar.whatsapp_session_id == new.pk
    assert campaign.session_id == organization.community_session_id == new.pk
    assert group.session_id == new.pk
    (migration,) = SessionMigration.objects.filter(old_session=old)
    assert migration.new_session_id == new.pk
    assert migration.counts["workshops"] == migration.counts["webinars"] == 1

    # Evolution repeats the open (a retry, a restart): nothing more moves.
    assert evolution.scan("aurora-2", "5511987654321").status_code == 200
    assert SessionMigration.objects.count() == 1

    call_command("process_message_queue", verbosity=0)

    (sent,) = evolution.sends()
    assert sent.path == "/message/sendText/aurora-2"
    assert sent.json == {"number": group.group_jid, "text": "Webinar at 8"}
    message.refresh_from_db()
    assert message.status == ScheduledWhatsAppMessage.Status.SENT
    assert message.gateway_message_id == evolution.message_ids[-1]


def test_a_webhook_for_a_closed_instance_makes_due_messages_wait(evolution, live_server):
    session = WhatsAppSessionFactory(
        phone_number="+5511987654321", session_data={"session_name": "aurora-1"}
    )
    webinar = WebinarFactory(organization=session.organization, whatsapp_session=session)
    message = ScheduledWhatsAppMessageFactory(
        workshop=None, webinar=webinar, group=WhatsAppGroupFactory(session=session)
    )
    start("aurora-1", live_server=live_server)
    # The instance closed, and the webhook has not arrived yet: Evolution refuses the send.
    evolution.instances["aurora-1"].state = "close"

    call_command("process_message_queue", verbosity=0)

    message.refresh_from_db()
    assert message.status == ScheduledWhatsAppMessage.Status.PENDING
    assert "Connection Closed" in message.last_error
    assert evolution.sends() == []

"""The reconnect end to end with the original system's gateway service, as that system runs it:
signed status calls to /webhooks/vps/, groups read from the service, reminders sent through it."""

import datetime as dt
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.utils import timezone

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.gateway import get_gateway
from sessions_app.models import SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.pairing import (
    SessionLifecycleError,
    pairing_qr,
    pairing_request_code,
    pairing_start,
)
from tests.factories import (
    NotificationCampaignFactory,
    ScheduledWhatsAppMessageFactory,
    WebinarFactory,
    WhatsAppGroupFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)
from tests.fake_vps import FakeVps

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

SECRET = "vps-webhook-secret"
API_KEY = "vps-api-key"
OLD = "wa_0b7f5f0e-aaaa-4000-8000-000000000001"


@pytest.fixture
def vps(settings):
    with FakeVps(api_key=API_KEY) as server:
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.vps.GatewayBackend"
        settings.WHATSAPP_GATEWAY_URL = server.url
        settings.WHATSAPP_GATEWAY_API_KEY = API_KEY
        settings.WHATSAPP_VPS_WEBHOOK_SECRET = SECRET
        settings.WHATSAPP_SEND_INTERVAL_SECONDS = 0
        settings.WHATSAPP_SEND_JITTER_SECONDS = 0
        yield server


def report(client, vps: FakeVps, session_id: str, **kwargs):
    """The service's signed status call for `session_id`, posted to the product."""
    body, signature = vps.status_report(session_id, secret=SECRET, **kwargs)
    return client.post(
        "/webhooks/vps/", data=body, content_type="application/json", HTTP_X_WEBHOOK_HMAC=signature
    )


def test_reconnect_end_to_end(client, vps, django_capture_on_commit_callbacks):
    # 1. A phone's session holds references; the phone drops.
    vps.scan(OLD, "5511987654321")
    old = WhatsAppSessionFactory(
        phone_number="+5511987654321", session_data={"vps_session_id": OLD}
    )
    organization = old.organization
    workshop = WorkshopFactory(organization=organization, whatsapp_session=old)
    webinar = WebinarFactory(organization=organization, whatsapp_session=old)
    campaign = NotificationCampaignFactory(organization=organization, session=old)
    group = WhatsAppGroupFactory(session=old, group_jid="120363000000000111@g.us", name="Turma")
    gone = WhatsAppGroupFactory(session=old, group_jid="120363000000000999@g.us", name="Old")
    reminder = ScheduledWhatsAppMessageFactory(
        workshop=None, webinar=webinar, group=group, body="Webinar starts in one hour"
    )
    later = ScheduledWhatsAppMessageFactory(
        workshop=workshop, group=group, send_at=timezone.now() + dt.timedelta(days=1)
    )
    get_gateway().logout(OLD)
    assert report(client, vps, OLD).status_code == HTTPStatus.OK
    old.refresh_from_db()
    assert old.status == WhatsAppSession.Status.DISCONNECTED

    # 2. Staff pair it again from the admin's pairing service: a new session row, started on
    # the service, showing its QR code; the service has no "link with phone number" code.
    new = pairing_start(organization=organization, predecessor=old)
    name = new.session_data["vps_session_id"]
    assert (vps.requests[-1].path, vps.requests[-1].json) == ("/connect", {"sessionId": name})
    assert pairing_qr(session=new).startswith(b"\x89PNG")
    with pytest.raises(SessionLifecycleError, match="scan the QR code instead"):
        pairing_request_code(session=new, phone_number="+5511987654321")
    assert report(client, vps, name).status_code == HTTPStatus.OK  # "qr"
    vps.groups[name] = [
        {"id": group.group_jid, "subject": "Turma (2026)", "participants": 40, "isAdmin": True},
        {"jid": "120363000000000222@g.us", "subject": "Avisos", "isCommunityAnnounce": True},
        {"groupId": "120363000000000333@g.us", "subject": "Comunidade", "isCommunity": True},
    ]

    # 3. The phone scans; the service reports it connected over the signed webhook.
    vps.scan(name, "5511987654321@s.whatsapp.net")
    with django_capture_on_commit_callbacks(execute=True):
        response = report(client, vps, name)
    assert response.status_code == HTTPStatus.OK

    # Everything moved, in one audited migration.
    for row in (old, new, workshop, webinar, campaign, group, gone, later):
        row.refresh_from_db()
    assert (new.status, new.phone_number) == ("connected", "+5511987654321")
    assert old.superseded_by_id == new.pk
    assert workshop.whatsapp_session_id == webinar.whatsapp_session_id == new.pk
    assert campaign.session_id == new.pk
    assert campaign.status == NotificationCampaign.Status.SCHEDULED
    [migration] = SessionMigration.objects.filter(old_session=old, new_session=new)
    assert migration.trigger == SessionMigration.Trigger.AUTOMATIC
    assert migration.counts["groups_moved"] == 2

    # 4. Its groups synced from the service: the moved group renamed in place, the new
    # announcement group added, the community parent skipped, the vanished one kept inactive.
    assert (group.session_id, group.name, group.is_active) == (new.pk, "Turma (2026)", True)
    assert (gone.session_id, gone.is_active) == (new.pk, False)
    assert dict(
        WhatsAppGroup.objects.filter(session=new, is_active=True).values_list("group_jid", "name")
    ) == {group.group_jid: "Turma (2026)", "120363000000000222@g.us": "Avisos"}
    assert vps.requests[-1].path == f"/groups/{name}"

    # 5. The dispatcher sends the due webinar reminder through the new session to the group.
    call_command("process_message_queue", verbosity=0)

    [sent] = vps.sends()
    assert sent.json == {
        "sessionId": name,
        "phone": group.group_jid,
        "message": "Webinar starts in one hour",
    }
    reminder.refresh_from_db()
    later.refresh_from_db()
    assert reminder.status == ScheduledWhatsAppMessage.Status.SENT
    assert reminder.gateway_message_id.startswith("3EB0")
    assert later.status == ScheduledWhatsAppMessage.Status.PENDING

"""A phone reconnects, told through HTTP only; its reminders go out through the new session."""

import json
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from scheduling.models import ScheduledWhatsAppMessage
from sessions_app.models import WhatsAppSession
from sessions_app.services.gateway_status import webhook_signature
from tests.factories import (
    ScheduledWhatsAppMessageFactory,
    WebinarFactory,
    WhatsAppGroupFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)
from tests.fake_waha import FakeWaha

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]


def signed_status(client, name: str, status: str, me_id: str | None):
    body = json.dumps(
        {
            "event": "session.status",
            "session": name,
            "me": {"id": me_id} if me_id else None,
            "payload": {"status": status},
        }
    ).encode()
    return client.post(
        "/webhooks/whatsapp/",
        data=body,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=webhook_signature(body, secret="test-webhook-secret"),
    )


def test_reconnect_end_to_end(client, settings):
    old = WhatsAppSessionFactory(
        phone_number="+5511987654321", session_data={"session_name": "aurora-1"}
    )
    organization = old.organization
    workshop = WorkshopFactory(organization=organization, whatsapp_session=old)
    webinar = WebinarFactory(organization=organization, whatsapp_session=old)
    group = WhatsAppGroupFactory(session=old)
    due = [
        ScheduledWhatsAppMessageFactory(workshop=workshop, group=group, body="Workshop at 7"),
        ScheduledWhatsAppMessageFactory(
            workshop=None, webinar=webinar, group=group, body="Webinar at 8"
        ),
    ]
    # The gateway pairing flow creates the new session before the gateway reports on it.
    new = WhatsAppSessionFactory(
        organization=organization,
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "aurora-2"},
    )

    assert signed_status(client, "aurora-1", "STOPPED", None).status_code == HTTPStatus.OK
    assert signed_status(client, "aurora-2", "SCAN_QR_CODE", None).status_code == HTTPStatus.OK
    response = signed_status(client, "aurora-2", "WORKING", "5511987654321@c.us")
    assert response.status_code == HTTPStatus.OK

    old.refresh_from_db()
    new.refresh_from_db()
    workshop.refresh_from_db()
    webinar.refresh_from_db()
    group.refresh_from_db()
    assert (new.status, new.phone_number) == ("connected", "+5511987654321")
    assert (old.status, old.superseded_by_id) == ("disconnected", new.pk)
    assert workshop.whatsapp_session_id == webinar.whatsapp_session_id == new.pk
    assert group.session_id == new.pk

    with FakeWaha(api_key="gateway-key") as waha:
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.waha.GatewayBackend"
        settings.WHATSAPP_GATEWAY_URL = waha.url
        settings.WHATSAPP_GATEWAY_API_KEY = "gateway-key"
        settings.WHATSAPP_SEND_INTERVAL_SECONDS = 0
        settings.WHATSAPP_SEND_JITTER_SECONDS = 0
        call_command("process_message_queue", verbosity=0)
        sends = waha.sends()

    assert sorted((s.json["session"], s.json["chatId"], s.json["text"]) for s in sends) == [
        ("aurora-2", group.group_jid, "Webinar at 8"),
        ("aurora-2", group.group_jid, "Workshop at 7"),
    ]
    for message in due:
        message.refresh_from_db()
        assert message.status == ScheduledWhatsAppMessage.Status.SENT
        assert message.gateway_message_id.startswith(f"true_{group.group_jid}_")
        assert message.sent_at <= timezone.now()


def test_sync_session_status_polls_the_gateway(settings, capsys):
    old = WhatsAppSessionFactory(
        phone_number="+5511987654321", session_data={"session_name": "aurora-1"}
    )
    new = WhatsAppSessionFactory(
        organization=old.organization,
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "aurora-2"},
    )
    other = WhatsAppSessionFactory(session_data={"session_name": "elsewhere"})
    workshop = WorkshopFactory(organization=old.organization, whatsapp_session=old)

    with FakeWaha(api_key="") as waha:
        waha.statuses["aurora-1"] = {"status": "STOPPED", "me": None}
        waha.statuses["aurora-2"] = {"status": "WORKING", "me": {"id": "5511987654321@c.us"}}
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.waha.GatewayBackend"
        settings.WHATSAPP_GATEWAY_URL = waha.url
        call_command("sync_session_status", organization=str(old.organization_id))
        polled = sorted(r.path for r in waha.requests)

    assert polled == ["/api/sessions/aurora-1", "/api/sessions/aurora-2"]
    new.refresh_from_db()
    workshop.refresh_from_db()
    other.refresh_from_db()
    assert new.status == "connected"
    assert workshop.whatsapp_session_id == new.pk
    assert other.status == "connected"
    assert "2 refreshed, 0 failed" in capsys.readouterr().out


@pytest.mark.parametrize("organization", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_sync_session_status_refuses_an_unknown_organization(organization):
    with pytest.raises(CommandError, match="organization"):
        call_command("sync_session_status", organization=organization)


def test_sync_session_status_reports_sessions_it_could_not_refresh(settings, capsys):
    session = WhatsAppSessionFactory(session_data={"session_name": "gone"})
    with FakeWaha(api_key="") as waha:
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.waha.GatewayBackend"
        settings.WHATSAPP_GATEWAY_URL = waha.url
        with pytest.raises(CommandError, match="1 session"):
            call_command("sync_session_status")

    assert "not found" in capsys.readouterr().err
    session.refresh_from_db()
    assert session.status == "connected"

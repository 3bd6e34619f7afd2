"""/webhooks/vps/: the original system's gateway service reports a session's status."""

import hashlib
import hmac
import json
from http import HTTPStatus

import pytest

from sessions_app.models import WhatsAppSession
from tests.factories import WhatsAppSessionFactory
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

URL = "/webhooks/vps/"
SECRET = "vps-webhook-secret"
NAME = "wa_6f1c2d4e-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def secret(settings):
    settings.WHATSAPP_VPS_WEBHOOK_SECRET = SECRET


@pytest.fixture
def session():
    return WhatsAppSessionFactory(
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        connected_at=None,
        session_data={"vps_session_id": NAME},
    )


def sign(body: bytes, key: str = SECRET) -> str:
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


def body_of(**fields) -> bytes:
    return json.dumps(
        {
            "sessionId": NAME,
            "status": "connected",
            "phoneNumber": "5511987654321",
            "timestamp": "2026-11-25T13:00:00.000Z",
            **fields,
        }
    ).encode()


def post(client, body: bytes, signature: str | None = "sign"):
    headers = {}
    if signature is not None:
        headers["HTTP_X_WEBHOOK_HMAC"] = sign(body) if signature == "sign" else signature
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.mark.parametrize(
    ("phone", "status", "stored"),
    [
        ("5511987654321", "connected", "+5511987654321"),
        (5511987654321, "connected", "+5511987654321"),
        ("+55 11 98765-4321", "connected", "+5511987654321"),
        ("5511987654321:7@s.whatsapp.net", "connected", "+5511987654321"),
        (None, "qr", None),
    ],
)
def test_a_signed_report_updates_the_session(client, session, phone, status, stored):
    response = post(client, body_of(phoneNumber=phone, status=status))

    assert response.status_code == HTTPStatus.OK
    session.refresh_from_db()
    expected = "connecting" if status == "qr" else status
    assert (session.status, session.phone_number) == (expected, stored)
    assert response.json() == {
        "status": "ok",
        "event": "status",
        "session": str(session.pk),
        "state": expected,
    }


def test_the_signature_is_checked_over_the_exact_bytes(client, session):
    body = body_of()
    spaced = body.replace(b": ", b":  ")

    response = post(client, spaced, signature=sign(body))

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    session.refresh_from_db()
    assert session.status == "connecting"


@pytest.mark.parametrize(
    ("body", "signature", "code", "reason"),
    [
        (body_of(), None, 401, "Missing X-Webhook-Hmac signature."),
        (body_of(), "0" * 128, 401, "Wrong X-Webhook-Hmac signature."),
        (body_of(), sign(body_of(), "another-secret"), 401, "Wrong X-Webhook-Hmac signature."),
        (b"{not json", "sign", 400, "Body is not valid JSON."),
        (b"[" * 60000, "sign", 400, "nested too deeply"),
        (b"[]", "sign", 400, "Body is not a JSON object."),
        (body_of(sessionId=None), "sign", 400, 'needs a "sessionId"'),
        (body_of(status="banana"), "sign", 400, "Unknown status 'banana'."),
        (body_of(timestamp="yesterday"), "sign", 400, '"timestamp" must be an ISO 8601'),
        (body_of(timestamp=1764075600), "sign", 400, '"timestamp" must be an ISO 8601'),
        (body_of(phoneNumber=["55"]), "sign", 400, '"phoneNumber" must be text or a number.'),
        (body_of(sessionId="wa_unknown"), "sign", 404, "No live session is called 'wa_unknown'."),
        (body_of(padding="x" * 70_000), "sign", 413, "Body larger than 65536 bytes."),
    ],
)
def test_bad_calls_are_refused_and_change_nothing(client, session, body, signature, code, reason):
    before = database_snapshot()

    response = post(client, body, signature)

    assert response.status_code == code
    assert reason in response.json()["error"]
    assert "\n" not in response.json()["error"]
    assert database_snapshot() == before


def test_no_secret_configured_refuses_everything(client, session, settings):
    settings.WHATSAPP_VPS_WEBHOOK_SECRET = ""
    body = body_of()

    response = post(client, body, signature=sign(body, ""))

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "WHATSAPP_VPS_WEBHOOK_SECRET" in response.json()["error"]


def test_a_late_report_of_a_superseded_session_is_acknowledged_and_changes_nothing(client, session):
    live = WhatsAppSessionFactory(organization=session.organization)
    WhatsAppSession.objects.filter(pk=session.pk).update(superseded_by=live)
    before = database_snapshot()

    response = post(client, body_of())

    assert (response.status_code, response.json()["status"]) == (200, "superseded")
    assert database_snapshot() == before


def test_reports_apply_in_the_order_of_their_timestamp(client, session):
    connected = body_of(timestamp="2026-11-25T13:00:05Z")
    earlier_qr = body_of(status="qr", phoneNumber=None, timestamp="2026-11-25T13:00:01+00:00")
    assert post(client, connected).json()["status"] == "ok"

    response = post(client, earlier_qr)  # delivered late

    assert (response.status_code, response.json()["status"]) == (200, "stale")
    session.refresh_from_db()
    assert (session.status, session.phone_number) == ("connected", "+5511987654321")

    later = body_of(status="disconnected", timestamp="2026-11-25T13:10:00Z")
    assert post(client, later).json()["state"] == "disconnected"
    session.refresh_from_db()
    assert (session.status, session.phone_number) == ("disconnected", "+5511987654321")


def test_a_timestamp_with_an_offset_is_the_instant_it_names(client, session):
    assert post(client, body_of(timestamp="2026-11-25T13:00:05Z")).json()["status"] == "ok"

    # 10:00:10 in São Paulo is 13:00:10 UTC: five seconds after the connect, not three hours
    # before it.
    later = body_of(status="disconnected", timestamp="2026-11-25T10:00:10-03:00")
    response = post(client, later)

    assert (response.status_code, response.json()["status"]) == (200, "ok")
    session.refresh_from_db()
    assert session.status == "disconnected"


def test_an_unreadable_phone_keeps_the_status_and_the_stored_phone(client, session):
    WhatsAppSession.objects.filter(pk=session.pk).update(phone_number="+5511987654321")

    response = post(client, body_of(phoneNumber="not a phone"))

    assert response.status_code == HTTPStatus.OK
    session.refresh_from_db()
    assert (session.status, session.phone_number) == ("connected", "+5511987654321")


def test_the_waha_secret_does_not_sign_vps_calls(client, session, settings):
    settings.WHATSAPP_WEBHOOK_SECRET = "waha-secret"
    body = body_of()

    assert post(client, body, signature=sign(body, "waha-secret")).status_code == 401


def test_only_post(client):
    assert client.get(URL).status_code == HTTPStatus.METHOD_NOT_ALLOWED

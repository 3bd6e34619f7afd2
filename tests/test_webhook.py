"""The signed WAHA webhook: session.status events, and every refusal changing nothing."""

import json
from http import HTTPStatus

import pytest
from django.urls import reverse

from sessions_app.models import WhatsAppSession
from sessions_app.services.gateway_status import WebhookRefused, webhook_receive, webhook_signature
from tests.factories import WhatsAppSessionFactory

SECRET = "test-webhook-secret"
URL = "/webhooks/whatsapp/"

pytestmark = pytest.mark.django_db


def status_event(name: str, status: str, me_id: str | None = None) -> dict:
    return {
        "event": "session.status",
        "session": name,
        "me": {"id": me_id, "pushName": "Aurora"} if me_id else None,
        "payload": {"status": status},
    }


def post(client, body, *, signature: str | None = "sign", **extra):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = dict(extra)
    if signature == "sign":
        signature = webhook_signature(raw, secret=SECRET)
    if signature is not None:
        headers["HTTP_X_WEBHOOK_HMAC"] = signature
    return client.post(URL, data=raw, content_type="application/json", **headers)


def snapshot():
    return list(
        WhatsAppSession.objects.order_by("pk").values_list(
            "pk", "status", "phone_number", "superseded_by", "updated_at"
        )
    )


@pytest.fixture
def session():
    return WhatsAppSessionFactory(
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "org-main"},
    )


def test_url_is_named():
    assert reverse("sessions_app:whatsapp_webhook") == URL


def test_working_marks_the_session_connected_with_its_phone(client, session):
    response = post(client, status_event("org-main", "WORKING", "5511987654321@c.us"))

    assert response.status_code == HTTPStatus.OK
    session.refresh_from_db()
    assert session.status == "connected"
    assert session.phone_number == "+5511987654321"
    assert session.connected_at is not None


def test_stopped_marks_it_disconnected_and_keeps_the_phone(client, session):
    post(client, status_event("org-main", "WORKING", "5511987654321@c.us"))
    response = post(client, status_event("org-main", "STOPPED"))

    assert response.status_code == HTTPStatus.OK
    session.refresh_from_db()
    assert (session.status, session.phone_number) == ("disconnected", "+5511987654321")


def test_other_events_are_acknowledged_and_ignored(client, session):
    before = snapshot()
    response = post(client, {"event": "message", "session": "org-main", "payload": {}})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "ignored"
    assert snapshot() == before


def test_csrf_is_not_required(session):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = post(client, status_event("org-main", "SCAN_QR_CODE"))
    assert response.status_code == HTTPStatus.OK


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == HTTPStatus.METHOD_NOT_ALLOWED


class TestRefusalsChangeNothing:
    @pytest.mark.parametrize(
        ("body", "signature", "status"),
        [
            pytest.param(
                status_event("org-main", "WORKING", "5511987654321@c.us"),
                None,
                HTTPStatus.UNAUTHORIZED,
                id="missing-signature",
            ),
            pytest.param(
                status_event("org-main", "WORKING", "5511987654321@c.us"),
                "0" * 128,
                HTTPStatus.UNAUTHORIZED,
                id="wrong-signature",
            ),
            pytest.param(
                status_event("org-main", "WORKING", "5511987654321@c.us"),
                webhook_signature(b"another body", secret=SECRET),
                HTTPStatus.UNAUTHORIZED,
                id="signature-of-another-body",
            ),
            pytest.param(b"{not json", "sign", HTTPStatus.BAD_REQUEST, id="malformed-json"),
            pytest.param(b"[1, 2]", "sign", HTTPStatus.BAD_REQUEST, id="not-an-object"),
            pytest.param(
                {"event": "session.status", "session": "org-main"},
                "sign",
                HTTPStatus.BAD_REQUEST,
                id="no-payload",
            ),
            pytest.param(
                {**status_event("org-main", "WORKING"), "timestamp": "yesterday"},
                "sign",
                HTTPStatus.BAD_REQUEST,
                id="timestamp-not-a-number",
            ),
            pytest.param(
                {**status_event("org-main", "WORKING"), "me": {"id": 5511987654321}},
                "sign",
                HTTPStatus.BAD_REQUEST,
                id="me-id-not-text",
            ),
            pytest.param(b"[" * 60000, "sign", HTTPStatus.BAD_REQUEST, id="nested-60000-deep"),
            pytest.param(b"\xff\xfe{}", "sign", HTTPStatus.BAD_REQUEST, id="not-utf8"),
            pytest.param(
                status_event("nobody", "WORKING", "5511987654321@c.us"),
                "sign",
                HTTPStatus.NOT_FOUND,
                id="unknown-session",
            ),
        ],
    )
    def test_refused(self, client, session, body, signature, status):
        before = snapshot()
        response = post(client, body, signature=signature)

        assert response.status_code == status
        assert response.json()["error"]
        assert "\n" not in response.json()["error"]
        assert snapshot() == before

    def test_signature_from_another_secret(self, client, session, settings):
        before = snapshot()
        raw = json.dumps(status_event("org-main", "WORKING", "5511987654321@c.us")).encode()
        response = post(client, raw, signature=webhook_signature(raw, secret="other"))
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert snapshot() == before

    def test_body_over_64_kib(self, client, session):
        before = snapshot()
        event = status_event("org-main", "WORKING", "5511987654321@c.us")
        event["padding"] = "x" * (64 * 1024)
        response = post(client, event)

        assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        assert snapshot() == before

    def test_body_over_64_kib_without_a_content_length(self, session):
        # A chunked body has no Content-Length: the length actually read decides.
        before = snapshot()
        raw = b"x" * (64 * 1024 + 1)
        with pytest.raises(WebhookRefused) as refused:
            webhook_receive(body=raw, signature=webhook_signature(raw, secret=SECRET))
        assert refused.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        assert snapshot() == before

    def test_a_superseded_sessions_late_report_is_acknowledged_and_applies_nowhere(
        self, client, session
    ):
        newer = WhatsAppSessionFactory(
            organization=session.organization, session_data={"session_name": "x"}
        )
        WhatsAppSession.objects.filter(pk=session.pk).update(superseded_by=newer)
        before = snapshot()

        response = post(client, status_event("org-main", "STOPPED"))

        # Refused, the gateway would retry it for nothing.
        assert response.status_code == HTTPStatus.OK
        assert response.json()["status"] == "superseded"
        assert snapshot() == before

"""The HMAC-signed webhooks against signatures made outside the product.

WAHA's documentation publishes a test vector; every other signature here is computed with
`hmac` and `hashlib` directly, so a wrong algorithm or a lax comparison in the product cannot
sign and verify itself.
"""

import base64
import hashlib
import hmac
import json
from http import HTTPStatus

import pytest

from sessions_app.models import WhatsAppSession
from sessions_app.services.gateway_status import (
    WebhookRefused,
    verify_hmac_signature,
    webhook_receive,
)
from tests.factories import WhatsAppSessionFactory
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

# waha-docs, how-to/events, "HMAC authentication": the body as sent, the key, and the
# X-Webhook-Hmac WAHA puts on it.
DOCUMENTED_BODY = b'{"event":"message","session":"default","engine":"WEBJS"}'
DOCUMENTED_KEY = "my-secret-key"
DOCUMENTED_HMAC = (
    "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8"
    "097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"
)

WAHA = "/webhooks/whatsapp/"
VPS = "/webhooks/vps/"
SECRET_SETTING = {WAHA: "WHATSAPP_WEBHOOK_SECRET", VPS: "WHATSAPP_VPS_WEBHOOK_SECRET"}


def other_hex_digit(digit: str) -> str:
    return "0" if digit != "0" else "1"


def forgeries(body: bytes, key: str, signature: str) -> dict[str, str]:
    """Signatures that are not the HMAC-SHA512 hex of `body` by `key`, though close to it."""
    sha512 = hmac.new(key.encode(), body, hashlib.sha512)
    return {
        "last-digit-changed": signature[:-1] + other_hex_digit(signature[-1]),
        "first-digit-changed": other_hex_digit(signature[0]) + signature[1:],
        "middle-digit-changed": signature[:64] + other_hex_digit(signature[64]) + signature[65:],
        "first-8-digits": signature[:8],
        "first-64-digits": signature[:64],
        "one-digit-more": signature + "0",
        "hmac-sha256": hmac.new(key.encode(), body, hashlib.sha256).hexdigest(),
        "hmac-sha512-base64": base64.b64encode(sha512.digest()).decode(),
        "sha512-without-key": hashlib.sha512(body).hexdigest(),
    }


FORGERY_NAMES = list(forgeries(b"", "k", "0" * 128))


@pytest.fixture(params=[WAHA, VPS], ids=["waha", "vps"])
def webhook(request, settings):
    """One HMAC webhook, its secret set to the documented key."""
    setattr(settings, SECRET_SETTING[request.param], DOCUMENTED_KEY)
    return request.param


def post(client, url: str, body: bytes, signature: str):
    return client.post(
        url, data=body, content_type="application/json", HTTP_X_WEBHOOK_HMAC=signature
    )


class TestDocumentedVector:
    def test_the_check_accepts_it(self):
        verify_hmac_signature(DOCUMENTED_BODY, DOCUMENTED_HMAC, secret=DOCUMENTED_KEY)

    def test_each_webhook_accepts_it(self, client, webhook):
        before = database_snapshot()

        response = post(client, webhook, DOCUMENTED_BODY, DOCUMENTED_HMAC)

        if webhook == WAHA:
            # Signed right; WAHA's webhook acts on session.status only.
            assert response.status_code == HTTPStatus.OK, response.content
            assert response.json() == {"status": "ignored", "event": "message"}
        else:
            # Signed right, read next: it is no status report of the service.
            assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
            assert "sessionId" in response.json()["error"]
        assert database_snapshot() == before

    def test_the_receiving_service_accepts_it(self, settings):
        settings.WHATSAPP_WEBHOOK_SECRET = DOCUMENTED_KEY
        outcome = webhook_receive(body=DOCUMENTED_BODY, signature=DOCUMENTED_HMAC)
        assert (outcome.event, outcome.result) == ("message", "ignored")

    @pytest.mark.parametrize("forgery", FORGERY_NAMES)
    def test_the_check_refuses_a_forgery(self, forgery):
        signature = forgeries(DOCUMENTED_BODY, DOCUMENTED_KEY, DOCUMENTED_HMAC)[forgery]
        with pytest.raises(WebhookRefused) as refused:
            verify_hmac_signature(DOCUMENTED_BODY, signature, secret=DOCUMENTED_KEY)
        assert refused.value.status == HTTPStatus.UNAUTHORIZED

    @pytest.mark.parametrize("forgery", FORGERY_NAMES)
    def test_the_webhook_refuses_a_forgery(self, client, webhook, forgery):
        signature = forgeries(DOCUMENTED_BODY, DOCUMENTED_KEY, DOCUMENTED_HMAC)[forgery]

        response = post(client, webhook, DOCUMENTED_BODY, signature)

        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json() == {"error": "Wrong X-Webhook-Hmac signature."}

    def test_another_key_refuses_it(self, client, webhook, settings):
        setattr(settings, SECRET_SETTING[webhook], DOCUMENTED_KEY + "-rotated")
        response = post(client, webhook, DOCUMENTED_BODY, DOCUMENTED_HMAC)
        assert response.status_code == HTTPStatus.UNAUTHORIZED


def status_report(url: str) -> bytes:
    """A report that connects the session `session` names, in the webhook's own format."""
    if url == WAHA:
        report = {
            "event": "session.status",
            "session": "aurora-1",
            "me": {"id": "5511987654321@c.us"},
            "payload": {"status": "WORKING"},
        }
    else:
        report = {"sessionId": "wa_aurora-1", "status": "connected", "phoneNumber": "5511987654321"}
    return json.dumps(report).encode()


@pytest.fixture
def session():
    return WhatsAppSessionFactory(
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "aurora-1", "vps_session_id": "wa_aurora-1"},
    )


class TestStatusReports:
    """Reports that would change a session: applied when signed right, else nothing changes."""

    def test_a_report_signed_with_hmac_sha512_applies(self, client, webhook, session):
        body = status_report(webhook)
        signature = hmac.new(DOCUMENTED_KEY.encode(), body, hashlib.sha512).hexdigest()

        response = post(client, webhook, body, signature)

        assert response.status_code == HTTPStatus.OK, response.content
        session.refresh_from_db()
        assert (session.status, session.phone_number) == ("connected", "+5511987654321")

    @pytest.mark.parametrize("forgery", FORGERY_NAMES)
    def test_a_forged_signature_changes_nothing(self, client, webhook, session, forgery):
        body = status_report(webhook)
        signature = hmac.new(DOCUMENTED_KEY.encode(), body, hashlib.sha512).hexdigest()
        before = database_snapshot()

        response = post(client, webhook, body, forgeries(body, DOCUMENTED_KEY, signature)[forgery])

        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert database_snapshot() == before

"""What each webhook answers a gateway it refuses: the status and the one-line reason that the
gateway's delivery log shows, word for word; and the edge of what it still accepts (PostgreSQL).
"""

import datetime as dt
import hashlib
import hmac
import json
import os
import time
from http import HTTPStatus

import jwt
import pytest

from sessions_app.models import WhatsAppSession
from sessions_app.services.gateway_status import WEBHOOK_MAX_BYTES, WebhookRefused
from sessions_app.services.vps_webhook import vps_webhook_receive
from tests.factories import WhatsAppSessionFactory
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

EVOLUTION_KEY = os.environ["EVOLUTION_WEBHOOK_JWT_KEY"]  # set by tests/env.py
VPS_SECRET = "vps-webhook-secret"
VPS_NAME = "wa_6f1c2d4e-0000-4000-8000-000000000001"
Status = WhatsAppSession.Status


def evolution_token(key=EVOLUTION_KEY, algorithm="HS256", **changes) -> str:
    now = int(time.time())
    claims = {"iat": now, "exp": now + 600, "app": "evolution", "action": "webhook"}
    return jwt.encode({**claims, **changes}, key, algorithm=algorithm)


def evolution_post(client, body: dict, *, authorization: str | None = None):
    return client.post(
        "/webhooks/evolution/",
        data=json.dumps(body).encode(),
        content_type="application/json",
        headers={"Authorization": authorization or f"Bearer {evolution_token()}"},
    )


OPEN = {"event": "connection.update", "instance": "aurora-2", "data": {"state": "open"}}


def vps_sign(body: bytes) -> str:
    return hmac.new(VPS_SECRET.encode(), body, hashlib.sha512).hexdigest()


def vps_body(**fields) -> bytes:
    report = {"sessionId": VPS_NAME, "status": "connected", "phoneNumber": "5511987654321"}
    return json.dumps({**report, **fields}).encode()


def vps_post(client, body: bytes):
    return client.post(
        "/webhooks/vps/",
        data=body,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=vps_sign(body),
    )


@pytest.fixture
def evolution_session():
    return WhatsAppSessionFactory(
        status=Status.CONNECTING, phone_number=None, session_data={"session_name": "aurora-2"}
    )


@pytest.fixture
def vps_session(settings):
    settings.WHATSAPP_VPS_WEBHOOK_SECRET = VPS_SECRET
    return WhatsAppSessionFactory(
        status=Status.CONNECTING,
        phone_number=None,
        connected_at=None,
        session_data={"vps_session_id": VPS_NAME},
    )


class TestEvolution:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (
                {"event": "connection.update", "data": {"state": "open"}},
                'A connection.update event needs an "instance" name.',
            ),
            (
                {"event": "connection.update", "instance": "aurora-2", "data": {}},
                'A connection.update event needs "data": {"state": ...}.',
            ),
            (
                {
                    "event": "connection.update",
                    "instance": "aurora-2",
                    "data": {"state": "open", "instance": "another"},
                },
                '"data.instance" names another instance than "instance".',
            ),
            (
                {
                    "event": "connection.update",
                    "instance": "aurora-2",
                    "data": {"state": "open", "wuid": 5511987654321},
                },
                '"data.wuid" must be a string.',
            ),
        ],
        ids=["no-instance", "no-state", "another-instance", "wuid-not-a-string"],
    )
    def test_a_malformed_report_is_refused_saying_why(
        self, client, evolution_session, body, reason
    ):
        before = database_snapshot()

        response = evolution_post(client, body)

        assert (response.status_code, response.json()) == (
            HTTPStatus.BAD_REQUEST,
            {"error": reason},
        )
        assert database_snapshot() == before

    def test_a_report_whose_data_does_not_repeat_the_instance_applies(
        self, client, evolution_session
    ):
        response = evolution_post(client, OPEN)

        assert response.status_code == HTTPStatus.OK, response.content
        evolution_session.refresh_from_db()
        assert evolution_session.status == Status.CONNECTED

    @pytest.mark.parametrize(
        ("authorization", "reason"),
        [
            ({"scheme": "Basic"}, "Missing Authorization: Bearer token."),
            ({"exp": -600}, "The bearer token has expired."),
            ({"algorithm": "HS512"}, "The bearer token is not signed with HS256."),
            (
                {"key": "another-key-" + "0123456789abcdef" * 4},
                "Wrong bearer token signature.",
            ),
            ({"app": "someone-else"}, "The bearer token is not an Evolution webhook token."),
        ],
        ids=["not-bearer", "expired", "hs512", "wrong-key", "wrong-app"],
    )
    def test_a_refused_token_is_said_why(self, client, evolution_session, authorization, reason):
        # The token is made when the test runs: it lives ten minutes.
        changes = dict(authorization)
        scheme = changes.pop("scheme", "Bearer")
        if "exp" in changes:
            changes["exp"] += int(time.time())
        token = evolution_token(**changes)

        response = evolution_post(client, OPEN, authorization=f"{scheme} {token}")

        assert (response.status_code, response.json()) == (
            HTTPStatus.UNAUTHORIZED,
            {"error": reason},
        )

    def test_no_key_configured_is_said_so(self, client, evolution_session, settings):
        settings.EVOLUTION_WEBHOOK_JWT_KEY = ""

        response = evolution_post(client, OPEN)

        assert (response.status_code, response.json()) == (
            HTTPStatus.UNAUTHORIZED,
            {"error": "No JWT key is configured (EVOLUTION_WEBHOOK_JWT_KEY)."},
        )

    def test_spaces_between_bearer_and_the_token_are_read_past(self, client, evolution_session):
        response = evolution_post(client, OPEN, authorization=f"Bearer   {evolution_token()}")

        assert response.status_code == HTTPStatus.OK, response.content


class TestVps:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (vps_body(sessionId=""), 'A status report needs a "sessionId".'),
            (vps_body(phoneNumber=True), '"phoneNumber" must be text or a number.'),
            (
                vps_body(timestamp="2026-02-30T10:00:00Z"),
                '"timestamp" must be an ISO 8601 date and time.',
            ),
        ],
        ids=["empty-session-id", "phone-not-text", "no-such-day"],
    )
    def test_a_malformed_report_is_refused_saying_why(self, client, vps_session, body, reason):
        before = database_snapshot()

        response = vps_post(client, body)

        assert (response.status_code, response.json()) == (
            HTTPStatus.BAD_REQUEST,
            {"error": reason},
        )
        assert database_snapshot() == before

    def test_no_secret_configured_is_said_so(self, client, vps_session, settings):
        settings.WHATSAPP_VPS_WEBHOOK_SECRET = ""

        response = vps_post(client, vps_body())

        assert (response.status_code, response.json()) == (
            HTTPStatus.UNAUTHORIZED,
            {"error": "No webhook secret is configured (WHATSAPP_VPS_WEBHOOK_SECRET)."},
        )

    def test_an_empty_phone_is_no_phone(self, client, vps_session):
        response = vps_post(client, vps_body(status="qr", phoneNumber=""))

        assert response.status_code == HTTPStatus.OK, response.content
        vps_session.refresh_from_db()
        assert (vps_session.status, vps_session.phone_number) == (Status.CONNECTING, None)

    def test_a_time_without_a_zone_is_utc(self, client, vps_session):
        response = vps_post(client, vps_body(timestamp="2026-11-25T13:00:00"))

        assert response.status_code == HTTPStatus.OK, response.content
        vps_session.refresh_from_db()
        assert vps_session.last_report_at.isoformat() == "2026-11-25T13:00:00+00:00"

    def test_a_body_read_past_the_limit_is_refused_before_its_signature(self, vps_session):
        """A chunked call has no Content-Length: the service checks the length it was given."""
        before = database_snapshot()

        with pytest.raises(WebhookRefused) as refused:
            vps_webhook_receive(body=b"x" * (WEBHOOK_MAX_BYTES + 1), signature=None)

        assert (refused.value.status, str(refused.value)) == (
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"Body larger than {WEBHOOK_MAX_BYTES} bytes.",
        )
        assert database_snapshot() == before

    def test_a_body_of_exactly_the_limit_is_read(self, vps_session):
        body = vps_body(padding="")
        body = body[:-1] + b',"pad":"' + b"x" * (WEBHOOK_MAX_BYTES - len(body) - 9) + b'"}'
        assert len(body) == WEBHOOK_MAX_BYTES

        outcome = vps_webhook_receive(body=body, signature=vps_sign(body))

        assert outcome.session.pk == vps_session.pk


WAHA_SECRET = "waha-refusals-secret"


def waha_post(client, event: dict):
    raw = json.dumps(event).encode()
    signature = hmac.new(WAHA_SECRET.encode(), raw, hashlib.sha512).hexdigest()
    return client.post(
        "/webhooks/whatsapp/",
        data=raw,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=signature,
    )


def waha_event(**changes) -> dict:
    event = {
        "event": "session.status",
        "session": "aurora-main",
        "payload": {"status": "WORKING"},
        "me": {"id": "5511987654321@c.us"},
    }
    return {**event, **changes}


@pytest.fixture
def waha_session(settings):
    settings.WHATSAPP_WEBHOOK_SECRET = WAHA_SECRET
    return WhatsAppSessionFactory(
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "aurora-main"},
    )


class TestWaha:
    @pytest.mark.parametrize(
        ("event", "reason"),
        [
            (waha_event(session=""), 'A session.status event needs a "session" name.'),
            (waha_event(session=7), 'A session.status event needs a "session" name.'),
            (
                waha_event(payload={"state": "WORKING"}),
                'A session.status event needs "payload": {"status": ...}.',
            ),
            (waha_event(id=""), '"id" must be a non-empty string.'),
            (waha_event(id=12), '"id" must be a non-empty string.'),
            (
                waha_event(timestamp="1764075600000"),
                '"timestamp" must be milliseconds since the epoch.',
            ),
            (waha_event(timestamp=10**20), '"timestamp" is out of range.'),
        ],
        ids=[
            "empty-session",
            "session-not-text",
            "no-status",
            "empty-id",
            "id-not-text",
            "timestamp-as-text",
            "timestamp-out-of-range",
        ],
    )
    def test_a_malformed_report_is_refused_saying_why(self, client, waha_session, event, reason):
        before = database_snapshot()

        response = waha_post(client, event)

        assert (response.status_code, response.json()) == (
            HTTPStatus.BAD_REQUEST,
            {"error": reason},
        )
        assert database_snapshot() == before

    def test_the_session_keeps_the_time_the_report_names(self, client, waha_session):
        # 2025-11-25 13:00:00.250 UTC, in WAHA's milliseconds since the epoch.
        response = waha_post(client, waha_event(timestamp=1764075600250))

        assert response.status_code == HTTPStatus.OK
        waha_session.refresh_from_db()
        assert waha_session.last_report_at == dt.datetime(
            2025, 11, 25, 13, 0, 0, 250000, tzinfo=dt.UTC
        )

    def test_without_a_secret_every_report_is_refused_saying_why(
        self, client, waha_session, settings
    ):
        settings.WHATSAPP_WEBHOOK_SECRET = ""
        before = database_snapshot()

        response = waha_post(client, waha_event())

        assert (response.status_code, response.json()) == (
            HTTPStatus.UNAUTHORIZED,
            {"error": "No webhook secret is configured."},
        )
        assert database_snapshot() == before

    def test_an_unsigned_report_is_refused_saying_why(self, client, waha_session):
        before = database_snapshot()

        response = client.post(
            "/webhooks/whatsapp/",
            data=json.dumps(waha_event()).encode(),
            content_type="application/json",
        )

        assert (response.status_code, response.json()) == (
            HTTPStatus.UNAUTHORIZED,
            {"error": "Missing X-Webhook-Hmac signature."},
        )
        assert database_snapshot() == before

    @pytest.mark.parametrize(
        ("raw", "status", "reason"),
        [
            (b"{not json", HTTPStatus.BAD_REQUEST, "Body is not valid JSON."),
            (b"[]", HTTPStatus.BAD_REQUEST, "Body is not a JSON object."),
            (b"[" * 60_000, HTTPStatus.BAD_REQUEST, "Body is nested too deeply."),
            (
                b'{"session": "aurora-main"}',
                HTTPStatus.BAD_REQUEST,
                'Body is not an object with an "event".',
            ),
            (
                b" " * WEBHOOK_MAX_BYTES + b"{}",
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"Body larger than {WEBHOOK_MAX_BYTES} bytes.",
            ),
            (
                json.dumps(waha_event(me="5511987654321")).encode(),
                HTTPStatus.BAD_REQUEST,
                '"me" must be null or an object.',
            ),
            (
                json.dumps(waha_event(me={"id": 5511987654321})).encode(),
                HTTPStatus.BAD_REQUEST,
                '"me.id" must be text.',
            ),
        ],
        ids=[
            "not-json",
            "not-an-object",
            "nested-too-deeply",
            "no-event",
            "too-large",
            "me-not-an-object",
            "me-id-not-text",
        ],
    )
    def test_a_body_it_cannot_read_is_refused_saying_why(
        self, client, waha_session, raw, status, reason
    ):
        before = database_snapshot()

        response = waha_post_raw(client, raw)

        assert (response.status_code, response.json()) == (status, {"error": reason})
        assert database_snapshot() == before

    def test_a_body_of_exactly_the_largest_size_is_accepted(self, client, waha_session):
        raw = json.dumps(waha_event()).encode()
        raw = raw[:-1] + b" " * (WEBHOOK_MAX_BYTES - len(raw)) + b"}"

        response = waha_post_raw(client, raw)

        assert len(raw) == WEBHOOK_MAX_BYTES
        assert response.status_code == HTTPStatus.OK
        waha_session.refresh_from_db()
        assert waha_session.status == Status.CONNECTED

    def test_another_event_is_acknowledged_by_name_and_changes_nothing(self, client, waha_session):
        before = database_snapshot()

        response = waha_post(client, waha_event(event="message"))

        assert (response.status_code, response.json()) == (
            HTTPStatus.OK,
            {"status": "ignored", "event": "message"},
        )
        assert database_snapshot() == before

    def test_a_name_no_session_has_is_paired_into_the_organization_its_metadata_names(
        self, client, waha_session
    ):
        organization = waha_session.organization

        response = waha_post(
            client,
            waha_event(session="paired-elsewhere", metadata={"organization": str(organization.pk)}),
        )

        assert response.status_code == HTTPStatus.OK
        paired = WhatsAppSession.objects.get(session_data__session_name="paired-elsewhere")
        assert (paired.organization_id, paired.status, paired.phone_number) == (
            organization.pk,
            Status.CONNECTED,
            "+5511987654321",
        )

    def test_metadata_that_is_not_an_object_names_no_organization(self, client, waha_session):
        before = database_snapshot()

        response = waha_post(
            client,
            waha_event(session="paired-elsewhere", metadata=str(waha_session.organization.pk)),
        )

        assert (response.status_code, response.json()) == (
            HTTPStatus.NOT_FOUND,
            {"error": "No live session is called 'paired-elsewhere'."},
        )
        assert database_snapshot() == before


def waha_post_raw(client, raw: bytes):
    return client.post(
        "/webhooks/whatsapp/",
        data=raw,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=hmac.new(WAHA_SECRET.encode(), raw, hashlib.sha512).hexdigest(),
    )


def test_a_status_this_version_does_not_know_is_acknowledged_by_event(client, waha_session):
    before = database_snapshot()

    response = waha_post(client, waha_event(payload={"status": "SCAN_QR_CODE_AGAIN"}))

    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {"status": "ignored", "event": "session.status"},
    )
    assert database_snapshot() == before

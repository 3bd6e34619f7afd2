"""Evolution API's webhook, /webhooks/evolution/: its bearer token, its bodies, its states."""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from http import HTTPStatus

import jwt
import pytest
from django.forms.models import model_to_dict

from sessions_app.models import SessionMigration, WhatsAppSession
from tests.factories import OrganizationFactory, WhatsAppSessionFactory, WorkshopFactory

pytestmark = [pytest.mark.django_db]

URL = "/webhooks/evolution/"
KEY = os.environ["EVOLUTION_WEBHOOK_JWT_KEY"]  # set by tests/env.py
PHONE_JID = "5511987654321@s.whatsapp.net"


def claims(**changes) -> dict:
    now = int(time.time())
    return {"iat": now, "exp": now + 600, "app": "evolution", "action": "webhook", **changes}


def token(key: str = KEY, algorithm: str = "HS256", **changes) -> str:
    return jwt.encode(claims(**changes), key, algorithm=algorithm)


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(value: dict) -> str:
    return base64url(json.dumps(value).encode())


def unsigned_token() -> str:
    """`alg: none`, built by hand: PyJWT's decode must never accept it."""
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims())}."


def hand_signed_token(
    payload: dict | None = None, *, key: str = KEY, alg: str = "HS256", digest=hashlib.sha256
) -> str:
    """A JWT built from RFC 7519 with `hmac` alone, as Evolution's jsonwebtoken signs it."""
    signing_input = f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload or claims())}"
    signature = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{base64url(signature)}"


def with_payload(token: str, payload: dict) -> str:
    """`token` with its claims replaced and its signature kept."""
    header, _claims, signature = token.split(".")
    return f"{header}.{part(payload)}.{signature}"


def connection_update(instance: str, state: str, *, wuid: str | None = None, **data) -> dict:
    body = {"instance": instance, "state": state, "statusReason": 200, **data}
    if wuid:
        body["wuid"] = wuid
    return {
        "event": "connection.update",
        "instance": instance,
        "data": body,
        "destination": "https://admin.example.org/webhooks/evolution/",
        "date_time": "2026-11-25T10:00:00.000Z",
        "sender": wuid,
        "server_url": "http://evolution:8080",
        "apikey": "instance-token",
    }


def post(client, body, *, authorization: str | None = None, headers: dict | None = None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = dict(headers or {})
    if authorization is None:
        authorization = f"Bearer {token()}"
    if authorization:
        headers["Authorization"] = authorization
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def snapshot() -> list[dict]:
    return [model_to_dict(s) for s in WhatsAppSession.objects.order_by("pk")]


@pytest.fixture
def session():
    return WhatsAppSessionFactory(
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "aurora-2"},
    )


class TestToken:
    def test_a_valid_token_applies_the_report(self, client, session):
        response = post(client, connection_update("aurora-2", "open", wuid=PHONE_JID))

        assert response.status_code == HTTPStatus.OK, response.content
        assert response.json() == {
            "status": "ok",
            "event": "connection.update",
            "session": str(session.pk),
            "state": "connected",
        }
        session.refresh_from_db()
        assert (session.status, session.phone_number) == ("connected", "+5511987654321")

    @pytest.mark.parametrize(
        ("authorization", "reason"),
        [
            (None, "Missing Authorization"),
            ("", "Missing Authorization"),
            ("Bearer ", "Missing Authorization"),
            (f"Basic {token()}", "Missing Authorization"),
            (f"Bearer {token(iat=int(time.time()) - 1200, exp=int(time.time()) - 600)}", "expired"),
            (f"Bearer {token(key='another-key-' + '0123456789abcdef' * 4)}", "signature"),
            (f"Bearer {unsigned_token()}", "HS256"),
            (f"Bearer {token(algorithm='HS512')}", "HS256"),
            (f"Bearer {token(algorithm='HS384')}", "HS256"),
            # Made when the test runs: made at import, a valid token would have expired
            # (ten minutes) before a long session reaches it.
            (lambda: f"Bearer {token(app='someone-else')}", "not an Evolution webhook token"),
            (lambda: f"Bearer {token(action='login')}", "not an Evolution webhook token"),
            (f"Bearer {jwt.encode({'app': 'evolution', 'action': 'webhook'}, KEY)}", "exp"),
            ("Bearer not.a.token", "Invalid bearer token"),
        ],
        ids=[
            "missing",
            "empty",
            "bearer-without-token",
            "not-bearer",
            "expired",
            "wrong-key",
            "alg-none",
            "hs512",
            "hs384",
            "wrong-app",
            "wrong-action",
            "no-expiry",
            "garbage",
        ],
    )
    def test_a_bad_token_is_401_and_changes_nothing(self, client, session, authorization, reason):
        if callable(authorization):
            authorization = authorization()
        before = snapshot()
        body = connection_update("aurora-2", "open", wuid=PHONE_JID)
        if authorization is None:
            response = client.post(URL, data=json.dumps(body), content_type="application/json")
        else:
            response = post(client, body, authorization=authorization)

        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert reason in response.json()["error"]
        assert snapshot() == before

    def test_a_token_signed_by_hand_with_the_key_is_accepted(self, client, session):
        authorization = f"Bearer {hand_signed_token()}"
        report = connection_update("aurora-2", "open", wuid=PHONE_JID)

        response = post(client, report, authorization=authorization)

        assert response.status_code == HTTPStatus.OK, response.content
        session.refresh_from_db()
        assert session.status == "connected"

    def test_a_token_a_few_seconds_past_its_expiry_is_accepted(self, client, session):
        # Evolution's clock and ours disagree by a few seconds.
        now = int(time.time())
        late = hand_signed_token(claims(iat=now - 605, exp=now - 5))
        report = connection_update("aurora-2", "open", wuid=PHONE_JID)
        assert post(client, report, authorization=f"Bearer {late}").status_code == HTTPStatus.OK

    @pytest.mark.parametrize(
        ("forge", "reason"),
        [
            (lambda: hand_signed_token(key=KEY + "x"), "signature"),
            (lambda: hand_signed_token(key=KEY[:-1]), "signature"),
            (lambda: hand_signed_token(alg="HS512", digest=hashlib.sha512), "HS256"),
            (lambda: hand_signed_token(alg="HS384", digest=hashlib.sha384), "HS256"),
            (lambda: hand_signed_token(digest=hashlib.sha512), "signature"),
            (lambda: hand_signed_token(digest=hashlib.sha1), "signature"),
            (
                lambda: with_payload(hand_signed_token(claims(action="login")), claims()),
                "signature",
            ),
            (
                lambda: with_payload(
                    hand_signed_token(claims(iat=int(time.time()) - 1200, exp=int(time.time()))),
                    claims(iat=int(time.time()) - 1200, exp=int(time.time()) + 3600),
                ),
                "signature",
            ),
            (lambda: hand_signed_token()[:-23], "signature"),  # its first 15 bytes
            (
                lambda: hand_signed_token(
                    claims(iat=int(time.time()) - 900, exp=int(time.time()) - 300)
                ),
                "expired",
            ),
        ],
        ids=[
            "another-key",
            "key-one-character-short",
            "hs512",
            "hs384",
            "hs256-header-sha512-signature",
            "sha1-signature",
            "payload-changed",
            "expiry-pushed-back",
            "signature-halved",
            "expired-past-the-leeway",
        ],
    )
    def test_a_hand_built_forgery_is_401_and_changes_nothing(self, client, session, forge, reason):
        before = snapshot()
        report = connection_update("aurora-2", "open", wuid=PHONE_JID)

        response = post(client, report, authorization=f"Bearer {forge()}")

        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert reason in response.json()["error"]
        assert snapshot() == before

    def test_no_configured_key_refuses_every_call(self, client, session, settings):
        settings.EVOLUTION_WEBHOOK_JWT_KEY = ""
        before = snapshot()
        response = post(client, connection_update("aurora-2", "open", wuid=PHONE_JID))
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert "EVOLUTION_WEBHOOK_JWT_KEY" in response.json()["error"]
        assert snapshot() == before


class TestBody:
    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"\xff\xfe",
            b"[" * 60000,
            b"[]",
            b'"connection.update"',
            {"instance": "aurora-2", "data": {"state": "open"}},
            {"event": 7, "instance": "aurora-2", "data": {"state": "open"}},
            {"event": "connection.update", "data": {"state": "open"}},
            {"event": "connection.update", "instance": "", "data": {"state": "open"}},
            {"event": "connection.update", "instance": ["aurora-2"], "data": {"state": "open"}},
            {"event": "connection.update", "instance": "aurora-2"},
            {"event": "connection.update", "instance": "aurora-2", "data": "open"},
            {"event": "connection.update", "instance": "aurora-2", "data": {}},
            {"event": "connection.update", "instance": "aurora-2", "data": {"state": None}},
            {"event": "connection.update", "instance": "aurora-2", "data": {"state": 1}},
            connection_update("aurora-2", "open", wuid=None)
            | {"data": {"state": "open", "wuid": 5}},
            connection_update("aurora-2", "open") | {"data": {"state": "open", "instance": "x"}},
        ],
        ids=[
            "not-json",
            "not-utf8",
            "deep-nesting",
            "a-list",
            "a-string",
            "no-event",
            "event-not-a-string",
            "no-instance",
            "empty-instance",
            "instance-not-a-string",
            "no-data",
            "data-not-an-object",
            "no-state",
            "null-state",
            "state-not-a-string",
            "wuid-not-a-string",
            "data-names-another-instance",
        ],
    )
    def test_a_malformed_body_is_400_and_changes_nothing(self, client, session, body):
        before = snapshot()
        response = post(client, body)
        assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
        assert response.json()["error"]
        assert "\n" not in response.json()["error"]
        assert snapshot() == before

    def test_an_oversize_body_is_413_and_changes_nothing(self, client, session):
        before = snapshot()
        body = connection_update("aurora-2", "open", wuid=PHONE_JID, padding="x" * 70_000)
        response = post(client, body)
        assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        assert snapshot() == before

    def test_an_unknown_instance_without_metadata_is_404_and_changes_nothing(self, client, session):
        before = snapshot()
        response = post(client, connection_update("nobody", "open", wuid=PHONE_JID))
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert "nobody" in response.json()["error"]
        assert snapshot() == before

    def test_an_unknown_instance_whose_metadata_names_an_organization_creates_it(self, client):
        organization = OrganizationFactory()
        headers = {
            "X-Metadata-Organization": str(organization.pk),
            "X-Metadata-Session": str(uuid.uuid4()),
        }
        response = post(
            client, connection_update("started-elsewhere", "open", wuid=PHONE_JID), headers=headers
        )

        assert response.status_code == HTTPStatus.OK, response.content
        session = WhatsAppSession.objects.get(pk=headers["X-Metadata-Session"])
        assert (session.organization_id, session.status, session.phone_number) == (
            organization.pk,
            "connected",
            "+5511987654321",
        )
        assert session.gateway_session_name == "started-elsewhere"

    def test_metadata_naming_no_organization_is_404_and_creates_nothing(self, client, session):
        before = snapshot()
        headers = {"X-Metadata-Organization": str(uuid.uuid4())}
        report = connection_update("nobody", "open", wuid=PHONE_JID)
        response = post(client, report, headers=headers)
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert snapshot() == before

    @pytest.mark.parametrize("event", ["messages.upsert", "qrcode.updated", "send.message"])
    def test_other_events_are_acknowledged_and_ignored(self, client, session, event):
        before = snapshot()
        body = {"event": event, "instance": "aurora-2", "data": {"state": "close"}}
        response = post(client, body)
        assert response.status_code == HTTPStatus.OK
        assert response.json() == {"status": "ignored", "event": event}
        assert snapshot() == before

    def test_an_unknown_state_is_acknowledged_and_ignored(self, client, session):
        before = snapshot()
        response = post(client, connection_update("aurora-2", "hibernating"))
        assert response.status_code == HTTPStatus.OK
        assert response.json()["status"] == "ignored"
        assert snapshot() == before

    def test_get_is_not_allowed(self, client):
        assert client.get(URL).status_code == HTTPStatus.METHOD_NOT_ALLOWED


class TestStates:
    def test_connecting_then_open_then_close(self, client, session):
        assert post(client, connection_update("aurora-2", "connecting")).status_code == 200
        session.refresh_from_db()
        assert session.status == "connecting"

        assert (
            post(client, connection_update("aurora-2", "open", wuid=PHONE_JID)).status_code == 200
        )
        session.refresh_from_db()
        assert (session.status, session.phone_number) == ("connected", "+5511987654321")

        # Evolution sends no event time: a close received after the open still disconnects.
        closed = connection_update("aurora-2", "close", statusReason=401)
        assert post(client, closed).status_code == 200
        session.refresh_from_db()
        assert (session.status, session.phone_number) == ("disconnected", "+5511987654321")
        assert session.disconnected_at is not None

    def test_an_open_with_a_linked_identity_connects_and_keeps_the_phone(self, client, session):
        session.phone_number = "+5511987654321"
        session.save(update_fields=["phone_number"])
        report = connection_update("aurora-2", "open", wuid="123123123123@lid")
        assert post(client, report).status_code == 200
        session.refresh_from_db()
        assert (session.status, session.phone_number) == ("connected", "+5511987654321")
        assert session.session_data["lid"] == "123123123123@lid"

    def test_the_phone_is_read_only_from_an_open_report(self, client, session):
        report = connection_update("aurora-2", "connecting", wuid=PHONE_JID)
        assert post(client, report).status_code == 200
        session.refresh_from_db()
        assert (session.status, session.phone_number) == ("connecting", None)

    def test_a_duplicate_open_moves_nothing_more(self, client):
        old = WhatsAppSessionFactory(
            status=WhatsAppSession.Status.DISCONNECTED,
            phone_number="+5511987654321",
            session_data={"session_name": "aurora-1"},
        )
        new = WhatsAppSessionFactory(
            organization=old.organization,
            status=WhatsAppSession.Status.CONNECTING,
            phone_number=None,
            session_data={"session_name": "aurora-2"},
        )
        workshop = WorkshopFactory(organization=old.organization, whatsapp_session=old)
        opened = connection_update("aurora-2", "open", wuid=PHONE_JID)

        assert post(client, opened).status_code == 200
        assert post(client, opened).status_code == 200

        workshop.refresh_from_db()
        assert workshop.whatsapp_session_id == new.pk
        assert SessionMigration.objects.filter(new_session=new).count() == 1

    def test_an_open_naming_another_phone_keeps_the_phone_and_makes_a_new_session(self, client):
        session = WhatsAppSessionFactory(
            status=WhatsAppSession.Status.DISCONNECTED,
            phone_number="+5511987654321",
            session_data={"session_name": "aurora-2"},
        )
        workshop = WorkshopFactory(organization=session.organization, whatsapp_session=session)

        response = post(
            client, connection_update("aurora-2", "open", wuid="5521912345678@s.whatsapp.net")
        )

        assert response.status_code == HTTPStatus.OK
        session.refresh_from_db()
        new = WhatsAppSession.objects.exclude(pk=session.pk).get()
        assert (session.status, session.phone_number) == ("disconnected", "+5511987654321")
        assert (new.status, new.phone_number, new.gateway_session_name) == (
            "connected",
            "+5521912345678",
            "aurora-2",
        )
        # The phones differ: nothing moved.
        workshop.refresh_from_db()
        assert workshop.whatsapp_session_id == session.pk
        assert not SessionMigration.objects.exists()

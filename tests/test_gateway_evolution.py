"""The Evolution API backend against a fake Evolution server over HTTP on loopback."""

import datetime as dt
import email.utils

import pytest

from sessions_app.gateway import (
    GatewayGroup,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionNotReadyError,
    SessionStatus,
    get_gateway,
)
from tests.fake_evolution import PAIRING_CODE, QR_PNG, FakeEvolution, FakeInstance, error_body

EVOLUTION = "sessions_app.gateway.evolution.GatewayBackend"
GROUP = "120363012345678901@g.us"


@pytest.fixture
def evolution():
    with FakeEvolution(api_key="global-key") as server:
        server.instances["aurora-2"] = FakeInstance(name="aurora-2", state="open")
        yield server


def backend(server: FakeEvolution, **kwargs):
    options = {"base_url": server.url, "api_key": "global-key", "timeout": 2.0, **kwargs}
    return get_gateway(EVOLUTION, **options)


def send(server: FakeEvolution, **kwargs) -> str:
    return backend(server, **kwargs).send_text(session_name="aurora-2", chat_id=GROUP, text="Hi")


class TestSendText:
    def test_posts_number_and_text_with_the_apikey_and_returns_key_id(self, evolution):
        message_id = backend(evolution).send_text(
            session_name="aurora-2", chat_id=GROUP, text="See you at 7"
        )

        (request,) = evolution.sends()
        assert request.method == "POST"
        assert request.path == "/message/sendText/aurora-2"
        assert request.json == {"number": GROUP, "text": "See you at 7"}
        assert request.headers["apikey"] == "global-key"
        assert message_id == evolution.message_ids[-1]

    def test_an_instances_own_token_is_accepted_as_apikey(self, evolution):
        token = evolution.instances["aurora-2"].token
        assert send(evolution, api_key=token)

    def test_a_2xx_without_key_id_is_accepted_without_an_id(self, evolution):
        evolution.script = [(201, {"status": "PENDING", "key": {"remoteJid": GROUP}})]
        assert send(evolution) == ""

    def test_a_closed_instance_makes_the_message_wait(self, evolution):
        evolution.instances["aurora-2"].state = "close"
        with pytest.raises(SessionNotReadyError, match="Connection Closed"):
            send(evolution)
        assert evolution.sends() == []

    def test_a_500_connection_closed_also_waits_for_the_instance(self, evolution):
        evolution.script = [(500, error_body(500, "Internal Server Error", "Connection Closed"))]
        with pytest.raises(SessionNotReadyError):
            send(evolution)


class TestErrors:
    def test_wrong_apikey_is_permanent_401(self, evolution):
        with pytest.raises(PermanentGatewayError, match="401: Unauthorized"):
            send(evolution, api_key="wrong")

    def test_unknown_instance_is_permanent_404_with_evolutions_message(self, evolution):
        with pytest.raises(PermanentGatewayError, match='404: The "gone" instance does not exist'):
            backend(evolution).send_text(session_name="gone", chat_id=GROUP, text="t")

    @pytest.mark.parametrize("status", [429, 408])
    def test_rate_limit_is_retryable_after_retry_after_seconds(self, evolution, status):
        evolution.script = [
            (status, error_body(status, "Too Many", "slow down"), {"Retry-After": "7"})
        ]
        with pytest.raises(RetryableGatewayError) as caught:
            send(evolution)
        assert not isinstance(caught.value, SessionNotReadyError)
        assert caught.value.retry_after == dt.timedelta(seconds=7)
        assert evolution.sends() == []

    def test_retry_after_as_an_http_date(self, evolution):
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
        date = email.utils.format_datetime(later, usegmt=True)
        evolution.script = [(429, error_body(429, "Too Many", "slow down"), {"Retry-After": date})]
        with pytest.raises(RetryableGatewayError) as caught:
            send(evolution)
        assert dt.timedelta(seconds=60) < caught.value.retry_after <= dt.timedelta(minutes=2)

    def test_429_without_retry_after_leaves_the_wait_to_the_dispatcher(self, evolution):
        evolution.script = [(429, error_body(429, "Too Many", "slow down"))]
        with pytest.raises(RetryableGatewayError) as caught:
            send(evolution)
        assert caught.value.retry_after is None

    def test_5xx_is_retryable_and_a_second_try_succeeds(self, evolution):
        evolution.script = [(502, error_body(502, "Bad Gateway", "upstream"))]
        gateway = backend(evolution)
        with pytest.raises(RetryableGatewayError, match="502"):
            gateway.send_text(session_name="aurora-2", chat_id=GROUP, text="t")
        assert gateway.send_text(session_name="aurora-2", chat_id=GROUP, text="t")
        assert len(evolution.sends()) == 1

    def test_timeout_is_retryable(self, evolution):
        evolution.script = [1.5]
        with pytest.raises(RetryableGatewayError, match="timed out"):
            send(evolution, timeout=0.3)
        assert evolution.sends() == []

    def test_connection_refused_is_retryable(self):
        gateway = get_gateway(EVOLUTION, base_url="http://127.0.0.1:9", api_key="k", timeout=1)
        with pytest.raises(RetryableGatewayError, match="unreachable"):
            gateway.send_text(session_name="s", chat_id=GROUP, text="t")

    def test_other_4xx_is_permanent(self, evolution):
        evolution.script = [(400, error_body(400, "Bad Request", ["Text is required"]))]
        with pytest.raises(PermanentGatewayError, match="400: Text is required") as caught:
            send(evolution)
        assert not isinstance(caught.value, RetryableGatewayError)

    def test_non_json_answer_is_permanent(self, evolution):
        evolution.script = [(200, b"<html>proxy error</html>")]
        with pytest.raises(PermanentGatewayError, match="malformed JSON"):
            backend(evolution).get_status(session_name="aurora-2")

    def test_a_send_accepted_with_a_body_that_is_not_json_is_sent_without_an_id(self, evolution):
        evolution.script = [(201, b"<html>accepted</html>")]
        assert send(evolution) == ""


class TestGetStatus:
    @pytest.mark.parametrize(
        ("state", "status"),
        [("connecting", "connecting"), ("close", "disconnected"), ("refused", "disconnected")],
    )
    def test_states_map_to_the_products_without_a_phone(self, evolution, state, status):
        evolution.instances["aurora-2"] = FakeInstance(
            name="aurora-2", state=state, owner_jid="5511987654321@s.whatsapp.net"
        )
        reported = backend(evolution).get_status(session_name="aurora-2")
        assert reported == SessionStatus(status=status, phone_number=None, raw_status=state)

    def test_open_reads_the_owner_jid_as_an_e164_phone(self, evolution):
        evolution.instances["aurora-2"].owner_jid = "5511987654321@s.whatsapp.net"
        reported = backend(evolution).get_status(session_name="aurora-2")
        assert reported == SessionStatus(
            status="connected", phone_number="+5511987654321", raw_status="open"
        )
        paths = [r.path for r in evolution.requests]
        assert paths == [
            "/instance/connectionState/aurora-2",
            "/instance/fetchInstances?instanceName=aurora-2",
        ]

    def test_an_owner_that_is_not_a_phone_is_kept_apart(self, evolution):
        evolution.instances["aurora-2"].owner_jid = "123123123@lid"
        reported = backend(evolution).get_status(session_name="aurora-2")
        assert (reported.status, reported.phone_number) == ("connected", None)
        assert reported.identities == {"lid": "123123123@lid"}

    def test_unknown_instance_is_permanent(self, evolution):
        with pytest.raises(PermanentGatewayError, match="404"):
            backend(evolution).get_status(session_name="nobody")

    def test_unknown_state_is_permanent(self, evolution):
        evolution.script = [(200, {"instance": {"instanceName": "aurora-2", "state": "weird"}})]
        with pytest.raises(PermanentGatewayError, match="unknown connection state 'weird'"):
            backend(evolution).get_status(session_name="aurora-2")


class TestLifecycle:
    def start(self, server, name="aurora-3"):
        backend(server).start_session(
            name,
            webhook_url="https://admin.example.org/webhooks/evolution/",
            webhook_secret="jwt-key-0123456789abcdef0123456789abcdef",
            metadata={"organization": "org-id", "session": "session-id"},
        )

    def test_start_creates_the_instance_with_its_webhook_and_jwt_key(self, evolution):
        self.start(evolution)

        create = evolution.requests[-1]
        assert (create.method, create.path) == ("POST", "/instance/create")
        assert create.json == {
            "instanceName": "aurora-3",
            "qrcode": True,
            "integration": "WHATSAPP-BAILEYS",
            "webhook": {
                "enabled": True,
                "url": "https://admin.example.org/webhooks/evolution/",
                "events": ["CONNECTION_UPDATE"],
                "byEvents": False,
                "base64": False,
                "headers": {
                    "jwt_key": "jwt-key-0123456789abcdef0123456789abcdef",
                    "X-Metadata-Organization": "org-id",
                    "X-Metadata-Session": "session-id",
                },
            },
        }
        assert evolution.instances["aurora-3"].state == "connecting"

    def test_start_on_an_existing_instance_updates_its_webhook_and_connects(self, evolution):
        evolution.instances["aurora-3"] = FakeInstance(name="aurora-3", webhook={"url": "old"})
        self.start(evolution)

        calls = [(r.method, r.path) for r in evolution.requests]
        assert calls == [
            ("POST", "/instance/create"),
            ("POST", "/webhook/set/aurora-3"),
            ("GET", "/instance/connect/aurora-3"),
        ]
        webhook = evolution.instances["aurora-3"].webhook
        assert webhook["url"] == "https://admin.example.org/webhooks/evolution/"
        assert webhook["headers"]["jwt_key"] == "jwt-key-0123456789abcdef0123456789abcdef"
        assert evolution.instances["aurora-3"].state == "connecting"

    def test_start_refused_for_another_reason_is_permanent(self, evolution):
        evolution.script = [(400, error_body(400, "Bad Request", ["Invalid integration"]))]
        with pytest.raises(PermanentGatewayError, match="Invalid integration"):
            self.start(evolution)
        assert "aurora-3" not in evolution.instances

    def test_get_qr_decodes_the_base64_png(self, evolution):
        evolution.instances["aurora-3"] = FakeInstance(name="aurora-3")
        assert backend(evolution).get_qr("aurora-3") == QR_PNG
        assert evolution.requests[-1].path == "/instance/connect/aurora-3"

    def test_get_qr_of_a_connected_instance_is_refused(self, evolution):
        with pytest.raises(PermanentGatewayError, match="connected: no QR code"):
            backend(evolution).get_qr("aurora-2")

    def test_get_qr_that_is_not_a_png_is_permanent(self, evolution):
        evolution.script = [(200, {"base64": "data:image/png;base64,aGVsbG8=", "count": 1})]
        with pytest.raises(PermanentGatewayError, match="not a PNG"):
            backend(evolution).get_qr("aurora-2")

    def test_connect_answering_its_own_error_is_permanent(self, evolution):
        evolution.script = [(200, {"error": True, "message": "Error: boom"})]
        with pytest.raises(PermanentGatewayError, match="Error: boom"):
            backend(evolution).get_qr("aurora-2")

    def test_pairing_code_asks_connect_with_the_number_in_digits(self, evolution):
        evolution.instances["aurora-3"] = FakeInstance(name="aurora-3")
        code = backend(evolution).request_pairing_code("aurora-3", "+55 11 98765-4321")
        assert code == PAIRING_CODE
        assert evolution.requests[-1].path == "/instance/connect/aurora-3?number=5511987654321"

    def test_pairing_code_not_ready_yet_is_retryable(self, evolution):
        evolution.script = [(200, {"pairingCode": None, "code": "2@x", "base64": "", "count": 1})]
        with pytest.raises(RetryableGatewayError, match="no pairing code"):
            backend(evolution).request_pairing_code("aurora-2", "+5511987654321")

    def test_logout_deletes_the_session_on_the_gateway(self, evolution):
        backend(evolution).logout("aurora-2")
        assert (evolution.requests[-1].method, evolution.requests[-1].path) == (
            "DELETE",
            "/instance/logout/aurora-2",
        )
        assert evolution.instances["aurora-2"].state == "close"

    def test_logout_of_an_instance_already_closed_is_done(self, evolution):
        evolution.instances["aurora-2"].state = "close"
        backend(evolution).logout("aurora-2")
        assert evolution.instances["aurora-2"].state == "close"

    def test_logout_of_an_unknown_instance_is_permanent(self, evolution):
        with pytest.raises(PermanentGatewayError, match="404"):
            backend(evolution).logout("nobody")


class TestListGroups:
    def test_lists_every_group_and_marks_community_parents(self, evolution):
        evolution.groups["aurora-2"] = [
            {"id": GROUP, "subject": "Workshop", "announce": False, "isCommunity": False},
            {"id": "120363000000000001@g.us", "subject": "Aurora", "isCommunity": True},
            {"id": "120363000000000002@g.us", "subject": "News", "announce": True},
            {"id": "120363000000000003@g.us", "subject": "Avisos", "isCommunityAnnounce": True},
        ]
        groups = backend(evolution).list_groups("aurora-2")
        assert groups == [
            GatewayGroup(group_jid=GROUP, name="Workshop"),
            GatewayGroup(group_jid="120363000000000001@g.us", name="Aurora", is_community=True),
            GatewayGroup(group_jid="120363000000000002@g.us", name="News", is_announcement=True),
            GatewayGroup(group_jid="120363000000000003@g.us", name="Avisos", is_announcement=True),
        ]
        path = evolution.requests[-1].path
        assert path == "/group/fetchAllGroups/aurora-2?getParticipants=false"

    def test_a_group_without_id_is_permanent(self, evolution):
        evolution.script = [(200, [{"subject": "no id"}])]
        with pytest.raises(PermanentGatewayError, match="without an id"):
            backend(evolution).list_groups("aurora-2")


@pytest.mark.parametrize(
    ("public_url", "evolution_url", "waha_url"),
    [
        (
            "https://admin.example.org/webhooks/whatsapp/",
            "https://admin.example.org/webhooks/evolution/",
            "https://admin.example.org/webhooks/whatsapp/",
        ),
        (
            "https://example.org/wsa/webhooks/evolution/",
            "https://example.org/wsa/webhooks/evolution/",
            "https://example.org/wsa/webhooks/whatsapp/",
        ),
        (
            "https://hooks.example.org/in",
            "https://hooks.example.org/in",
            "https://hooks.example.org/in",
        ),
    ],
)
def test_each_backend_tells_the_gateway_its_own_webhook_and_secret(
    settings, public_url, evolution_url, waha_url
):
    settings.WHATSAPP_WEBHOOK_PUBLIC_URL = public_url
    settings.EVOLUTION_WEBHOOK_JWT_KEY = "jwt-key-" + "0123456789abcdef" * 2
    gateway = get_gateway(EVOLUTION, base_url="http://127.0.0.1:9")
    assert gateway.webhook_url() == evolution_url
    assert gateway.webhook_secret() == settings.EVOLUTION_WEBHOOK_JWT_KEY
    waha = get_gateway("sessions_app.gateway.waha.GatewayBackend", base_url="http://127.0.0.1:9")
    assert waha.webhook_url() == waha_url
    assert waha.webhook_secret() == settings.WHATSAPP_WEBHOOK_SECRET

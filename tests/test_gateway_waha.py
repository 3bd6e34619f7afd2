"""The WAHA backend against a real HTTP server on loopback."""

import pytest

from sessions_app.gateway import PermanentGatewayError, RetryableGatewayError, get_gateway, locmem
from sessions_app.gateway.base import SessionStatus
from tests.fake_waha import FakeWaha

WAHA = "sessions_app.gateway.waha.GatewayBackend"


@pytest.fixture
def waha():
    with FakeWaha(api_key="secret-key") as server:
        yield server


def backend(server: FakeWaha, **kwargs):
    options = {"base_url": server.url, "api_key": "secret-key", "timeout": 2.0, **kwargs}
    return get_gateway(WAHA, **options)


class TestSendText:
    def test_posts_session_chat_and_text_with_the_api_key(self, waha):
        message_id = backend(waha).send_text(
            session_name="org-main", chat_id="120363012345678901@g.us", text="See you at 7"
        )

        (request,) = waha.sends()
        assert request.json == {
            "session": "org-main",
            "chatId": "120363012345678901@g.us",
            "text": "See you at 7",
        }
        assert request.headers["X-Api-Key"] == "secret-key"
        assert message_id.startswith("true_120363012345678901@g.us_")

    def test_serialized_id_object_is_read(self, waha):
        waha.script = [(201, {"id": {"_serialized": "true_x@g.us_ABC", "fromMe": True}})]
        assert backend(waha).send_text(session_name="s", chat_id="x@g.us", text="t") == (
            "true_x@g.us_ABC"
        )

    def test_5xx_is_retryable_and_a_second_try_succeeds(self, waha):
        waha.script = [(502, {"message": "Bad gateway"})]
        gateway = backend(waha)

        with pytest.raises(RetryableGatewayError, match="502"):
            gateway.send_text(session_name="s", chat_id="x@g.us", text="t")
        assert gateway.send_text(session_name="s", chat_id="x@g.us", text="t")
        assert len(waha.requests) == 2
        assert len(waha.sends()) == 1

    def test_timeout_is_retryable(self, waha):
        waha.script = [1.5]
        with pytest.raises(RetryableGatewayError, match="timed out"):
            backend(waha, timeout=0.3).send_text(session_name="s", chat_id="x@g.us", text="t")
        assert waha.sends() == []

    def test_connection_refused_is_retryable(self):
        gateway = get_gateway(WAHA, base_url="http://127.0.0.1:9", api_key="k", timeout=1)
        with pytest.raises(RetryableGatewayError, match="unreachable"):
            gateway.send_text(session_name="s", chat_id="x@g.us", text="t")

    def test_401_is_permanent_with_the_gateways_message(self, waha):
        with pytest.raises(PermanentGatewayError, match="401: Unauthorized"):
            backend(waha, api_key="wrong").send_text(session_name="s", chat_id="x@g.us", text="t")

    def test_404_is_permanent_with_the_gateways_message(self, waha):
        waha.script = [(404, {"message": "Session 'gone' does not exist"})]
        with pytest.raises(PermanentGatewayError, match="Session 'gone' does not exist"):
            backend(waha).send_text(session_name="gone", chat_id="x@g.us", text="t")

    @pytest.mark.parametrize("answer", [b"{not json", b"OK", {"sent": True}, {"id": None}])
    def test_an_accepted_send_without_an_id_is_sent_without_one(self, waha, answer):
        waha.script = [(201, answer)]
        assert backend(waha).send_text(session_name="s", chat_id="x@g.us", text="t") == ""


class TestGetStatus:
    @pytest.mark.parametrize(
        ("waha_status", "status"),
        [
            ("WORKING", "connected"),
            ("STARTING", "connecting"),
            ("SCAN_QR_CODE", "connecting"),
            ("STOPPED", "disconnected"),
            ("FAILED", "disconnected"),
        ],
    )
    def test_statuses_map_to_the_products(self, waha, waha_status, status):
        waha.statuses["org-main"] = {"status": waha_status, "me": None}
        assert backend(waha).get_status(session_name="org-main") == SessionStatus(
            status=status, phone_number=None, raw_status=waha_status
        )

    def test_phone_comes_from_me_id(self, waha):
        waha.statuses["org-main"] = {
            "status": "WORKING",
            "me": {"id": "5511987654321@c.us", "pushName": "Aurora"},
        }
        reported = backend(waha).get_status(session_name="org-main")
        assert reported.phone_number == "5511987654321@c.us"
        assert waha.requests[-1].path == "/api/sessions/org-main"

    def test_unknown_session_is_permanent(self, waha):
        with pytest.raises(PermanentGatewayError, match="404"):
            backend(waha).get_status(session_name="nobody")


class TestLocmem:
    def test_outbox_records_session_chat_and_text(self):
        locmem.outbox.clear()
        get_gateway().send_text(session_name="s1", chat_id="1@g.us", text="hi")
        (sent,) = locmem.outbox
        assert (sent.session_name, sent.chat_id, sent.text) == ("s1", "1@g.us", "hi")
        locmem.outbox.clear()

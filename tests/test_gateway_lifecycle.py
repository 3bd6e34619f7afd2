"""The pairing lifecycle of each backend: start, QR code, pairing code, log-out, and a scan."""

import hashlib
import hmac
import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from sessions_app.gateway import (
    PermanentGatewayError,
    RetryableGatewayError,
    SessionNotReadyError,
    console,
    get_gateway,
    locmem,
)
from tests.fake_waha import FakeWaha

WAHA = "sessions_app.gateway.waha.GatewayBackend"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METADATA = {"organization": "org-id", "session": "session-id"}


@pytest.fixture
def waha():
    with FakeWaha(api_key="secret-key") as server:
        yield server


def backend(server: FakeWaha):
    return get_gateway(WAHA, base_url=server.url, api_key="secret-key", timeout=2.0)


def start(gateway, name="aurora-1f2e3d4c", url="https://admin.example.org/webhooks/whatsapp/"):
    gateway.start_session(name, webhook_url=url, webhook_secret="hmac-key", metadata=METADATA)


class TestWahaStartSession:
    def test_creates_and_starts_with_webhook_hmac_and_metadata(self, waha):
        start(backend(waha))

        create = next(r for r in waha.requests if r.method == "POST")
        assert (create.path, create.headers["X-Api-Key"]) == ("/api/sessions", "secret-key")
        assert create.json == {
            "name": "aurora-1f2e3d4c",
            "start": True,
            "config": {
                "metadata": METADATA,
                "webhooks": [
                    {
                        "url": "https://admin.example.org/webhooks/whatsapp/",
                        "events": ["session.status"],
                        "hmac": {"key": "hmac-key"},
                    }
                ],
            },
        }
        assert waha.statuses["aurora-1f2e3d4c"]["status"] == "SCAN_QR_CODE"

    def test_an_existing_session_gets_the_new_config_and_is_started(self, waha):
        gateway = backend(waha)
        start(gateway, url="https://old.example.org/webhooks/whatsapp/")
        waha.statuses["aurora-1f2e3d4c"] = {"status": "STOPPED"}
        waha.requests.clear()

        start(gateway)

        assert [(r.method, r.path) for r in waha.requests] == [
            ("GET", "/api/sessions/aurora-1f2e3d4c"),
            ("PUT", "/api/sessions/aurora-1f2e3d4c"),
            ("POST", "/api/sessions/aurora-1f2e3d4c/start"),
        ]
        webhook = waha.sessions["aurora-1f2e3d4c"]["webhooks"][0]
        assert webhook["url"] == "https://admin.example.org/webhooks/whatsapp/"
        assert waha.statuses["aurora-1f2e3d4c"]["status"] == "SCAN_QR_CODE"

    def test_a_refusal_is_permanent_with_the_gateways_reason(self, waha):
        waha.script.append((HTTPStatus.NOT_FOUND, {"message": "Not found"}))  # the existence check
        waha.script.append((HTTPStatus.UNPROCESSABLE_ENTITY, {"message": "Invalid name"}))

        with pytest.raises(PermanentGatewayError, match="422: Invalid name"):
            start(backend(waha))
        assert waha.sessions == {}

    def test_gateway_down_is_retryable(self):
        with FakeWaha() as stopped:
            url = stopped.url
        gateway = get_gateway(WAHA, base_url=url, api_key="", timeout=1.0)
        with pytest.raises(RetryableGatewayError, match="unreachable"):
            start(gateway)

    def test_without_a_webhook_secret_nothing_is_sent(self, waha):
        with pytest.raises(PermanentGatewayError, match="WHATSAPP_WEBHOOK_SECRET"):
            backend(waha).start_session(
                "aurora-1", webhook_url="https://x/", webhook_secret="", metadata={}
            )
        assert waha.requests == []


class TestWahaPairing:
    def test_qr_is_a_png_asked_for_as_an_image(self, waha):
        gateway = backend(waha)
        start(gateway)

        png = gateway.get_qr("aurora-1f2e3d4c")

        assert png.startswith(PNG_SIGNATURE)
        qr = waha.requests[-1]
        assert (qr.path, qr.headers["Accept"]) == ("/api/aurora-1f2e3d4c/auth/qr", "image/png")

    def test_qr_of_a_session_that_is_not_waiting_is_refused(self, waha):
        gateway = backend(waha)
        start(gateway)
        waha.statuses["aurora-1f2e3d4c"] = {"status": "WORKING"}
        with pytest.raises(SessionNotReadyError, match="WORKING, not SCAN_QR_CODE"):
            gateway.get_qr("aurora-1f2e3d4c")

    def test_qr_answered_as_json_is_refused(self, waha):
        waha.script.append((HTTPStatus.OK, {"mimetype": "image/png", "data": "..."}))
        with pytest.raises(PermanentGatewayError, match="without a PNG"):
            backend(waha).get_qr("aurora-1f2e3d4c")

    def test_pairing_code_for_the_phone_in_digits(self, waha):
        gateway = backend(waha)
        start(gateway)

        code = gateway.request_pairing_code("aurora-1f2e3d4c", "+5511987654321")

        assert code == "ABCD-EFGH"
        request = waha.requests[-1]
        assert request.path == "/api/aurora-1f2e3d4c/auth/request-code"
        assert request.json == {"phoneNumber": "5511987654321"}

    def test_logout_logs_out_then_stops(self, waha):
        gateway = backend(waha)
        start(gateway)
        waha.requests.clear()

        gateway.logout("aurora-1f2e3d4c")

        assert [(r.method, r.path) for r in waha.requests] == [
            ("POST", "/api/sessions/aurora-1f2e3d4c/logout"),
            ("POST", "/api/sessions/aurora-1f2e3d4c/stop"),
        ]
        assert waha.statuses["aurora-1f2e3d4c"]["status"] == "STOPPED"

    def test_logout_of_an_unknown_session_is_permanent(self, waha):
        with pytest.raises(PermanentGatewayError, match="404"):
            backend(waha).logout("nobody")


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_fake_scan_posts_a_signed_report_with_the_metadata(waha):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    Thread(target=receiver.serve_forever, daemon=True).start()
    _Receiver.received = []
    try:
        start(backend(waha), url=f"http://127.0.0.1:{receiver.server_address[1]}/hook/")
        response = waha.scan("aurora-1f2e3d4c", "+5511987654321")
    finally:
        receiver.shutdown()
        receiver.server_close()

    assert response.status_code == HTTPStatus.OK
    ((headers, body),) = _Receiver.received
    expected = hmac.new(b"hmac-key", body, hashlib.sha512).hexdigest()
    assert headers["X-Webhook-Hmac"] == expected
    event = json.loads(body)
    assert event["event"] == "session.status"
    assert event["session"] == "aurora-1f2e3d4c"
    assert event["metadata"] == METADATA
    assert event["me"]["id"] == "5511987654321@c.us"
    assert event["payload"] == {"status": "WORKING"}
    assert backend(waha).get_status(session_name="aurora-1f2e3d4c").status == "connected"


class TestLocmem:
    @pytest.fixture(autouse=True)
    def clean(self):
        locmem.reset()
        yield
        locmem.reset()

    def test_started_session_waits_for_a_scan_then_reports_the_phone(self):
        gateway = get_gateway("sessions_app.gateway.locmem.GatewayBackend")
        start(gateway)

        assert locmem.started["aurora-1f2e3d4c"].metadata == METADATA
        assert gateway.get_status(session_name="aurora-1f2e3d4c").status == "connecting"
        assert gateway.get_qr("aurora-1f2e3d4c").startswith(PNG_SIGNATURE)

        locmem.scan("aurora-1f2e3d4c", "+5511987654321")

        reported = gateway.get_status(session_name="aurora-1f2e3d4c")
        assert (reported.status, reported.phone_number) == ("connected", "+5511987654321")
        gateway.logout("aurora-1f2e3d4c")
        assert gateway.get_status(session_name="aurora-1f2e3d4c").status == "disconnected"

    def test_scanning_a_session_never_started_is_an_error(self):
        with pytest.raises(KeyError, match="never-started"):
            locmem.scan("never-started", "+5511987654321")


def test_console_shows_a_placeholder_qr_and_pairs_on_request():
    gateway = console.GatewayBackend()
    start(gateway)

    assert gateway.get_qr("aurora-1f2e3d4c").startswith(PNG_SIGNATURE)
    assert gateway.can_simulate_scan
    reported = gateway.simulate_scan("aurora-1f2e3d4c", "+5511987654321")
    assert (reported.status, reported.phone_number) == ("connected", "+5511987654321")
    code = gateway.request_pairing_code("aurora-1f2e3d4c", "+5511987654321")
    assert len(code.replace("-", "")) == 8

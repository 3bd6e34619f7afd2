"""The original system's gateway service ("VPS") backend against a real HTTP server on loopback."""

import base64
import datetime as dt
import email.utils
import struct
import zlib

import pytest
import segno
from django.utils import timezone

from sessions_app.gateway import (
    GatewayGroup,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionStatus,
    get_gateway,
)
from sessions_app.gateway.base import VPS_SESSION_KEY
from sessions_app.phones import normalize_phone_number
from tests.fake_vps import FakeVps

VPS = "sessions_app.gateway.vps.GatewayBackend"
SESSION = "wa_6f1c2d4e-0000-4000-8000-000000000001"


@pytest.fixture
def vps():
    with FakeVps(api_key="vps-key") as server:
        yield server


def backend(server: FakeVps, **kwargs):
    return get_gateway(
        VPS, **{"base_url": server.url, "api_key": "vps-key", "timeout": 2.0, **kwargs}
    )


def png_matrix(png: bytes) -> list[list[bool]]:
    """The dark (True) and light pixels of a 1-bit grayscale PNG, row by row."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, offset = {}, 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        chunks[kind] = chunks.get(kind, b"") + png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (1, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = (width + 7) // 8
    rows, prior = [], bytes(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):  # undo the PNG row filter (one byte per pixel group)
            left, up, corner = (line[i - 1] if i else 0), prior[i], (prior[i - 1] if i else 0)
            pa, pb, pc = abs(up - corner), abs(left - corner), abs(left + up - 2 * corner)
            paeth = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + (0, left, up, (left + up) // 2, paeth)[kind]) & 0xFF
        prior = bytes(line)
        rows.append([not (line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    return rows


def qr_modules(png: bytes, size: int) -> list[list[bool]]:
    """The `size` by `size` modules of a QR image with a quiet zone, sampled at their centres."""
    pixels = png_matrix(png)
    dark = [(x, y) for y, row in enumerate(pixels) for x, v in enumerate(row) if v]
    left, top = min(x for x, _ in dark), min(y for _, y in dark)
    right = max(x for x, _ in dark)
    scale = (right - left + 1) // size
    return [
        [pixels[top + r * scale + scale // 2][left + c * scale + scale // 2] for c in range(size)]
        for r in range(size)
    ]


def test_the_backend_names_sessions_by_vps_session_id():
    assert get_gateway(VPS).session_key == VPS_SESSION_KEY == "vps_session_id"


class TestSend:
    def test_posts_session_group_and_text_with_the_api_key(self, vps):
        vps.scan(SESSION, "5511987654321")
        message_id = backend(vps).send_text(
            session_name=SESSION, chat_id="120363012345678901@g.us", text="Webinar at 8"
        )

        (request,) = vps.sends()
        assert request.json == {
            "sessionId": SESSION,
            "phone": "120363012345678901@g.us",
            "message": "Webinar at 8",
        }
        assert request.headers["X-API-Key"] == "vps-key"
        assert message_id.startswith("3EB0")

    def test_a_2xx_without_json_is_a_send_without_id(self, vps):
        vps.script = [(200, b"OK")]
        assert backend(vps).send_text(session_name=SESSION, chat_id="x@g.us", text="t") == ""

    def test_a_session_that_is_not_connected_is_refused(self, vps):
        vps.sessions[SESSION] = {"status": "qr", "qr": "2@x"}
        with pytest.raises(PermanentGatewayError, match="400: Session not connected"):
            backend(vps).send_text(session_name=SESSION, chat_id="x@g.us", text="t")
        assert vps.sends() == []


class TestErrors:
    def test_wrong_api_key_is_permanent(self, vps):
        with pytest.raises(PermanentGatewayError, match="401: Unauthorized"):
            backend(vps, api_key="wrong").get_status(session_name=SESSION)

    def test_unknown_session_is_permanent(self, vps):
        with pytest.raises(PermanentGatewayError, match=f"404: Session {SESSION} not found"):
            backend(vps).get_status(session_name=SESSION)

    def test_429_is_retryable_after_the_seconds_it_asks_for(self, vps):
        vps.script = [(429, {"error": "Too many requests"}, {"Retry-After": "42"})]
        with pytest.raises(RetryableGatewayError, match="429") as caught:
            backend(vps).send_text(session_name=SESSION, chat_id="x@g.us", text="t")
        assert caught.value.retry_after == dt.timedelta(seconds=42)

    def test_408_is_retryable_after_an_http_date(self, vps):
        later = timezone.now() + dt.timedelta(hours=1)
        vps.script = [
            (
                408,
                {"error": "Timeout"},
                {"Retry-After": email.utils.format_datetime(later, usegmt=True)},
            )
        ]
        with pytest.raises(RetryableGatewayError, match="408") as caught:
            backend(vps).list_groups(SESSION)
        assert dt.timedelta(minutes=55) < caught.value.retry_after <= dt.timedelta(hours=1)

    def test_5xx_is_retryable_and_a_second_try_succeeds(self, vps):
        vps.script = [(503, {"error": "Service unavailable"})]
        gateway = backend(vps)
        with pytest.raises(
            RetryableGatewayError, match="503 on GET /health: Service unavailable"
        ) as caught:
            gateway.health()
        assert caught.value.retry_after is None
        assert gateway.health()["status"] == "ok"

    def test_timeout_is_retryable(self, vps):
        vps.script = [1.5]
        with pytest.raises(RetryableGatewayError, match="timed out"):
            backend(vps, timeout=0.3).get_status(session_name=SESSION)

    def test_connection_refused_is_retryable(self):
        gateway = get_gateway(VPS, base_url="http://127.0.0.1:9", api_key="k", timeout=1)
        with pytest.raises(RetryableGatewayError, match="unreachable"):
            gateway.health()

    def test_a_non_json_answer_is_permanent(self, vps):
        vps.script = [(200, b"<html>proxy error</html>")]
        with pytest.raises(PermanentGatewayError, match="malformed JSON"):
            backend(vps).get_status(session_name=SESSION)


class TestStatus:
    @pytest.mark.parametrize(
        ("raw", "status"),
        [
            ("qr", "connecting"),
            ("connecting", "connecting"),
            ("connected", "connected"),
            ("disconnected", "disconnected"),
            ("CONNECTED", "connected"),
        ],
    )
    def test_statuses_map_to_the_products(self, vps, raw, status):
        vps.sessions[SESSION] = {"status": raw}
        assert backend(vps).get_status(session_name=SESSION) == SessionStatus(
            status=status, phone_number=None, raw_status=raw
        )
        assert vps.requests[-1].path == f"/status/{SESSION}"

    @pytest.mark.parametrize(
        "phone",
        [
            "5511987654321",
            5511987654321,
            "+55 11 98765-4321",
            "5511987654321@s.whatsapp.net",
            "5511987654321:12@s.whatsapp.net",
            "5511987654321@c.us",
        ],
    )
    def test_the_phone_in_any_shape_reads_as_one_number(self, vps, phone):
        vps.sessions[SESSION] = {"status": "connected", "phoneNumber": phone}
        reported = backend(vps).get_status(session_name=SESSION)
        assert normalize_phone_number(reported.phone_number) == "+5511987654321"

    def test_an_unknown_status_is_permanent(self, vps):
        vps.sessions[SESSION] = {"status": "banana"}
        with pytest.raises(PermanentGatewayError, match="unknown status 'banana'"):
            backend(vps).get_status(session_name=SESSION)


class TestPairing:
    def test_start_connects_and_the_qr_string_is_rendered_as_png(self, vps):
        gateway = backend(vps)
        gateway.start_session(
            SESSION,
            webhook_url="https://admin.example.org/webhooks/vps/",
            webhook_secret="s",
            metadata={},
        )
        assert (vps.requests[-1].method, vps.requests[-1].path) == ("POST", "/connect")
        assert vps.requests[-1].json == {"sessionId": SESSION}
        qr = vps.sessions[SESSION]["qr"]

        png = gateway.get_qr(SESSION)

        expected = segno.make_qr(qr, error="l").matrix
        assert qr_modules(png, len(expected)) == [[bool(m) for m in row] for row in expected]

    @pytest.mark.parametrize("key", ["qrCode", "qrcode"])
    def test_the_qr_under_its_other_names(self, vps, key):
        vps.sessions[SESSION] = {"status": "qr", key: "2@other-name"}
        png = backend(vps).get_qr(SESSION)
        expected = segno.make_qr("2@other-name", error="l").matrix
        assert qr_modules(png, len(expected)) == [[bool(m) for m in row] for row in expected]

    def test_a_qr_sent_as_a_png_data_url_is_passed_on(self, vps):
        image = b"\x89PNG\r\n\x1a\n-an-image"
        vps.sessions[SESSION] = {
            "status": "qr",
            "qrCode": "data:image/png;base64," + base64.b64encode(image).decode(),
        }
        assert backend(vps).get_qr(SESSION) == image

    def test_no_qr_yet_is_retryable_and_connected_is_permanent(self, vps):
        vps.sessions[SESSION] = {"status": "connecting"}
        with pytest.raises(RetryableGatewayError, match="no QR code"):
            backend(vps).get_qr(SESSION)
        vps.scan(SESSION, "5511987654321")
        with pytest.raises(PermanentGatewayError, match="already connected"):
            backend(vps).get_qr(SESSION)

    def test_no_pairing_code_and_nothing_asked(self, vps):
        with pytest.raises(PermanentGatewayError, match="scan the QR code"):
            backend(vps).request_pairing_code(SESSION, "+5511987654321")
        assert vps.requests == []

    def test_logout_disconnects(self, vps):
        vps.scan(SESSION, "5511987654321")
        backend(vps).logout(SESSION)
        assert (vps.requests[-1].method, vps.requests[-1].path) == (
            "POST",
            f"/disconnect/{SESSION}",
        )
        assert backend(vps).get_status(session_name=SESSION).status == "disconnected"


class TestGroupsAndHealth:
    def test_groups_in_every_shape_the_service_answers(self, vps):
        vps.scan(SESSION, "5511987654321")
        vps.groups[SESSION] = [
            {"id": "111@g.us", "name": "Turma A", "participants": 12, "isAdmin": True},
            {"jid": "222@g.us", "subject": "Turma B", "participants": [{"id": "1@c.us"}]},
            {"groupId": "333@g.us", "subject": "Aurora", "isCommunity": True},
            {"id": "444@g.us", "subject": "Avisos", "isCommunityAnnounce": True, "inviteCode": "x"},
        ]
        assert backend(vps).list_groups(SESSION) == [
            GatewayGroup("111@g.us", "Turma A"),
            GatewayGroup("222@g.us", "Turma B"),
            GatewayGroup("333@g.us", "Aurora", is_community=True),
            GatewayGroup("444@g.us", "Avisos", is_announcement=True),
        ]
        assert vps.requests[-1].path == f"/groups/{SESSION}"

    def test_a_group_without_an_id_is_a_permanent_error(self, vps):
        vps.scan(SESSION, "5511987654321")
        vps.groups[SESSION] = [{"name": "no id"}]
        with pytest.raises(PermanentGatewayError, match="without an id"):
            backend(vps).list_groups(SESSION)

    def test_health(self, vps):
        assert backend(vps).health() == {"status": "ok", "sessions": 0}
        assert vps.requests[-1].path == "/health"

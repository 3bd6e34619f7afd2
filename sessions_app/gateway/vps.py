"""The original system's own gateway service (its "VPS" API) over HTTP.

`WHATSAPP_GATEWAY_URL` is the service's base URL and `WHATSAPP_GATEWAY_API_KEY` goes in the
`X-API-Key` header. A session's handle is `session_data["vps_session_id"]` (`wa_<uuid>` in
that system). The service's endpoints:

- `POST /connect` `{"sessionId"}` starts a session; `POST /disconnect/{id}` ends it;
- `GET /status/{id}` answers `{"status", "qr" | "qrCode" | "qrcode", "phoneNumber"}`;
- `POST /send` `{"sessionId", "phone", "message"}` sends a text;
- `GET /groups/{id}` answers `{"groups": [...]}`; `GET /health`.

The service pushes status to its own webhook (`/webhooks/vps/`), configured on the service,
so `start_session` only starts the session. It has no "link with phone number" code: phones
pair by QR code only.
"""

from __future__ import annotations

import base64
import binascii
import io
from urllib.parse import quote

import segno
from django.conf import settings
from django.utils.translation import gettext as _

from sessions_app.gateway.base import (
    VPS_SESSION_KEY,
    GatewayGroup,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionStatus,
)
from sessions_app.gateway.http import HttpGatewayBackend

# The service's states in the product's terms: a session showing a QR code waits for a scan.
VPS_STATUS_MAP = {
    "qr": "connecting",
    "connecting": "connecting",
    "connected": "connected",
    "disconnected": "disconnected",
}
_QR_KEYS = ("qr", "qrCode", "qrcode")
_PNG_DATA_URL = "data:image/png;base64,"


def vps_status(raw_status: object) -> str | None:
    """The product's status for the service's `raw_status`, or None when it is not one."""
    return VPS_STATUS_MAP.get(raw_status.strip().lower()) if isinstance(raw_status, str) else None


def vps_phone(value: object) -> str | None:
    """The reported phone as text (the service may send it as a number), or None."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    return str(value) if isinstance(value, str | int) else None


class GatewayBackend(HttpGatewayBackend):
    label = "The VPS gateway"
    api_key_header = "X-API-Key"
    session_key = VPS_SESSION_KEY
    can_request_pairing_code = False
    webhook_url_name = "sessions_app:vps_webhook"

    def webhook_secret(self) -> str:
        return settings.WHATSAPP_VPS_WEBHOOK_SECRET

    def pairing_refusal(self) -> str:
        # The service's own configuration names the webhook, so no public URL is needed here;
        # without the secret, the webhook would refuse the report of the scan.
        if not self.webhook_secret():
            return _(
                "No secret is configured for the VPS gateway's status webhook "
                "(WHATSAPP_VPS_WEBHOOK_SECRET): the paired phone's report would be refused."
            )
        return ""

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        response = self.request(
            "POST", "/send", json={"sessionId": session_name, "phone": chat_id, "message": text}
        )
        try:
            body = response.json()
        except ValueError:
            return ""  # accepted: a 2xx is a send, whatever its body, so it is never sent twice
        if isinstance(body, dict) and body.get("success") is False:
            raise PermanentGatewayError(
                f"{self.label} did not send: {body.get('error') or body.get('message') or body}"
            )
        return _message_id(body)

    def get_status(self, *, session_name: str) -> SessionStatus:
        body = self._status_body(session_name)
        raw_status = body.get("status")
        status = vps_status(raw_status)
        if status is None:
            raise PermanentGatewayError(f"{self.label} reported an unknown status {raw_status!r}.")
        return SessionStatus(
            status=status, phone_number=vps_phone(body.get("phoneNumber")), raw_status=raw_status
        )

    def start_session(
        self, name: str, *, webhook_url: str, webhook_secret: str, metadata: dict[str, str]
    ) -> None:
        # The service's webhook and its secret are set on the service itself, not per session.
        self.call("POST", "/connect", json={"sessionId": name})

    def get_qr(self, name: str) -> bytes:
        body = self._status_body(name)
        qr = next((body[key] for key in _QR_KEYS if isinstance(body.get(key), str)), "")
        if qr.startswith(_PNG_DATA_URL):
            try:
                return base64.b64decode(qr.removeprefix(_PNG_DATA_URL), validate=True)
            except binascii.Error as exc:
                raise PermanentGatewayError(f"{self.label} sent an unreadable QR image.") from exc
        if qr:
            image = io.BytesIO()
            segno.make_qr(qr, error="l").save(image, kind="png", scale=8, border=4)
            return image.getvalue()
        if vps_status(body.get("status")) == "connected":
            raise PermanentGatewayError(f"Session {name!r} is already connected: nothing to scan.")
        raise RetryableGatewayError(f"{self.label} has no QR code for {name!r} yet.")

    def request_pairing_code(self, name: str, phone_number: str) -> str:
        raise PermanentGatewayError(
            f"{self.label} cannot link with a phone number; scan the QR code instead."
        )

    def logout(self, name: str) -> None:
        self.call("POST", f"/disconnect/{quote(name, safe='')}")

    def list_groups(self, name: str) -> list[GatewayGroup]:
        body = self.call("GET", f"/groups/{quote(name, safe='')}")
        items = body.get("groups") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise PermanentGatewayError(f'{self.label} answered groups without a "groups" list.')
        return [_group(item) for item in items]

    def health(self) -> dict:
        """The service's `/health` answer; raises like every call when it is not healthy."""
        body = self.call("GET", "/health")
        return body if isinstance(body, dict) else {"status": body}

    def _status_body(self, name: str) -> dict:
        body = self.call("GET", f"/status/{quote(name, safe='')}")
        if not isinstance(body, dict):
            raise PermanentGatewayError(f"{self.label} answered a status that is not an object.")
        return body


def _group(item: object) -> GatewayGroup:
    if not isinstance(item, dict):
        raise PermanentGatewayError(
            f"The VPS gateway listed a group that is not an object: {item!r}"
        )
    jid = next(
        (item[key] for key in ("id", "jid", "groupId") if isinstance(item.get(key), str)), ""
    )
    if not jid:
        raise PermanentGatewayError("The VPS gateway listed a group without an id.")
    name = next((item[key] for key in ("name", "subject") if isinstance(item.get(key), str)), "")
    return GatewayGroup(
        group_jid=jid,
        name=name,
        is_community=item.get("isCommunity") is True,
        is_announcement=item.get("isCommunityAnnounce") is True or item.get("announce") is True,
    )


def _message_id(body: object) -> str:
    """The id of a sent message wherever the service puts it; "" when it gives none."""
    if not isinstance(body, dict):
        return ""
    for candidate in (body, body.get("data"), body.get("result")):
        if not isinstance(candidate, dict):
            continue
        value = candidate.get("messageId") or candidate.get("id")
        if value is None and isinstance(candidate.get("key"), dict):
            value = candidate["key"].get("id")
        if isinstance(value, str | int) and not isinstance(value, bool) and value:
            return str(value)
    return ""

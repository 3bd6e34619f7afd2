"""An Evolution API gateway (v2.x, https://github.com/EvolutionAPI/evolution-api) over HTTP.

A session is an Evolution *instance*, named by `session_data["session_name"]`.
`WHATSAPP_GATEWAY_URL` is the server's base URL and `WHATSAPP_GATEWAY_API_KEY` goes in the
`apikey` header (the global `AUTHENTICATION_API_KEY`, or an instance's own token).

Evolution's errors read `{"status", "error", "response": {"message": [...]}}`. Timeouts,
connection errors and 5xx answers are retryable; 429 and 408 are retryable after the
`Retry-After` they carry; an instance that is not connected ("Connection Closed", "... is not
connected") makes the message wait for it; other 4xx answers are permanent, and so is a body
that is not JSON, except on a send: the gateway accepted that message.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from urllib.parse import quote

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

from sessions_app.gateway.base import (
    GatewayError,
    GatewayGroup,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionNotReadyError,
    SessionStatus,
)
from sessions_app.gateway.http import HttpGatewayBackend
from sessions_app.phones import normalize_phone_number

logger = logging.getLogger(__name__)

# Evolution's `connection.update` states in the product's terms. `refused` is Evolution giving
# up on an instance after too many unscanned QR codes.
EVOLUTION_STATUS_MAP = {
    "open": "connected",
    "connecting": "connecting",
    "close": "disconnected",
    "refused": "disconnected",
}
WEBHOOK_EVENTS = ["CONNECTION_UPDATE"]
# Evolution replaces this webhook header by `Authorization: Bearer <HS256 JWT>` signed with it.
JWT_KEY_HEADER = "jwt_key"
# Other webhook headers carry the session's metadata (organization, session), as WAHA's
# `config.metadata` does: Evolution has no metadata of its own.
METADATA_HEADER_PREFIX = "X-Metadata-"
INTEGRATION = "WHATSAPP-BAILEYS"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_NOT_CONNECTED = re.compile(r"connection closed|connection terminated|not connected", re.I)
_ALREADY_EXISTS = re.compile(r"already in use", re.I)
_MAX_REASON = 300


def webhook_headers(*, secret: str, metadata: dict[str, str]) -> dict[str, str]:
    """The headers an instance's webhook is configured with: the JWT key, then the metadata."""
    headers = {JWT_KEY_HEADER: secret}
    headers.update(
        {f"{METADATA_HEADER_PREFIX}{key.title()}": str(value) for key, value in metadata.items()}
    )
    return headers


def read_owner(jid: str | None) -> tuple[str | None, dict[str, str]]:
    """The phone (E.164) in an instance's owner JID (`ownerJid`, a webhook's `wuid`), or None
    and the JID kept apart as an identity when it names no phone (a linked `…@lid`)."""
    if not jid:
        return None, {}
    try:
        return normalize_phone_number(jid), {}
    except ValidationError:
        return None, {"lid" if jid.endswith("@lid") else "jid": jid}


class GatewayBackend(HttpGatewayBackend):
    label = "Evolution"
    api_key_header = "apikey"
    webhook_url_name = "sessions_app:evolution_webhook"

    def webhook_secret(self) -> str:
        return settings.EVOLUTION_WEBHOOK_JWT_KEY

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return super().request(method, path, **kwargs)
        except GatewayError as exc:
            # An answer (not a lost connection) saying the instance is not connected: the
            # phone dropped, so the message waits for it.
            if exc.__cause__ is None and _NOT_CONNECTED.search(str(exc)):
                raise SessionNotReadyError(f"Evolution's instance is not connected: {exc}") from exc
            raise

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        response = self.request(
            "POST", f"/message/sendText/{_q(session_name)}", json={"number": chat_id, "text": text}
        )
        # Accepted is sent, id or not (or no JSON at all): sending again could deliver it twice.
        try:
            body = response.json()
        except ValueError:
            body = None
        key = body.get("key") if isinstance(body, dict) else None
        message_id = key.get("id") if isinstance(key, dict) else None
        if not message_id:
            logger.warning("Evolution accepted a message through %s without an id.", session_name)
        return str(message_id) if message_id else ""

    def get_status(self, *, session_name: str) -> SessionStatus:
        body = self.call("GET", f"/instance/connectionState/{_q(session_name)}")
        instance = body.get("instance") if isinstance(body, dict) else None
        raw_status = instance.get("state") if isinstance(instance, dict) else None
        if not isinstance(raw_status, str):
            raise PermanentGatewayError(
                f"Evolution reported no connection state for instance {session_name!r}."
            )
        status = EVOLUTION_STATUS_MAP.get(raw_status)
        if status is None:
            raise PermanentGatewayError(
                f"Evolution reported an unknown connection state {raw_status!r}."
            )
        phone, identities = None, {}
        # The owner is only current while the instance is open; a closed one keeps a stale one.
        if status == "connected":
            phone, identities = read_owner(self._owner_jid(session_name))
        return SessionStatus(
            status=status, phone_number=phone, raw_status=raw_status, identities=identities
        )

    def _owner_jid(self, name: str) -> str | None:
        body = self.call("GET", "/instance/fetchInstances", params={"instanceName": name})
        records = body if isinstance(body, list) else [body]
        for record in records:
            if isinstance(record, dict) and record.get("name", name) == name:
                owner = record.get("ownerJid")
                return owner if isinstance(owner, str) and owner else None
        return None

    def start_session(
        self, name: str, *, webhook_url: str, webhook_secret: str, metadata: dict[str, str]
    ) -> None:
        webhook = {
            "enabled": True,
            "url": webhook_url,
            "events": WEBHOOK_EVENTS,
            "byEvents": False,
            "base64": False,
            "headers": webhook_headers(secret=webhook_secret, metadata=metadata),
        }
        try:
            self.call(
                "POST",
                "/instance/create",
                json={
                    "instanceName": name,
                    "qrcode": True,
                    "integration": INTEGRATION,
                    "webhook": webhook,
                },
            )
        except PermanentGatewayError as exc:
            if not _ALREADY_EXISTS.search(str(exc)):
                raise
            # The instance exists (a phone paired again under the same name): reconfigure it.
            self.call("POST", f"/webhook/set/{_q(name)}", json={"webhook": webhook})
            self._connect(name)

    def get_qr(self, name: str) -> bytes:
        body = self._connect(name)
        data = body.get("base64") if isinstance(body, dict) else None
        if not isinstance(data, str) or not data:
            if _state(body) == "open":
                raise PermanentGatewayError(f"Instance {name!r} is connected: no QR code to scan.")
            raise RetryableGatewayError(f"Evolution has no QR code for {name!r} yet.")
        # A data URL: `data:image/png;base64,iVBOR...`.
        try:
            png = base64.b64decode(data.partition(",")[2] or data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PermanentGatewayError("Evolution answered a QR code that is not base64.") from exc
        if not png.startswith(PNG_SIGNATURE):
            raise PermanentGatewayError("Evolution answered a QR code that is not a PNG image.")
        return png

    def request_pairing_code(self, name: str, phone_number: str) -> str:
        digits = normalize_phone_number(phone_number).removeprefix("+")
        body = self._connect(name, number=digits)
        code = body.get("pairingCode") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code:
            if _state(body) == "open":
                raise PermanentGatewayError(f"Instance {name!r} is connected: nothing to pair.")
            raise RetryableGatewayError(f"Evolution has no pairing code for {name!r} yet.")
        return code

    def logout(self, name: str) -> None:
        try:
            self.call("DELETE", f"/instance/logout/{_q(name)}")
        except SessionNotReadyError:
            # Evolution refuses to log out an instance that is not connected: it already is out.
            return

    def list_groups(self, name: str) -> list[GatewayGroup]:
        body = self.call(
            "GET", f"/group/fetchAllGroups/{_q(name)}", params={"getParticipants": "false"}
        )
        if not isinstance(body, list):
            raise PermanentGatewayError("Evolution answered the groups with something not a list.")
        groups = []
        for item in body:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise PermanentGatewayError("Evolution listed a group without an id.")
            groups.append(
                GatewayGroup(
                    group_jid=item["id"],
                    name=item.get("subject") if isinstance(item.get("subject"), str) else "",
                    is_community=item.get("isCommunity") is True,
                    # A community's announcement group only lets admins post, as `announce`.
                    is_announcement=True in (item.get("announce"), item.get("isCommunityAnnounce")),
                )
            )
        return groups

    def _connect(self, name: str, *, number: str | None = None):
        params = {"number": number} if number else None
        body = self.call("GET", f"/instance/connect/{_q(name)}", params=params)
        # Evolution answers its own failure here with a 200 and `{"error": true, "message"}`.
        if isinstance(body, dict) and body.get("error") is True:
            raise PermanentGatewayError(
                f"Evolution refused to connect {name!r}: {_one_line(body.get('message'))}"
            )
        return body


def _q(name: str) -> str:
    return quote(name, safe="")


def _state(body) -> str | None:
    instance = body.get("instance") if isinstance(body, dict) else None
    return instance.get("state") if isinstance(instance, dict) else None


def _one_line(value) -> str:
    if isinstance(value, list):
        value = "; ".join(map(str, value))
    return " ".join(str(value or "").split())[:_MAX_REASON]

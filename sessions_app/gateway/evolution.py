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
    BaseGatewayBackend,
    GatewayGroup,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionNotReadyError,
    SessionStatus,
    parse_retry_after,
)
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


class EvolutionRefused(PermanentGatewayError):
    """A 4xx answer; `status` tells an instance name already in use (403) from the rest."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


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


class GatewayBackend(BaseGatewayBackend):
    webhook_url_name = "sessions_app:evolution_webhook"

    def webhook_secret(self) -> str:
        return settings.EVOLUTION_WEBHOOK_JWT_KEY

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        headers = {"Accept": "application/json"}
        api_key = settings.WHATSAPP_GATEWAY_API_KEY if api_key is None else api_key
        if api_key:
            headers["apikey"] = api_key
        # One client per backend keeps the connection alive across a dispatcher's sends.
        self.client = httpx.Client(
            base_url=(base_url or settings.WHATSAPP_GATEWAY_URL).rstrip("/"),
            headers=headers,
            timeout=settings.WHATSAPP_GATEWAY_TIMEOUT if timeout is None else timeout,
        )

    def close(self) -> None:
        self.client.close()

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        # Accepted is sent, id or not (or no JSON at all): sending again could deliver it twice.
        body = self._call(
            "POST",
            f"/message/sendText/{_q(session_name)}",
            json={"number": chat_id, "text": text},
            accept_non_json=True,
        )
        key = body.get("key") if isinstance(body, dict) else None
        message_id = key.get("id") if isinstance(key, dict) else None
        if not message_id:
            logger.warning("Evolution accepted a message through %s without an id.", session_name)
        return str(message_id) if message_id else ""

    def get_status(self, *, session_name: str) -> SessionStatus:
        body = self._call("GET", f"/instance/connectionState/{_q(session_name)}")
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
        body = self._call("GET", "/instance/fetchInstances", params={"instanceName": name})
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
            self._call(
                "POST",
                "/instance/create",
                json={
                    "instanceName": name,
                    "qrcode": True,
                    "integration": INTEGRATION,
                    "webhook": webhook,
                },
            )
        except EvolutionRefused as exc:
            if exc.status != 403 or not _ALREADY_EXISTS.search(str(exc)):
                raise
            # The instance exists (a phone paired again under the same name): reconfigure it.
            self._call("POST", f"/webhook/set/{_q(name)}", json={"webhook": webhook})
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
            self._call("DELETE", f"/instance/logout/{_q(name)}")
        except SessionNotReadyError:
            # Evolution refuses to log out an instance that is not connected: it already is out.
            return

    def list_groups(self, name: str) -> list[GatewayGroup]:
        body = self._call(
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
        body = self._call("GET", f"/instance/connect/{_q(name)}", params=params)
        # Evolution answers its own failure here with a 200 and `{"error": true, "message"}`.
        if isinstance(body, dict) and body.get("error") is True:
            raise PermanentGatewayError(
                f"Evolution refused to connect {name!r}: {_one_line(body.get('message'))}"
            )
        return body

    def _call(self, method: str, path: str, *, accept_non_json: bool = False, **kwargs):
        where = f"{method} {path}"
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableGatewayError(f"Evolution timed out on {where}.") from exc
        except httpx.TransportError as exc:
            raise RetryableGatewayError(f"Evolution unreachable on {where}: {exc}.") from exc
        status = response.status_code
        if status in (408, 429):
            raise RetryableGatewayError(
                f"Evolution answered {status} on {where}: {_reason(response)}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 400:
            reason = _reason(response)
            if _NOT_CONNECTED.search(reason):
                raise SessionNotReadyError(f"Evolution's instance is not connected: {reason}")
            if status >= 500:
                raise RetryableGatewayError(f"Evolution answered {status} on {where}: {reason}")
            raise EvolutionRefused(
                f"Evolution refused {where} with {status}: {reason}", status=status
            )
        try:
            return response.json()
        except ValueError as exc:
            if accept_non_json:
                return None
            raise PermanentGatewayError(f"Evolution answered {where} with malformed JSON.") from exc


def _q(name: str) -> str:
    return quote(name, safe="")


def _state(body) -> str | None:
    instance = body.get("instance") if isinstance(body, dict) else None
    return instance.get("state") if isinstance(instance, dict) else None


def _reason(response: httpx.Response) -> str:
    """Evolution's own message, on one line and short enough to keep on a message row."""
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text) or response.reason_phrase
    if isinstance(body, dict):
        inner = body.get("response")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
        text = _one_line(message if message is not None else body.get("error") or body)
    else:
        text = _one_line(body)
    return text or response.reason_phrase


def _one_line(value) -> str:
    if isinstance(value, list):
        value = "; ".join(map(str, value))
    return " ".join(str(value or "").split())[:_MAX_REASON]

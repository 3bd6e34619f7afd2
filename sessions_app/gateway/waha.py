"""A WAHA gateway (https://waha.devlike.pro/) over its HTTP API.

`WHATSAPP_GATEWAY_URL` is the gateway's base URL and `WHATSAPP_GATEWAY_API_KEY` goes in the
`X-Api-Key` header (WAHA's `WHATSAPP_API_KEY`). Timeouts, connection errors, 5xx answers and
rate limits (429, 408, after their `Retry-After`) are retryable; a 422 about the session's status
means the phone is not ready and the message waits for it; other 4xx answers are permanent and
keep the gateway's own message.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from urllib.parse import quote

import httpx

from sessions_app.gateway.base import (
    WAHA_STATUS_MAP,
    GatewayGroup,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionNotReadyError,
    SessionStatus,
    parse_retry_after,
)
from sessions_app.gateway.http import HttpGatewayBackend
from sessions_app.gateway.http import response_reason as _reason

logger = logging.getLogger(__name__)

_RATE_LIMITED = (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.REQUEST_TIMEOUT)


class GatewayBackend(HttpGatewayBackend):
    label = "WAHA"
    api_key_header = "X-Api-Key"

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        # Accepted is sent, id or not: sending it again could deliver it twice.
        body = self._call(
            "POST",
            "/api/sendText",
            json={"session": session_name, "chatId": chat_id, "text": text},
            accept_non_json=True,
        )
        message_id = _message_id(body)
        if not message_id:
            logger.warning("WAHA accepted a message through %s without an id.", session_name)
        return message_id or ""

    def get_status(self, *, session_name: str) -> SessionStatus:
        body = self._call("GET", f"/api/sessions/{quote(session_name, safe='')}")
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise PermanentGatewayError("WAHA answered a session without a status.")
        raw_status = body["status"]
        status = WAHA_STATUS_MAP.get(raw_status)
        if status is None:
            raise PermanentGatewayError(f"WAHA reported an unknown session status {raw_status!r}.")
        try:
            phone, identities = read_me(body.get("me"))
        except ValueError:
            phone, identities = None, {}
        return SessionStatus(
            status=status, phone_number=phone, raw_status=raw_status, identities=identities
        )

    def list_groups(self, name: str) -> list[GatewayGroup]:
        # Engines answer a list (WEBJS, GOWS) or an object keyed by group id (NOWEB).
        body = self._call(
            "GET", f"/api/{quote(name, safe='')}/groups", params={"exclude": "participants"}
        )
        items = list(body.values()) if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise PermanentGatewayError(
                "WAHA answered groups that are neither a list nor an object."
            )
        return [_waha_group(item) for item in items]

    # Pairing lifecycle ---------------------------------------------------------------------

    def start_session(
        self, name: str, *, webhook_url: str, webhook_secret: str, metadata: dict[str, str]
    ) -> None:
        if not webhook_secret:
            # Unsigned status reports would all be refused: the session could never connect.
            raise PermanentGatewayError(
                "No webhook secret to give WAHA: set WHATSAPP_WEBHOOK_SECRET."
            )
        config = {
            "metadata": metadata,
            "webhooks": [
                {"url": webhook_url, "events": ["session.status"], "hmac": {"key": webhook_secret}}
            ],
        }
        path = _session_path(name)
        if self._session_exists(path):
            # PUT takes the full configuration and restarts a running session with it.
            self._send("PUT", path, json={"name": name, "config": config})
            self._send("POST", f"{path}/start")
        else:
            self._send(
                "POST", "/api/sessions", json={"name": name, "start": True, "config": config}
            )

    def get_qr(self, name: str) -> bytes:
        response = self._send(
            "GET", f"/api/{quote(name, safe='')}/auth/qr", headers={"Accept": "image/png"}
        )
        if not response.headers.get("Content-Type", "").startswith("image/png"):
            raise PermanentGatewayError("WAHA answered the QR code request without a PNG image.")
        return response.content

    def request_pairing_code(self, name: str, phone_number: str) -> str:
        body = self._call(
            "POST",
            f"/api/{quote(name, safe='')}/auth/request-code",
            json={"phoneNumber": phone_number.lstrip("+")},
        )
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code:
            raise PermanentGatewayError("WAHA answered the pairing code request without a code.")
        return code

    def logout(self, name: str) -> None:
        path = _session_path(name)
        self._send("POST", f"{path}/logout")
        # WAHA starts a logged-out session afresh, showing a new QR code: stop it instead.
        self._send("POST", f"{path}/stop")

    def _session_exists(self, path: str) -> bool:
        return self._send("GET", path, allow=(404,)).status_code != 404

    # -----------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, accept_non_json: bool = False, **kwargs):
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            if accept_non_json:
                return None
            raise PermanentGatewayError(
                f"WAHA answered {method} {path} with malformed JSON."
            ) from exc

    def _send(self, method: str, path: str, *, allow=(), **kwargs) -> httpx.Response:
        """The gateway's answer; transport errors and 4xx/5xx not in `allow` raise GatewayError."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableGatewayError(f"WAHA timed out on {method} {path}.") from exc
        except httpx.TransportError as exc:
            raise RetryableGatewayError(f"WAHA unreachable on {method} {path}: {exc}.") from exc
        if response.status_code in allow:
            return response
        if response.status_code >= 500:
            raise RetryableGatewayError(
                f"WAHA answered {response.status_code} on {method} {path}: {_reason(response)}"
            )
        if response.status_code in _RATE_LIMITED:
            raise RetryableGatewayError(
                f"WAHA answered {response.status_code} on {method} {path}: {_reason(response)}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and _about_session_status(
            response
        ):
            raise SessionNotReadyError(
                f"WAHA says the session is not ready on {method} {path}: {_reason(response)}"
            )
        if response.status_code >= 400:
            raise PermanentGatewayError(
                f"WAHA refused {method} {path} with {response.status_code}: {_reason(response)}"
            )
        return response


def _session_path(name: str) -> str:
    return f"/api/sessions/{quote(name, safe='')}"


def read_me(me) -> tuple[str | None, dict[str, str]]:
    """The phone and the other identities in WAHA's `me`, or ValueError for a bad shape.

    `id` is the phone's JID (`5511...@c.us`), or on some engines a linked identity (`...@lid`);
    `jid` is the phone's JID with its device (`5511...:12@s.whatsapp.net`); `lid` the linked
    identity. Identities that are not phones are returned apart, never as the phone.
    """
    if me is None:
        return None, {}
    if not isinstance(me, dict):
        raise ValueError('"me" must be null or an object.')
    for key in ("id", "lid", "jid"):
        if me.get(key) is not None and not isinstance(me[key], str):
            raise ValueError(f'"me.{key}" must be text.')
    identities = {key: me[key] for key in ("lid", "jid") if me.get(key)}
    phone = me.get("id") or None
    if phone and phone.endswith("@lid"):
        identities.setdefault("lid", phone)
        phone = None
    return phone or me.get("jid") or None, identities


def _about_session_status(response: httpx.Response) -> bool:
    """WAHA's 422 "Session status is not as expected": the phone dropped, not a bad request."""
    try:
        body = response.json()
    except ValueError:
        return False
    text = json.dumps(body).lower() if body is not None else ""
    return "session status" in text or '"expected"' in text


def _message_id(body) -> str | None:
    """WAHA's engines answer the id as a string or as `{"_serialized": ...}`."""
    if not isinstance(body, dict):
        return None
    value = body.get("id")
    if isinstance(value, dict):
        value = value.get("_serialized") or value.get("id")
    if value is None and isinstance(body.get("key"), dict):
        value = body["key"].get("id")
    return str(value) if value else None


def _waha_group(item) -> GatewayGroup:
    """One group in any engine's shape: NOWEB `{id, subject, isCommunity, announce}`, GOWS
    `{JID, Name, IsParent, IsAnnounce}`, WEBJS `{id: {_serialized}, name, groupMetadata}`."""
    if not isinstance(item, dict):
        raise PermanentGatewayError(f"WAHA listed a group that is not an object: {item!r:.80}")
    meta = item.get("groupMetadata") if isinstance(item.get("groupMetadata"), dict) else {}
    jid = item.get("id", item.get("JID"))
    if isinstance(jid, dict):
        jid = jid.get("_serialized")
    if not isinstance(jid, str) or not jid:
        raise PermanentGatewayError("WAHA listed a group without an id.")
    name = next(
        (
            v
            for v in (item.get("subject"), item.get("Name"), item.get("name"), meta.get("subject"))
            if isinstance(v, str) and v
        ),
        "",
    )
    return GatewayGroup(
        group_jid=jid,
        name=name,
        is_community=True
        in (item.get("isCommunity"), item.get("IsParent"), meta.get("isParentGroup")),
        is_announcement=True
        in (
            item.get("announce"),
            item.get("isCommunityAnnounce"),
            item.get("IsAnnounce"),
            meta.get("announce"),
        ),
    )

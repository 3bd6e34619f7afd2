"""A WAHA gateway (https://waha.devlike.pro/) over its HTTP API.

`WHATSAPP_GATEWAY_URL` is the gateway's base URL and `WHATSAPP_GATEWAY_API_KEY` goes in the
`X-Api-Key` header (WAHA's `WHATSAPP_API_KEY`). Timeouts, connection errors and 5xx answers are
retryable; 4xx answers are permanent and keep the gateway's own message.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from django.conf import settings

from sessions_app.gateway.base import (
    WAHA_STATUS_MAP,
    BaseGatewayBackend,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionStatus,
)

_MAX_REASON = 300


class GatewayBackend(BaseGatewayBackend):
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
            headers["X-Api-Key"] = api_key
        # One client per backend keeps the connection alive across a dispatcher's sends.
        self.client = httpx.Client(
            base_url=(base_url or settings.WHATSAPP_GATEWAY_URL).rstrip("/"),
            headers=headers,
            timeout=settings.WHATSAPP_GATEWAY_TIMEOUT if timeout is None else timeout,
        )

    def close(self) -> None:
        self.client.close()

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        body = self._call(
            "POST",
            "/api/sendText",
            json={"session": session_name, "chatId": chat_id, "text": text},
        )
        message_id = _message_id(body)
        if not message_id:
            raise PermanentGatewayError("WAHA accepted the message but returned no message id.")
        return message_id

    def get_status(self, *, session_name: str) -> SessionStatus:
        body = self._call("GET", f"/api/sessions/{quote(session_name, safe='')}")
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise PermanentGatewayError("WAHA answered a session without a status.")
        raw_status = body["status"]
        status = WAHA_STATUS_MAP.get(raw_status)
        if status is None:
            raise PermanentGatewayError(f"WAHA reported an unknown session status {raw_status!r}.")
        me = body.get("me")
        phone = me.get("id") if isinstance(me, dict) else None
        return SessionStatus(
            status=status,
            phone_number=phone if isinstance(phone, str) else None,
            raw_status=raw_status,
        )

    def _call(self, method: str, path: str, **kwargs):
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableGatewayError(f"WAHA timed out on {method} {path}.") from exc
        except httpx.TransportError as exc:
            raise RetryableGatewayError(f"WAHA unreachable on {method} {path}: {exc}.") from exc
        if response.status_code >= 500:
            raise RetryableGatewayError(
                f"WAHA answered {response.status_code} on {method} {path}: {_reason(response)}"
            )
        if response.status_code >= 400:
            raise PermanentGatewayError(
                f"WAHA refused {method} {path} with {response.status_code}: {_reason(response)}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise PermanentGatewayError(
                f"WAHA answered {method} {path} with malformed JSON."
            ) from exc


def _reason(response: httpx.Response) -> str:
    """The gateway's own message, on one line and short enough to keep on a message row."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        text = (
            body.get("message") or body.get("error") or str(body)
            if isinstance(body, dict)
            else str(body)
        )
        if isinstance(text, list):
            text = "; ".join(map(str, text))
    text = " ".join(str(text).split()) or response.reason_phrase
    return text[:_MAX_REASON]


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

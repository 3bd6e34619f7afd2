"""Session status reported by the gateway: WAHA's signed webhook and status polling.

Both end in `apply_status_report`, the one place a session's status and phone change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from sessions_app.gateway import BaseGatewayBackend, GatewayError, get_gateway
from sessions_app.gateway.base import WAHA_STATUS_MAP
from sessions_app.models import WhatsAppSession
from sessions_app.services.status import apply_status_report

SESSION_NAME_KEY = "session_name"  # session_data key holding the gateway's session name
WEBHOOK_MAX_BYTES = 64 * 1024


class WebhookRefused(Exception):
    """A webhook call answered with `status` and a one-line reason; nothing changed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class WebhookOutcome:
    event: str
    session: WhatsAppSession | None = None
    ignored: bool = False


def webhook_signature(body: bytes, *, secret: str) -> str:
    """WAHA's `X-Webhook-Hmac`: HMAC-SHA512 of the raw body, in hex."""
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def session_for_gateway_name(name: str) -> WhatsAppSession | None:
    """The live session the gateway calls `name`: the newest one not yet superseded."""
    return (
        WhatsAppSession.objects.filter(
            **{f"session_data__{SESSION_NAME_KEY}": name}, superseded_by__isnull=True
        )
        .order_by("-created_at")
        .first()
    )


def webhook_receive(*, body: bytes, signature: str | None) -> WebhookOutcome:
    """Check and apply one WAHA webhook call; raise WebhookRefused, changing nothing, if bad.

    Only `session.status` events are acted on; other events are acknowledged and ignored.
    """
    if len(body) > WEBHOOK_MAX_BYTES:
        raise WebhookRefused(413, f"Body larger than {WEBHOOK_MAX_BYTES} bytes.")
    secret = settings.WHATSAPP_WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused(401, "No webhook secret is configured (WHATSAPP_WEBHOOK_SECRET).")
    if not signature:
        raise WebhookRefused(401, "Missing X-Webhook-Hmac signature.")
    expected = webhook_signature(body, secret=secret)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise WebhookRefused(401, "Wrong X-Webhook-Hmac signature.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRefused(400, "Body is not valid JSON.") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise WebhookRefused(400, 'Body is not an object with an "event".')
    if payload["event"] != "session.status":
        return WebhookOutcome(event=payload["event"], ignored=True)

    name = payload.get("session")
    data = payload.get("payload")
    me = payload.get("me")
    if not isinstance(name, str) or not name:
        raise WebhookRefused(400, 'A session.status event needs a "session" name.')
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise WebhookRefused(400, 'A session.status event needs "payload": {"status": ...}.')
    status = WAHA_STATUS_MAP.get(data["status"])
    if status is None:
        raise WebhookRefused(400, f"Unknown WAHA session status {data['status']!r}.")
    if me is not None and not (isinstance(me, dict) and isinstance(me.get("id"), str | None)):
        raise WebhookRefused(400, '"me" must be null or an object with an "id".')
    session = session_for_gateway_name(name)
    if session is None:
        raise WebhookRefused(404, f"No live session is called {name!r}.")
    try:
        session = apply_status_report(session, status, (me or {}).get("id"))
    except ValidationError as exc:
        raise WebhookRefused(400, " ".join(exc.messages)) from exc
    return WebhookOutcome(event=payload["event"], session=session)


@dataclass(frozen=True)
class RefreshResult:
    session: WhatsAppSession
    status: str | None = None
    error: str = ""


def session_refresh_status(
    *, session: WhatsAppSession, gateway: BaseGatewayBackend | None = None
) -> RefreshResult:
    """Ask the gateway for `session`'s status and record it; errors are returned, not raised."""
    name = session.gateway_session_name
    if not name:
        return RefreshResult(session, error=f'No "{SESSION_NAME_KEY}" in session_data.')
    gateway = gateway or get_gateway()
    try:
        reported = gateway.get_status(session_name=name)
        session = apply_status_report(session, reported.status, reported.phone_number)
    except GatewayError as exc:
        return RefreshResult(session, error=str(exc))
    except ValidationError as exc:
        return RefreshResult(session, error=" ".join(exc.messages))
    return RefreshResult(session, status=session.status)


def sessions_refresh_status(*, queryset: QuerySet) -> list[RefreshResult]:
    """Poll the gateway for every session of `queryset` that is not superseded."""
    gateway = get_gateway()
    try:
        return [
            session_refresh_status(session=session, gateway=gateway)
            for session in queryset.filter(superseded_by__isnull=True).order_by("created_at")
        ]
    finally:
        gateway.close()

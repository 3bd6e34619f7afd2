"""Status reports of the original system's gateway service ("VPS"), posted to /webhooks/vps/.

The service posts `{"sessionId", "status", "phoneNumber", "timestamp"}` (ISO time), signed with
an HMAC-SHA512 of the raw body in `X-Webhook-Hmac` keyed with `WHATSAPP_VPS_WEBHOOK_SECRET`.
Checked and applied like WAHA's reports: in the order of their `timestamp`, through
`apply_status_report`.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils.dateparse import parse_datetime

from sessions_app.gateway.base import VPS_SESSION_KEY
from sessions_app.gateway.vps import vps_phone, vps_status
from sessions_app.services.gateway_status import (
    WEBHOOK_MAX_BYTES,
    GatewayReport,
    WebhookOutcome,
    WebhookRefused,
    apply_gateway_report,
    parse_json_object,
    verify_hmac_signature,
)

EVENT = "status"


def vps_webhook_receive(*, body: bytes, signature: str | None) -> WebhookOutcome:
    """Check and apply one status call of the service; raise WebhookRefused, changing nothing,
    if it is not signed, malformed or names no live session."""
    if len(body) > WEBHOOK_MAX_BYTES:
        raise WebhookRefused(413, f"Body larger than {WEBHOOK_MAX_BYTES} bytes.")
    secret = settings.WHATSAPP_VPS_WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused(401, "No webhook secret is configured (WHATSAPP_VPS_WEBHOOK_SECRET).")
    verify_hmac_signature(body, signature, secret=secret)
    outcome = apply_gateway_report(read_vps_status(parse_json_object(body)))
    return WebhookOutcome(event=EVENT, result=outcome.result, session=outcome.session)


def read_vps_status(payload: dict) -> GatewayReport:
    """A status body as a report: the session id, the status, the phone as sent, the time."""
    name = payload.get("sessionId")
    if not isinstance(name, str) or not name:
        raise WebhookRefused(400, 'A status report needs a "sessionId".')
    status = vps_status(payload.get("status"))
    if status is None:
        raise WebhookRefused(400, f"Unknown status {payload.get('status')!r}.")
    phone = payload.get("phoneNumber")
    if phone not in (None, "") and vps_phone(phone) is None:
        raise WebhookRefused(400, '"phoneNumber" must be text or a number.')
    return GatewayReport(
        gateway_name=name,
        status=status,
        phone_number=vps_phone(phone),
        reported_at=_timestamp(payload.get("timestamp")),
        name_key=VPS_SESSION_KEY,
    )


def _timestamp(value) -> dt.datetime | None:
    """The report's ISO `timestamp`, inside the signed body; None when it has none (then the
    time of receipt orders it)."""
    if value is None:
        return None
    try:
        when = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise WebhookRefused(400, '"timestamp" must be an ISO 8601 date and time.')
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

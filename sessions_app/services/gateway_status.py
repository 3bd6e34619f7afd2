"""Session status reported by the gateway: WAHA's signed webhook and status polling.

Both end in `apply_status_report`, the one place a session's status and phone change. A
gateway name addresses exactly one live session (a unique index keeps it so), and webhooks
authenticate before anything else is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import CharField, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.lookups import Exact
from django.utils.translation import gettext as _

from sessions_app.gateway import BaseGatewayBackend, GatewayError, get_gateway, waha
from sessions_app.gateway.base import SESSION_NAME_KEY, WAHA_STATUS_MAP
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import sessions_where
from sessions_app.services.pairing import session_create_from_gateway_metadata
from sessions_app.services.status import (
    GatewayNameMoved,
    ReportResult,
    StatusReportOutcome,
    apply_status_report,
)

logger = logging.getLogger(__name__)

WEBHOOK_MAX_BYTES = 64 * 1024
# A report addressed to a name that moves while it waits for its lock is resolved again.
_RESOLVE_ATTEMPTS = 3


class WebhookRefused(Exception):
    """A webhook call answered with `status` and a one-line reason; nothing changed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class WebhookOutcome:
    """`result` is "ignored" for events not acted on, else a `ReportResult` value."""

    event: str
    result: str
    session: WhatsAppSession | None = None


@dataclass(frozen=True)
class GatewayReport:
    """One status report read from a gateway's webhook body, in the product's terms."""

    gateway_name: str
    status: str
    phone_number: str | None = None
    reported_at: dt.datetime | None = None
    event_id: str = ""
    identities: dict[str, str] | None = None
    name_key: str = SESSION_NAME_KEY
    # What the gateway keeps with the session (WAHA's `metadata`); a pairing names the
    # organization and the session in it.
    metadata: dict | None = None


def webhook_signature(body: bytes, *, secret: str) -> str:
    """WAHA's `X-Webhook-Hmac`: HMAC-SHA512 of the raw body, in hex."""
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def verify_hmac_signature(body: bytes, signature: str | None, *, secret: str) -> None:
    """Refuse (401) a body whose `X-Webhook-Hmac` is missing or not HMAC-SHA512 by `secret`."""
    if not secret:
        raise WebhookRefused(401, "No webhook secret is configured.")
    if not signature:
        raise WebhookRefused(401, "Missing X-Webhook-Hmac signature.")
    expected = webhook_signature(body, secret=secret)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise WebhookRefused(401, "Wrong X-Webhook-Hmac signature.")


def parse_json_object(body: bytes) -> dict:
    """The body as a JSON object, or WebhookRefused(400) saying why not."""
    try:
        payload = json.loads(body)
    except RecursionError as exc:
        raise WebhookRefused(400, "Body is nested too deeply.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRefused(400, "Body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "Body is not a JSON object.")
    return payload


def _named(name: str, key: str) -> Exact:
    # A plain `=` on `session_data ->> key`, the unique index's own expression (a JSON key
    # lookup would compare JSON values instead, which no index covers).
    return Exact(KT(f"session_data__{key}"), Value(name, output_field=CharField()))


def live_session_for_gateway_name(
    name: str, *, key: str = SESSION_NAME_KEY
) -> WhatsAppSession | None:
    """The one live (not superseded) session the gateway calls `name`, by the unique index."""
    # The index's own expression, `session_data ->> key`, with the key written in.
    found = sessions_where(
        "(session_data ->> %s) = %s AND superseded_by_id IS NULL",
        [key, name],
        using=router.db_for_read(WhatsAppSession),
    )
    return found[0] if found else None


def apply_gateway_report(report: GatewayReport) -> StatusReportOutcome:
    """Apply `report` to the live session it names; WebhookRefused(404) when there is none."""
    for _attempt in range(_RESOLVE_ATTEMPTS):
        session = live_session_for_gateway_name(report.gateway_name, key=report.name_key)
        if session is None and _superseded_holder_exists(report):
            # A late report of a session whose references moved on: the gateway delivers out
            # of order and retries what is refused, so acknowledge it and change nothing.
            return StatusReportOutcome(None, ReportResult.SUPERSEDED)
        try:
            if session is None:
                return _apply_to_session_from_metadata(report)
            return _apply_report_to(session, report)
        except GatewayNameMoved:
            continue
        except ValidationError as exc:
            raise WebhookRefused(400, " ".join(exc.messages)) from exc
    raise WebhookRefused(409, f"Session {report.gateway_name!r} kept changing; send it again.")


def _apply_report_to(session: WhatsAppSession, report: GatewayReport) -> StatusReportOutcome:
    return apply_status_report(
        session,
        report.status,
        report.phone_number,
        reported_at=report.reported_at,
        event_id=report.event_id,
        identities=report.identities,
        gateway_name=(report.name_key, report.gateway_name),
    )


def _apply_to_session_from_metadata(report: GatewayReport) -> StatusReportOutcome:
    """A report for a name no session has, whose metadata names an organization (a pairing
    started outside the admin): the session is created and the report applied, together.
    Without such metadata, 404."""
    with transaction.atomic(using=router.db_for_write(WhatsAppSession)):
        session = session_create_from_gateway_metadata(
            name=report.gateway_name, metadata=report.metadata, session_key=report.name_key
        )
        if session is None:
            raise WebhookRefused(404, f"No live session is called {report.gateway_name!r}.")
        return _apply_report_to(session, report)


def _superseded_holder_exists(report: GatewayReport) -> bool:
    return WhatsAppSession.objects.filter(
        _named(report.gateway_name, report.name_key), superseded_by__isnull=False
    ).exists()


def webhook_receive(*, body: bytes, signature: str | None) -> WebhookOutcome:
    """Check and apply one WAHA webhook call; raise WebhookRefused, changing nothing, if bad.

    Only `session.status` events are acted on; other events, and statuses this version does
    not know, are acknowledged and ignored.
    """
    return gateway_webhook_receive(
        body=body,
        authenticate=lambda: verify_hmac_signature(
            body, signature, secret=settings.WHATSAPP_WEBHOOK_SECRET
        ),
        event="session.status",
        read=read_waha_status_event,
    )


def gateway_webhook_receive(
    *,
    body: bytes,
    authenticate: Callable[[], None],
    event: str,
    read: Callable[[dict], GatewayReport | None],
) -> WebhookOutcome:
    """What every gateway's webhook does, in this order: refuse an oversize body (413), run
    `authenticate` (which raises 401), read the body as a JSON object with an "event" (400), and
    apply what `read` makes of an `event` (None: a status this version does not know)."""
    if len(body) > WEBHOOK_MAX_BYTES:
        raise WebhookRefused(413, f"Body larger than {WEBHOOK_MAX_BYTES} bytes.")
    authenticate()
    payload = parse_json_object(body)
    received = payload.get("event")
    if not isinstance(received, str):
        raise WebhookRefused(400, 'Body is not an object with an "event".')
    if received != event:
        return WebhookOutcome(event=received, result="ignored")
    report = read(payload)
    if report is None:
        return WebhookOutcome(event=received, result="ignored")
    outcome = apply_gateway_report(report)
    return WebhookOutcome(event=received, result=outcome.result, session=outcome.session)


def read_waha_status_event(payload: dict) -> GatewayReport | None:
    """A `session.status` body as a report; None for a status this version does not know."""
    name = payload.get("session")
    data = payload.get("payload")
    if not isinstance(name, str) or not name:
        raise WebhookRefused(400, 'A session.status event needs a "session" name.')
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise WebhookRefused(400, 'A session.status event needs "payload": {"status": ...}.')
    status = WAHA_STATUS_MAP.get(data["status"])
    if status is None:
        logger.warning("Ignored WAHA status %r of session %r: not known.", data["status"], name)
        return None
    event_id = payload.get("id")
    if event_id is not None and not (isinstance(event_id, str) and event_id):
        raise WebhookRefused(400, '"id" must be a non-empty string.')
    try:
        phone, identities = waha.read_me(payload.get("me"))
    except ValueError as exc:
        raise WebhookRefused(400, str(exc)) from exc
    return GatewayReport(
        gateway_name=name,
        status=status,
        phone_number=phone,
        reported_at=_waha_timestamp(payload.get("timestamp")),
        event_id=f"waha:{event_id}" if event_id else "",
        identities=identities,
        metadata=payload["metadata"] if isinstance(payload.get("metadata"), dict) else None,
    )


def _waha_timestamp(value) -> dt.datetime | None:
    """WAHA's `timestamp`: milliseconds since the epoch, inside the signed body."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookRefused(400, '"timestamp" must be milliseconds since the epoch.')
    try:
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise WebhookRefused(400, '"timestamp" is out of range.') from exc


@dataclass(frozen=True)
class RefreshResult:
    session: WhatsAppSession
    status: str | None = None
    error: str = ""
    replaced: WhatsAppSession | None = None


def refresh_session_status(
    *, session: WhatsAppSession, gateway: BaseGatewayBackend
) -> RefreshResult:
    """Ask the gateway for `session`'s status and record it; errors are returned, not raised."""
    key = gateway.session_key
    name = session.gateway_name(key)
    if not name:
        return RefreshResult(
            session, error=_('No gateway name ("%(key)s") in session_data.') % {"key": key}
        )
    try:
        reported = gateway.get_status(session_name=name)
        outcome = apply_status_report(
            session,
            reported.status,
            reported.phone_number,
            identities=reported.identities,
            gateway_name=(key, name),
        )
    except GatewayNameMoved:
        return RefreshResult(
            session, error=_("Session no longer answers to %(name)r.") % {"name": name}
        )
    except GatewayError as exc:
        return RefreshResult(session, error=str(exc))
    except ValidationError as exc:
        return RefreshResult(session, error=" ".join(exc.messages))
    if outcome.result == ReportResult.STALE:
        return RefreshResult(session, error=_("A newer report arrived meanwhile; kept it."))
    return RefreshResult(outcome.session, status=outcome.session.status, replaced=outcome.replaced)


def refresh_statuses(*, queryset: QuerySet) -> list[RefreshResult]:
    """Poll the gateway for every session of `queryset` that is not superseded."""
    gateway = get_gateway()
    try:
        return [
            refresh_session_status(session=session, gateway=gateway)
            for session in queryset.filter(superseded_by__isnull=True).order_by("created_at")
        ]
    finally:
        gateway.close()

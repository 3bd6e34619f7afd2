"""The one place a session's status, phone number and connection times change.

What a gateway reports is input, not truth: it arrives late, twice or out of order. Each
session keeps the time of the last report applied to it (`last_report_at`); an older report,
or an event id already seen, is acknowledged and changes nothing. A session keeps its phone for
life: a report naming another phone disconnects it and hands its gateway name to a new session
of that phone.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions_app.gateway.base import GATEWAY_NAME_KEYS
from sessions_app.models import GatewayEvent, WhatsAppSession
from sessions_app.phones import normalize_phone_number
from sessions_app.selectors import PHONE_CHANGED_FROM_KEY, PHONE_CHANGED_TO_KEY
from sessions_app.services.migration import lock_phone_sessions

logger = logging.getLogger(__name__)

Status = WhatsAppSession.Status

# Seen event ids are pruned about once per this many new events.
_PRUNE_ONE_IN = 200


class ReportResult:
    """What became of one report: `APPLIED` (something changed), `UNCHANGED`, `STALE` (older
    than the last report applied), `DUPLICATE` (an event id already seen) or `SUPERSEDED`
    (addressed to a session whose references moved on)."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    STALE = "stale"
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class StatusReportOutcome:
    """`session` is the session the report now describes: a new session when the report named
    another phone (`replaced` is then the session that had the gateway name before)."""

    session: WhatsAppSession | None
    result: str
    replaced: WhatsAppSession | None = None

    @property
    def changed_anything(self) -> bool:
        return self.result == ReportResult.APPLIED


class GatewayNameMoved(Exception):
    """The session no longer answers to the gateway name the report was addressed to (it was
    handed over or superseded meanwhile): resolve the name again."""


def apply_status_report(
    session: WhatsAppSession,
    status: str,
    phone_number: str | None = None,
    *,
    reported_at: dt.datetime | None = None,
    event_id: str = "",
    identities: Mapping[str, str] | None = None,
    gateway_name: tuple[str, str] | None = None,
) -> StatusReportOutcome:
    """Record what the gateway (webhook, polling) or staff report about `session`.

    - `phone_number` may come in any shape gateways use and is stored in E.164. An unreadable
      one is logged and ignored: the status still applies and the stored phone stays.
    - `reported_at` is the gateway's event time; None means now, on the database's clock.
    - `event_id` is the gateway's id of the event, when it sends one.
    - `identities` are WhatsApp identities that are not phone numbers (`{"lid": "1@lid"}`),
      recorded in `session_data` for reference, never matched on.
    - `gateway_name` is the `(key, name)` the report was addressed to; GatewayNameMoved is
      raised, changing nothing, when the session no longer answers to it.

    Saving a session as connected lets the `post_save` receiver adopt its predecessors.
    Raises ValidationError, changing nothing, for an unknown status or a missing session.
    """
    if status not in Status.values:
        raise ValidationError(
            _("Unknown session status %(status)r; expected one of %(choices)s."),
            code="invalid_status",
            params={"status": status, "choices": ", ".join(Status.values)},
        )
    phone = _readable_phone(session, phone_number)
    if phone is None and identities:
        logger.warning(
            "Session %s: the gateway named no readable phone, only %s; the status applies and "
            "the stored phone %s stays.",
            session.pk,
            ", ".join(identities.values()),
            session.phone_number or "(none yet)",
        )
    using = router.db_for_write(WhatsAppSession)
    with transaction.atomic(using=using):
        if event_id:
            now = _first_sighting(event_id, using=using)
            if now is None:
                return StatusReportOutcome(session, ReportResult.DUPLICATE)
        else:
            now = database_now(using)
        reported_at = reported_at or now
        # Lock the session with the phone's other sessions, in id order, as a migration would:
        # the save below runs the adoption, which must never wait on a lock out of order.
        locked = {
            s.pk: s
            for s in lock_phone_sessions(session, phone or session.phone_number, using=using)
        }
        current = locked.get(session.pk)
        if current is None:
            raise ValidationError(
                _("Session %(id)s does not exist."), code="invalid", params={"id": session.pk}
            )
        if gateway_name is not None and not _answers_to(current, *gateway_name):
            raise GatewayNameMoved(gateway_name[1])
        if current.last_report_at is not None and reported_at < current.last_report_at:
            return StatusReportOutcome(current, ReportResult.STALE)
        if phone and current.phone_number and phone != current.phone_number:
            new = _hand_over_to_new_phone(
                current,
                status=status,
                phone=phone,
                reported_at=reported_at,
                identities=identities or {},
                now=now,
                using=using,
            )
            _refresh_callers_copy(session, current)
            return StatusReportOutcome(new, ReportResult.APPLIED, replaced=current)
        changed = _set_reported_fields(
            current, status=status, phone=phone, identities=identities or {}, now=now
        )
        current.last_report_at = reported_at
        if changed:
            current.save(using=using, update_fields=[*changed, "last_report_at", "updated_at"])
        else:
            WhatsAppSession.objects.using(using).filter(pk=current.pk).update(
                last_report_at=reported_at
            )
    _refresh_callers_copy(session, current)
    return StatusReportOutcome(current, ReportResult.APPLIED if changed else ReportResult.UNCHANGED)


def database_now(using: str) -> dt.datetime:
    """Now on the database's clock, which every process shares; the local clock elsewhere."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def prune_gateway_events(*, now: dt.datetime, using: str | None = None) -> int:
    """Forget event ids older than WHATSAPP_WEBHOOK_EVENT_RETENTION_HOURS."""
    cutoff = now - dt.timedelta(hours=settings.WHATSAPP_WEBHOOK_EVENT_RETENTION_HOURS)
    using = using or router.db_for_write(GatewayEvent)
    deleted, _by_model = GatewayEvent.objects.using(using).filter(received_at__lt=cutoff).delete()
    return deleted


def _first_sighting(event_id: str, *, using: str) -> dt.datetime | None:
    """Record `event_id` and return the time it was recorded, now on the database's clock;
    None when it was already recorded. Rolled back with the report.

    One statement: an id seen before is skipped by the insert itself, so a duplicate needs no
    savepoint to fail into, and the database's clock is read on the way."""
    connection = connections[using]
    table = connection.ops.quote_name(GatewayEvent._meta.db_table)
    event_column, time_column = (
        connection.ops.quote_name(GatewayEvent._meta.get_field(name).column)
        for name in ("event_id", "received_at")
    )
    if connection.vendor == "postgresql":
        now, clock = None, "statement_timestamp()"
    else:
        now, clock = timezone.now(), "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({event_column}, {time_column}) VALUES (%s, {clock}) "
            f"ON CONFLICT ({event_column}) DO NOTHING RETURNING {time_column}",
            [event_id[:200]] if now is None else [event_id[:200], now],
        )
        recorded = cursor.fetchone()
    if recorded is None:
        return None
    now = now or recorded[0]
    if random.randrange(_PRUNE_ONE_IN) == 0:
        prune_gateway_events(now=now, using=using)
    return now


def _readable_phone(session: WhatsAppSession, phone_number: str | None) -> str | None:
    if phone_number in (None, ""):
        return None
    try:
        return normalize_phone_number(phone_number)
    except ValidationError as exc:
        logger.warning(
            "Session %s: the gateway reported a phone that cannot be read (%s); the status "
            "applies and the stored phone %s stays.",
            session.pk,
            " ".join(exc.messages),
            session.phone_number or "(none yet)",
        )
        return None


def _answers_to(session: WhatsAppSession, key: str, name: str) -> bool:
    return session.superseded_by_id is None and session.gateway_name(key) == name


def _set_reported_fields(
    session: WhatsAppSession,
    *,
    status: str,
    phone: str | None,
    identities: Mapping[str, str],
    now: dt.datetime,
) -> list[str]:
    """Set the reported values on `session`; return the names of the fields that changed."""
    changed = []
    if phone and not session.phone_number:
        session.phone_number = phone
        changed.append("phone_number")
    if status != session.status:
        session.status = status
        changed.append("status")
        if status == Status.CONNECTED:
            session.connected_at = now
            changed.append("connected_at")
        elif status == Status.DISCONNECTED:
            session.disconnected_at = now
            changed.append("disconnected_at")
    data = _session_data(session)
    if any(data.get(key) != value for key, value in identities.items()):
        session.session_data = {**data, **identities}
        changed.append("session_data")
    return changed


def _hand_over_to_new_phone(
    old: WhatsAppSession,
    *,
    status: str,
    phone: str,
    reported_at: dt.datetime,
    identities: Mapping[str, str],
    now: dt.datetime,
    using: str,
) -> WhatsAppSession:
    """The gateway session now runs another phone: `old` keeps its phone and is disconnected,
    and a new session of the same organization, with the new phone, takes the gateway name.
    Nothing moves between them automatically, since the phones differ."""
    new_id = uuid.uuid4()
    old_data = _session_data(old)
    names = {key: old_data.pop(key) for key in GATEWAY_NAME_KEYS if key in old_data}
    old.session_data = {
        **old_data,
        **{f"former_{key}": name for key, name in names.items()},
        PHONE_CHANGED_TO_KEY: str(new_id),
    }
    fields = ["session_data", "last_report_at"]
    old.last_report_at = reported_at
    if old.status != Status.DISCONNECTED:
        old.status, old.disconnected_at = Status.DISCONNECTED, now
        fields += ["status", "disconnected_at"]
    # Saved first: the name must leave `old` before the new session can hold it.
    old.save(using=using, update_fields=[*fields, "updated_at"])
    logger.warning(
        "Session %s (%s) reported phone %s: it is disconnected and new session %s takes its "
        "gateway name; nothing moves automatically since the phones differ.",
        old.pk,
        old.phone_number,
        phone,
        new_id,
    )
    new = WhatsAppSession(
        id=new_id,
        organization_id=old.organization_id,
        phone_number=phone,
        status=status,
        connected_at=now if status == Status.CONNECTED else None,
        disconnected_at=now if status == Status.DISCONNECTED else None,
        last_report_at=reported_at,
        session_data={**names, **identities, PHONE_CHANGED_FROM_KEY: str(old.pk)},
    )
    new.save(using=using, force_insert=True)
    return new


def _session_data(session: WhatsAppSession) -> dict:
    return dict(session.session_data) if isinstance(session.session_data, dict) else {}


def _refresh_callers_copy(session: WhatsAppSession, current: WhatsAppSession) -> None:
    if session is current:
        return
    for name in (
        "status",
        "phone_number",
        "connected_at",
        "disconnected_at",
        "last_report_at",
        "session_data",
        "updated_at",
        "superseded_by_id",
    ):
        setattr(session, name, getattr(current, name))

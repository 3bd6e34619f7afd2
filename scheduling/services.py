"""Sending scheduled workshop and webinar messages through the WhatsApp gateway.

A dispatcher pass claims a batch of due messages in one statement (`FOR UPDATE SKIP LOCKED`
inside an `UPDATE … RETURNING`, committed at once), sends them outside any transaction, and
writes every outcome back in one statement guarded by its claim. Several dispatchers, on
several machines, share the queue:

- a claim is a lease (`lease_expires_at`); a dispatcher that dies leaves `sending` rows whose
  lease runs out, and the next pass of any dispatcher claims them again;
- an outcome is only written while the row is still `sending` and claimed by this dispatcher, so
  a dispatcher whose lease ran out cannot overwrite the result of the one that took over;
- a dispatcher stops sending before its lease runs out and gives the rest back.

Delivery is at least once: a dispatcher killed after the gateway accepted a message but before
the outcome was written leaves it to be sent again once the lease expires.

Pacing: WhatsApp bans numbers that burst, so one session sends at most once per
`WHATSAPP_SEND_INTERVAL_SECONDS` plus a random jitter, across all dispatchers. The next allowed
send time of each session is kept in `SessionSendPacing` and taken with a guarded upsert; the
other due messages of that session go back to `pending` with `next_attempt_at` spread over the
following slots, without counting an attempt, so no dispatcher sleeps on its claims.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from scheduling.models import ScheduledWhatsAppMessage
from scheduling.selectors import SendingSession, sending_sessions_for
from sessions_app.gateway import (
    BaseGatewayBackend,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionNotReadyError,
    get_gateway,
)
from sessions_app.services.supersession import attach_to_live_sessions

logger = logging.getLogger(__name__)

Status = ScheduledWhatsAppMessage.Status
KINDS = ("workshop", "webinar")
# Retries back off exponentially from WHATSAPP_DISPATCH_BACKOFF_SECONDS, up to this.
MAX_BACKOFF = dt.timedelta(hours=6)
# A message whose session is not connected waits for the phone to be paired again, never gives
# up, and is looked at again at least this often so it goes out soon after the reconnect.
SESSION_WAIT_MAX_BACKOFF = dt.timedelta(minutes=5)
# Outcomes are written at least this often while a batch is being sent, so a dispatcher that
# dies mid-batch leaves little to be sent twice.
FLUSH_EVERY_SECONDS = 1.0
# 7 parameters per outcome stays well under PostgreSQL's 65,535 parameters per statement.
OUTCOMES_PER_STATEMENT = 1000


def dispatcher_id() -> str:
    """A name unique to this process, stored in `claimed_by`."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class DispatchOptions:
    batch_size: int = 100
    kind: str | None = None
    lease_seconds: float = field(default_factory=lambda: settings.WHATSAPP_DISPATCH_LEASE_SECONDS)
    max_attempts: int = field(default_factory=lambda: settings.WHATSAPP_DISPATCH_MAX_ATTEMPTS)
    backoff_seconds: float = field(
        default_factory=lambda: settings.WHATSAPP_DISPATCH_BACKOFF_SECONDS
    )
    send_interval_seconds: float = field(
        default_factory=lambda: settings.WHATSAPP_SEND_INTERVAL_SECONDS
    )
    send_jitter_seconds: float = field(
        default_factory=lambda: settings.WHATSAPP_SEND_JITTER_SECONDS
    )

    @property
    def pacing(self) -> bool:
        return self.send_interval_seconds > 0 or self.send_jitter_seconds > 0

    def pause(self) -> dt.timedelta:
        """One gap between two sends of a session: the interval plus a random jitter."""
        jitter = random.uniform(0, self.send_jitter_seconds) if self.send_jitter_seconds else 0
        return dt.timedelta(seconds=self.send_interval_seconds + jitter)

    def backoff(self, attempts: int) -> dt.timedelta:
        seconds = self.backoff_seconds * 2 ** max(attempts - 1, 0)
        return min(dt.timedelta(seconds=seconds), MAX_BACKOFF)


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    released: int = 0

    def add(self, other: DispatchResult) -> None:
        for name in ("claimed", "sent", "retried", "failed", "deferred", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ClaimedMessage:
    id: uuid.UUID
    body: str
    attempts: int
    last_error: str
    chat_id: str
    event_session_id: uuid.UUID | None
    kind: str


@dataclass
class _Outcome:
    """The row values one message is written back with; None keeps the stored value."""

    id: uuid.UUID
    status: str
    attempts: int
    last_error: str | None = None
    sent_at: dt.datetime | None = None
    gateway_message_id: str | None = None
    next_attempt_at: dt.datetime | None = None


def dispatch_due_messages(
    *,
    worker: str,
    gateway: BaseGatewayBackend | None = None,
    options: DispatchOptions | None = None,
    now: dt.datetime | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DispatchResult:
    """Claim one batch of due messages, send them and record each outcome.

    `now` is the clock of the pass, the database's when None (tests move it forward instead
    of sleeping); `should_stop` is asked before each send: once it answers True the claims not
    yet sent are given back.
    """
    options = options or DispatchOptions()
    gateway = gateway or get_gateway()
    started = time.monotonic()
    claimed, now = claim_due_messages(worker=worker, options=options, now=now)
    batch = _Batch(worker=worker, result=DispatchResult(claimed=len(claimed)))
    if not claimed:
        return batch.result

    sessions = sending_sessions_for(
        (m.event_session_id for m in claimed), name_key=gateway.session_key
    )
    live = {session.id: session for session in sessions.values()}
    waiting: dict[uuid.UUID, list[ClaimedMessage]] = {}
    for message in claimed:
        session = sessions.get(message.event_session_id)
        if session is not None and not session.is_connected:
            reason = _("Session %(session)s is %(status)s, not connected.") % {
                "session": session.id,
                "status": session.status,
            }
            batch.add(_wait_for_session(message, reason, options=options, now=now))
        elif reason := _unusable_session_reason(message, session):
            batch.add(_retry_or_fail(message, reason, options=options, now=now))
        else:
            waiting.setdefault(session.id, []).append(message)

    to_send: list[tuple[ClaimedMessage, SendingSession]] = []
    if options.pacing and waiting:
        granted = reserve_send_slots({sid: now + options.pause() for sid in waiting}, now=now)
        for session_id, messages in waiting.items():
            if session_id in granted:
                to_send.append((messages[0], live[session_id]))
                slot, rest = granted[session_id], messages[1:]
            else:
                # Another dispatcher holds this session's slot: queue up right behind it.
                next_send_at = live[session_id].next_send_at
                slot = (
                    next_send_at if next_send_at and next_send_at > now else now + options.pause()
                )
                rest = messages
            for message in rest:
                batch.add(
                    _Outcome(message.id, Status.PENDING, message.attempts, next_attempt_at=slot),
                    deferred=True,
                )
                slot += options.pause()
    else:
        to_send = [(m, live[sid]) for sid, messages in waiting.items() for m in messages]

    # Stop sending well before the lease ends: past it another dispatcher may take the rows.
    margin = min(options.lease_seconds / 2, settings.WHATSAPP_GATEWAY_TIMEOUT + 5)
    deadline = started + options.lease_seconds - margin
    for index, (message, session) in enumerate(to_send):
        if should_stop() or time.monotonic() > deadline:
            for rest, _session in to_send[index:]:
                batch.add(_Outcome(rest.id, Status.PENDING, rest.attempts), released=True)
            break
        batch.add(
            _send(
                message,
                session,
                gateway=gateway,
                options=options,
                now=now,
                # On the claim's clock: when the claim was made plus the time since.
                clock=lambda: now + dt.timedelta(seconds=time.monotonic() - started),
            )
        )
        batch.flush_if_due()
    batch.flush()
    return batch.result


@dataclass
class _Batch:
    """Outcomes waiting to be written, and the tally of the pass."""

    worker: str
    result: DispatchResult
    outcomes: list[_Outcome] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)

    def add(self, outcome: _Outcome, *, deferred: bool = False, released: bool = False) -> None:
        self.outcomes.append(outcome)
        if deferred:
            self.result.deferred += 1
        elif released:
            self.result.released += 1
        elif outcome.status == Status.SENT:
            self.result.sent += 1
        elif outcome.status == Status.FAILED:
            self.result.failed += 1
        else:
            self.result.retried += 1

    def flush_if_due(self) -> None:
        if time.monotonic() - self.last_flush > FLUSH_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        record_outcomes(self.outcomes, worker=self.worker)
        self.outcomes = []
        self.last_flush = time.monotonic()


def _unusable_session_reason(message: ClaimedMessage, session: SendingSession | None) -> str:
    if message.event_session_id is None or session is None:
        if message.kind == "workshop":
            return _("The workshop has no WhatsApp session to send through.")
        return _("The webinar has no WhatsApp session to send through.")
    if not session.session_name:
        return _("Session %(session)s has no gateway name in its session_data.") % {
            "session": session.id
        }
    return ""


def _retry_or_fail(
    message: ClaimedMessage,
    reason: str,
    *,
    options: DispatchOptions,
    now: dt.datetime,
    retry_after: dt.timedelta | None = None,
) -> _Outcome:
    """Count an attempt; retry after `retry_after` (the gateway's own wait) or the backoff."""
    attempts = message.attempts + 1
    if attempts >= options.max_attempts:
        return _Outcome(
            message.id,
            Status.FAILED,
            attempts,
            last_error=ngettext(
                "Gave up after %(attempts)d attempt: %(reason)s",
                "Gave up after %(attempts)d attempts: %(reason)s",
                attempts,
            )
            % {"attempts": attempts, "reason": reason},
        )
    return _Outcome(
        message.id,
        Status.PENDING,
        attempts,
        last_error=reason,
        next_attempt_at=now + (options.backoff(attempts) if retry_after is None else retry_after),
    )


def _wait_for_session(
    message: ClaimedMessage, reason: str, *, options: DispatchOptions, now: dt.datetime
) -> _Outcome:
    """Back to pending, attempts counted, never failed: a disconnected phone is paired again."""
    attempts = message.attempts + 1
    return _Outcome(
        message.id,
        Status.PENDING,
        attempts,
        last_error=reason,
        next_attempt_at=now + min(options.backoff(attempts), SESSION_WAIT_MAX_BACKOFF),
    )


def _send(
    message: ClaimedMessage,
    session: SendingSession,
    *,
    gateway: BaseGatewayBackend,
    options: DispatchOptions,
    now: dt.datetime,
    clock: Callable[[], dt.datetime],
) -> _Outcome:
    try:
        message_id = gateway.send_text(
            session_name=session.session_name, chat_id=message.chat_id, text=message.body
        )
    except PermanentGatewayError as exc:
        return _Outcome(message.id, Status.FAILED, message.attempts + 1, last_error=str(exc))
    except SessionNotReadyError as exc:
        return _wait_for_session(message, str(exc), options=options, now=now)
    except RetryableGatewayError as exc:
        return _retry_or_fail(
            message, str(exc), options=options, now=now, retry_after=exc.retry_after
        )
    except Exception as exc:  # a backend bug must not lose the batch's other outcomes
        logger.exception("Gateway backend failed on message %s", message.id)
        return _retry_or_fail(message, f"{type(exc).__name__}: {exc}", options=options, now=now)
    return _Outcome(
        message.id,
        Status.SENT,
        message.attempts + 1,
        # Accepted without an id is still sent: sending it again could deliver it twice.
        last_error="" if message_id else _("The gateway accepted the message without an id."),
        sent_at=clock(),
        gateway_message_id=message_id or "",
    )


_CLAIM_SQL = """
    WITH clock AS (SELECT COALESCE(%(now)s::timestamptz, statement_timestamp()) AS now),
    claimed AS (
        UPDATE scheduled_whatsapp_messages AS m
        SET status = 'sending', claimed_by = %(worker)s,
            lease_expires_at = (SELECT now FROM clock) + %(lease)s * interval '1 second',
            updated_at = (SELECT now FROM clock)
        WHERE m.id IN (
            SELECT id FROM scheduled_whatsapp_messages
            WHERE ((status = 'pending'
                    AND COALESCE(next_attempt_at, send_at) <= (SELECT now FROM clock))
                OR (status = 'sending' AND lease_expires_at < (SELECT now FROM clock)))
                {kind_filter}
            ORDER BY COALESCE(next_attempt_at, send_at)
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        )
        RETURNING m.id, m.body, m.attempts, m.last_error, m.group_id, m.workshop_id,
            m.webinar_id, COALESCE(m.next_attempt_at, m.send_at) AS due_at
    )
    SELECT c.id, c.body, c.attempts, c.last_error, g.group_jid,
        COALESCE(w.whatsapp_session_id, wb.whatsapp_session_id),
        CASE WHEN c.workshop_id IS NULL THEN 'webinar' ELSE 'workshop' END,
        (SELECT now FROM clock)
    FROM claimed c
    JOIN whatsapp_groups g ON g.id = c.group_id
    LEFT JOIN workshops w ON w.id = c.workshop_id
    LEFT JOIN webinars wb ON wb.id = c.webinar_id
    ORDER BY c.due_at, c.id
"""
_KIND_FILTERS = {
    None: "",
    "workshop": "AND workshop_id IS NOT NULL",
    "webinar": "AND webinar_id IS NOT NULL",
}


def claim_due_messages(
    *, worker: str, options: DispatchOptions, now: dt.datetime | None = None
) -> tuple[list[ClaimedMessage], dt.datetime | None]:
    """Mark up to `batch_size` due messages `sending` for `worker`, in one committed statement.

    Due: pending and past `next_attempt_at` (or `send_at`), or sending under an expired lease.
    Rows another dispatcher is claiming right now are skipped, never waited for. Returns the
    claimed messages and the time the claim was made at: `now`, or else the database's clock,
    so dispatchers on machines whose clocks disagree still agree on leases and due times.
    """
    if options.kind not in _KIND_FILTERS:
        raise ValueError(f"Unknown message kind {options.kind!r}; expected one of {KINDS}.")
    sql = _CLAIM_SQL.format(kind_filter=_KIND_FILTERS[options.kind])
    params = {
        "worker": worker,
        "lease": options.lease_seconds,
        "now": now,
        "limit": options.batch_size,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    claimed_at = rows[0][-1] if rows else now
    return [ClaimedMessage(*row[:-1]) for row in rows], claimed_at


def reserve_send_slots(
    next_send_at: dict[uuid.UUID, dt.datetime], *, now: dt.datetime
) -> dict[uuid.UUID, dt.datetime]:
    """Take the send slot of each session whose slot is free at `now`, across dispatchers.

    Returns the sessions granted, each with its next slot (`next_send_at[session]`). A session
    whose next slot is still ahead is left unchanged and not granted.
    """
    ids = list(next_send_at)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO whatsapp_session_pacing (session_id, next_send_at)
            SELECT * FROM unnest(%s::uuid[], %s::timestamptz[])
            ON CONFLICT (session_id) DO UPDATE SET next_send_at = EXCLUDED.next_send_at
            WHERE whatsapp_session_pacing.next_send_at <= %s
            RETURNING session_id, next_send_at
            """,
            [ids, [next_send_at[i] for i in ids], now],
        )
        return dict(cursor.fetchall())


def record_outcomes(outcomes: list[_Outcome], *, worker: str) -> int:
    """Write `outcomes` in one statement, only where `worker` still holds the claim.

    A row whose lease expired and was claimed by another dispatcher is left to that one.
    """
    if len(outcomes) > OUTCOMES_PER_STATEMENT:
        return sum(
            record_outcomes(outcomes[i : i + OUTCOMES_PER_STATEMENT], worker=worker)
            for i in range(0, len(outcomes), OUTCOMES_PER_STATEMENT)
        )
    if not outcomes:
        return 0
    values = ", ".join(
        ["(%s::uuid, %s, %s::integer, %s, %s::timestamptz, %s, %s::timestamptz)"] * len(outcomes)
    )
    params: list = []
    for o in outcomes:
        params += [
            o.id,
            o.status,
            o.attempts,
            o.last_error,
            o.sent_at,
            o.gateway_message_id,
            o.next_attempt_at,
        ]
    sql = f"""
        UPDATE scheduled_whatsapp_messages AS m
        SET status = v.status, attempts = v.attempts,
            last_error = COALESCE(v.last_error, m.last_error),
            sent_at = COALESCE(v.sent_at, m.sent_at),
            gateway_message_id = COALESCE(v.gateway_message_id, m.gateway_message_id),
            next_attempt_at = COALESCE(v.next_attempt_at, m.next_attempt_at),
            claimed_by = '', lease_expires_at = NULL, updated_at = %s
        FROM (VALUES {values})
            AS v(id, status, attempts, last_error, sent_at, gateway_message_id, next_attempt_at)
        WHERE m.id = v.id AND m.status = 'sending' AND m.claimed_by = %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), *params, worker])
        written = cursor.rowcount
    _follow_live_groups([o.id for o in outcomes if o.status == Status.PENDING])
    if written != len(outcomes):
        logger.warning(
            "%s of %s outcomes not written: their lease expired and another dispatcher took "
            "them over.",
            len(outcomes) - written,
            len(outcomes),
        )
    return written


def _follow_live_groups(pending_ids: list) -> None:
    """Messages back to pending whose group a migration merged meanwhile (a claimed message is
    not re-pointed) go to the live session's group of the same group_jid."""
    if pending_ids:
        attach_to_live_sessions(ScheduledWhatsAppMessage.objects.filter(pk__in=pending_ids))


def release_claims(*, worker: str) -> int:
    """Give back every message `worker` holds, untouched, for any dispatcher to take."""
    held = ScheduledWhatsAppMessage.objects.filter(status=Status.SENDING, claimed_by=worker)
    ids = list(held.values_list("pk", flat=True))
    # Still held: a row another dispatcher took over meanwhile is its own.
    released = held.filter(pk__in=ids).update(
        status=Status.PENDING, claimed_by="", lease_expires_at=None, updated_at=timezone.now()
    )
    _follow_live_groups(ids)
    return released


def messages_retry_now(*, queryset: QuerySet) -> int:
    """Send the failed messages of `queryset` again on the next pass, with fresh attempts, on
    the live session's group when theirs was merged since.

    The last error stays visible until a send succeeds.
    """
    now = timezone.now()
    ids = list(queryset.filter(status=Status.FAILED).values_list("pk", flat=True))
    retried = ScheduledWhatsAppMessage.objects.filter(pk__in=ids, status=Status.FAILED).update(
        status=Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        claimed_by="",
        lease_expires_at=None,
        updated_at=now,
    )
    _follow_live_groups(ids)
    return retried

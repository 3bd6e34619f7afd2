"""Reads for "Needs attention": what staff of some organizations should fix now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from scheduling.models import DispatcherHeartbeat, ScheduledWhatsAppMessage
from scheduling.selectors import MAX_SUPERSESSION_DEPTH
from sessions_app.models import WhatsAppSession
from sessions_app.references import pointing_rows

Status = ScheduledWhatsAppMessage.Status
SessionStatus = WhatsAppSession.Status

# A dispatcher runs a pass every few seconds while it is up (`--loop`); past this, none is.
DISPATCHER_QUIET_AFTER = dt.timedelta(minutes=5)
CHART_HOURS = 48
FAILED_WINDOW = dt.timedelta(hours=24)
# Lists on the page stop here; the linked admin list has the rest.
LIST_LIMIT = 20


def _scoped(queryset: QuerySet, organization_field: str, organization_ids) -> QuerySet:
    """`organization_ids` None: every organization (a superuser)."""
    if organization_ids is None:
        return queryset
    return queryset.filter(**{f"{organization_field}__in": organization_ids})


@dataclass(frozen=True)
class HeldSessions:
    """Disconnected or superseded sessions that rows still point at: how many, how many rows
    in all, and the first `listed` of them, longest down first, each with `reference_count`."""

    count: int
    rows: int
    listed: list[WhatsAppSession]
    ids: list


def sessions_holding_references(*, organization_ids, listed: int = LIST_LIMIT) -> HeldSessions:
    """Two queries whatever the number of sessions: the down sessions that rows point at, longest
    down first, each with how many rows point at it; the listed ones with their organizations."""
    down = _scoped(
        WhatsAppSession.objects.filter(
            Q(status=SessionStatus.DISCONNECTED) | Q(superseded_by__isnull=False)
        ),
        "organization_id",
        organization_ids,
    )
    totals = _held_totals(down)
    ids = list(totals)
    shown = ids[:listed]
    sessions = WhatsAppSession.objects.select_related("organization").in_bulk(shown)
    for pk, session in sessions.items():
        session.reference_count = totals[pk]
    return HeldSessions(
        count=len(ids),
        rows=sum(totals.values()),
        listed=[sessions[pk] for pk in shown if pk in sessions],
        ids=ids,
    )


def _held_totals(sessions: QuerySet[WhatsAppSession]) -> dict:
    """The sessions of `sessions` that rows point at, longest down first, each mapped to how many
    rows point at it: the rows of every table of the reference registry, in one query.

    The sessions are read once; each table's rows that point at any of them are then counted per
    session in one join, where a count per session and table would run a subquery for each."""
    candidates, candidate_params = sessions.order_by().values("pk").query.sql_with_params()
    parts, part_params = [], []
    for rows in pointing_rows():
        counted = (
            rows.model._default_manager.filter(
                **{f"{rows.session_path}__in": RawSQL("SELECT pk FROM candidates", ())},
                **rows.where,
            )
            .order_by()
            .values(held_session=F(rows.session_path))
            .annotate(n=Count("*"))
            .values_list("held_session", "n")
        )
        sql, params = counted.query.sql_with_params()
        parts.append(sql)
        part_params.extend(params)
    table = connection.ops.quote_name(WhatsAppSession._meta.db_table)
    # The order is read from the sessions table itself, whose statistics keep the planner's
    # estimates, and with them its cost, low enough that PostgreSQL never compiles the query.
    sql = f"""
        WITH candidates AS MATERIALIZED ({candidates})
        SELECT s.id, pointing.n FROM (
            SELECT session_id, sum(n)::bigint AS n
            FROM ({" UNION ALL ".join(f"({part})" for part in parts)}) AS parts (session_id, n)
            GROUP BY session_id
        ) AS pointing
        JOIN {table} s ON s.id = pointing.session_id
        ORDER BY s.disconnected_at ASC NULLS LAST, s.created_at, s.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*candidate_params, *part_params])
        return dict(cursor.fetchall())


@dataclass(frozen=True)
class WaitingOnSession:
    """Pending messages whose sending session (the live end of their event's session's chain)
    is not connected."""

    session: WhatsAppSession
    pending: int
    oldest_due: dt.datetime


# The sessions with events whose chain ends in a session that is not connected: the chains are
# walked back from those ends, and the events looked for on them through their session's index.
_SESSIONS_WITH_EVENTS_SQL = """
    WITH RECURSIVE feeding(id, depth) AS (
        SELECT s.id, 0 FROM whatsapp_sessions s
        WHERE s.superseded_by_id IS NULL AND s.status <> %(connected)s
          AND (%(organizations)s::uuid[] IS NULL OR s.organization_id = ANY(%(organizations)s))
        UNION ALL
        SELECT s.id, f.depth + 1
        FROM feeding f JOIN whatsapp_sessions s ON s.superseded_by_id = f.id
        WHERE f.depth < %(max_depth)s
    )
    SELECT whatsapp_session_id FROM workshops
    WHERE whatsapp_session_id IN (SELECT id FROM feeding) GROUP BY 1
    UNION
    SELECT whatsapp_session_id FROM webinars
    WHERE whatsapp_session_id IN (SELECT id FROM feeding) GROUP BY 1
"""
# The pending messages of those sessions' events, probed through the message's event index and
# counted per session at the end of the chain (each link looked up by its key, where a join
# would hash every session). The sessions are known by now, so the planner counts on as many as
# there are, never on its guess of the walk's length: a guess large enough would have
# PostgreSQL compile the query first.
_WAITING_SQL = """
    WITH RECURSIVE chain(start_id, id, next_id, links) AS (
        SELECT s.id, s.id, s.superseded_by_id, 0 FROM whatsapp_sessions s
        WHERE s.id = ANY(%(sessions)s)
        UNION ALL
        SELECT c.start_id, c.next_id,
               (SELECT s.superseded_by_id FROM whatsapp_sessions s WHERE s.id = c.next_id),
               c.links + 1
        FROM chain c WHERE c.next_id IS NOT NULL AND c.links < %(max_depth)s
    ), waiting(session_id, messages, oldest_due) AS (
        SELECT e.whatsapp_session_id, count(*), min(m.send_at)
        FROM workshops e JOIN scheduled_whatsapp_messages m ON m.workshop_id = e.id
        WHERE e.whatsapp_session_id = ANY(%(sessions)s) AND m.status = %(pending)s
        GROUP BY e.whatsapp_session_id
        UNION ALL
        SELECT e.whatsapp_session_id, count(*), min(m.send_at)
        FROM webinars e JOIN scheduled_whatsapp_messages m ON m.webinar_id = e.id
        WHERE e.whatsapp_session_id = ANY(%(sessions)s) AND m.status = %(pending)s
        GROUP BY e.whatsapp_session_id
    )
    SELECT chain.id, sum(waiting.messages)::bigint, min(waiting.oldest_due)
    FROM waiting JOIN chain ON chain.start_id = waiting.session_id
    WHERE chain.next_id IS NULL OR chain.links = %(max_depth)s
    GROUP BY chain.id
"""


def messages_waiting_on_down_sessions(*, organization_ids) -> list[WaitingOnSession]:
    """Pending messages per down sending session, oldest due first. At most three queries: the
    sessions with events that send through a down session, their events' pending messages per
    sending session, those sessions. The cost follows the down sessions and their events, never
    the queue."""
    with connection.cursor() as cursor:
        cursor.execute(
            _SESSIONS_WITH_EVENTS_SQL,
            {
                "connected": SessionStatus.CONNECTED,
                "organizations": None if organization_ids is None else list(organization_ids),
                "max_depth": MAX_SUPERSESSION_DEPTH,
            },
        )
        with_events = [session_id for (session_id,) in cursor.fetchall()]
        if not with_events:
            return []
        cursor.execute(
            _WAITING_SQL,
            {
                "sessions": with_events,
                "pending": Status.PENDING,
                "max_depth": MAX_SUPERSESSION_DEPTH,
            },
        )
        waiting = {session: (pending, oldest) for session, pending, oldest in cursor.fetchall()}
    sessions = WhatsAppSession.objects.select_related("organization").in_bulk(list(waiting))
    found = [
        WaitingOnSession(session=sessions[pk], pending=pending, oldest_due=oldest_due)
        for pk, (pending, oldest_due) in waiting.items()
        if pk in sessions
    ]
    return sorted(found, key=lambda item: item.oldest_due)


def _organization_groups_sql(organizations: str) -> str:
    """The ids of the groups of some organizations' sessions; `organizations` their ids' param."""
    return (
        "SELECT g.id FROM whatsapp_groups g JOIN whatsapp_sessions s ON s.id = g.session_id"
        f" WHERE s.organization_id = ANY({organizations})"
    )


# Some organizations' messages that failed since a time: the window is read off its partial
# index (scheduled_msg_failed_updated), then cut to their groups. OFFSET 0 keeps the groups out
# of the window's scan: joined to it, the planner reads every message those groups ever failed.
_FAILED_SINCE_SQL = f"""
    SELECT recent.id, recent.updated_at FROM (
        SELECT id, group_id, updated_at FROM scheduled_whatsapp_messages
        WHERE status = %s AND updated_at >= %s
        OFFSET 0
    ) AS recent
    WHERE recent.group_id IN ({_organization_groups_sql("%s")})
"""


@dataclass(frozen=True)
class FailedMessages:
    recent: list[ScheduledWhatsAppMessage]  # latest first, with their groups
    count: int


def failed_messages_since(
    *, organization_ids, since: dt.datetime, listed: int = LIST_LIMIT
) -> FailedMessages:
    """Messages that failed for good since `since`, by when their state last changed: the latest
    `listed` and how many in all. Two queries at most, the second only past `listed`."""
    failed = ScheduledWhatsAppMessage.objects.filter(status=Status.FAILED, updated_at__gte=since)
    scoped = organization_ids is not None
    params = (Status.FAILED, since, list(organization_ids)) if scoped else ()
    if scoped:
        # Their latest ids first, so the messages read are those listed.
        latest = f"SELECT id FROM ({_FAILED_SINCE_SQL}) AS f ORDER BY updated_at DESC LIMIT %s"
        failed = failed.filter(pk__in=RawSQL(latest, (*params, listed + 1)))
    recent = list(failed.select_related("group").order_by("-updated_at")[: listed + 1])
    if len(recent) <= listed:
        return FailedMessages(recent=recent, count=len(recent))
    if not scoped:
        return FailedMessages(recent=recent[:listed], count=failed.count())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({_FAILED_SINCE_SQL}) AS f", params)
        return FailedMessages(recent=recent[:listed], count=cursor.fetchone()[0])


@dataclass(frozen=True)
class DispatcherPulse:
    last_pass_at: dt.datetime | None
    active: int  # dispatchers that made a pass within DISPATCHER_QUIET_AFTER

    def quiet_for(self, now: dt.datetime) -> dt.timedelta | None:
        """How long no dispatcher has run, when that is longer than it should be."""
        if self.last_pass_at is None:
            return None
        quiet = now - self.last_pass_at
        return quiet if quiet > DISPATCHER_QUIET_AFTER else None


def dispatcher_pulse(*, now: dt.datetime) -> DispatcherPulse:
    """The last pass of any dispatcher, and how many passed recently. One query."""
    row = DispatcherHeartbeat.objects.aggregate(
        latest=Max("last_pass_at"),
        active=Count("pk", filter=Q(last_pass_at__gte=now - DISPATCHER_QUIET_AFTER)),
    )
    return DispatcherPulse(last_pass_at=row["latest"], active=row["active"])


@dataclass(frozen=True)
class HourTally:
    hour: dt.datetime
    sent: int = 0
    retried: int = 0
    failed: int = 0


def _outcomes_sql(*, scoped: bool) -> str:
    """Per hour and outcome, the messages of the last hours; `scoped`: of some organizations.

    Each outcome is read off its partial index (scheduled_msg_sent_at, _failed_updated,
    _retried_updated): the window, never the history; unscoped, off the index alone. OFFSET 0
    keeps the filter on the organizations' groups out of the arms: pushed into them, the planner
    would read every message of those groups, history and all."""
    group = ", group_id" if scoped else ""
    sql = f"""
        SELECT date_trunc('hour', recent.at AT TIME ZONE %(zone)s), recent.outcome, count(*)
        FROM (
            SELECT 'sent', sent_at{group} FROM scheduled_whatsapp_messages
            WHERE status = %(sent)s AND sent_at >= %(since)s
            UNION ALL
            SELECT 'failed', updated_at{group} FROM scheduled_whatsapp_messages
            WHERE status = %(failed)s AND updated_at >= %(since)s
            UNION ALL
            SELECT 'retried', updated_at{group} FROM scheduled_whatsapp_messages
            WHERE status = %(pending)s AND attempts > 0 AND updated_at >= %(since)s
            OFFSET 0
        ) AS recent (outcome, at{group})
    """
    if scoped:
        sql += f" WHERE recent.group_id IN ({_organization_groups_sql('%(organizations)s')})"
    return sql + " GROUP BY 1, 2"


def message_outcomes_per_hour(
    *, organization_ids, now: dt.datetime, hours: int = CHART_HOURS
) -> list[HourTally]:
    """Per hour of the last `hours` (oldest first, every hour present): messages sent, waiting
    for a retry after a failed attempt, and failed for good. One query.

    A message counts once, in the hour of its latest outcome: a retried message that was sent
    later counts as sent, in the hour it went out."""
    # Hours as TruncHour cuts them: in the current time zone.
    zone = timezone.get_current_timezone()
    first_hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    first_hour -= dt.timedelta(hours=hours - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            _outcomes_sql(scoped=organization_ids is not None),
            {
                "zone": timezone.get_current_timezone_name(),
                "since": first_hour,
                "sent": Status.SENT,
                "failed": Status.FAILED,
                "pending": Status.PENDING,
                "organizations": None if organization_ids is None else list(organization_ids),
            },
        )
        rows = cursor.fetchall()
    by_hour: dict = {}
    for hour, outcome, count in rows:
        by_hour.setdefault(timezone.make_aware(hour, zone), {})[outcome] = count
    return [
        HourTally(hour=hour, **by_hour.get(hour, {}))
        for hour in (first_hour + dt.timedelta(hours=n) for n in range(hours))
    ]

"""Data and database snapshots for the session migration tests."""

import datetime as dt
from dataclasses import dataclass, field

import psycopg
from django.db import connection
from django.utils import timezone

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, SessionToSweep, WhatsAppGroup, WhatsAppSession
from tests import factories

Status = WhatsAppSession.Status
Message = ScheduledWhatsAppMessage.Status
Campaign = NotificationCampaign.Status

PHONE = "+5511988887777"
# The keys of a migration's counts, in the order the admin shows them.
COUNT_KEYS = [
    "workshops",
    "webinars",
    "campaigns",
    "organizations",
    "groups_moved",
    "groups_merged",
    "scheduled_messages",
    "messages_with_groups",
]


def second_connection() -> psycopg.Connection:
    """A connection of its own to the test database, outside Django."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
    )


def database_snapshot(*, sweep_notes: bool = False) -> dict[str, list[tuple]]:
    """Every row of every table, as the database returns them, in a stable order. Without the
    notes PostgreSQL keeps for the sweep (`sessions_to_sweep`) unless asked: a move or an undo
    leaves some, which no one reads but the sweep."""
    snapshot = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table.startswith("sqlite_"):
                continue
            if table == SessionToSweep._meta.db_table and not sweep_notes:
                continue
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")
            snapshot[table] = sorted(cursor.fetchall(), key=repr)
    return snapshot


def new_then_old(
    organization: Organization | None = None,
    *,
    phone: str = PHONE,
    new_status: str = Status.CONNECTED,
) -> tuple[WhatsAppSession, WhatsAppSession]:
    """A phone's new session and its earlier one, made in that order so the new session's save
    finds no predecessor yet and nothing moves before the test does."""
    organization = organization or factories.OrganizationFactory()
    new = factories.WhatsAppSessionFactory(
        organization=organization, phone_number=phone, status=new_status
    )
    old = factories.WhatsAppSessionFactory(
        organization=organization,
        phone_number=phone,
        status=Status.DISCONNECTED,
        disconnected_at=timezone.now() - dt.timedelta(hours=1),
    )
    return old, new


@dataclass
class Holdings:
    """Rows that point at one session, by what a migration should do to them."""

    workshops: list = field(default_factory=list)
    webinars: list = field(default_factory=list)
    active_campaigns: list = field(default_factory=list)
    finished_campaigns: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    pending_messages: list = field(default_factory=list)
    other_messages: list = field(default_factory=list)


def give_references(session: WhatsAppSession, *, count: int = 2) -> Holdings:
    """Attach `count` rows of each kind to `session` with bulk inserts (no signals, no saves)."""
    org = session.organization_id
    now = timezone.now()
    held = Holdings()
    held.workshops = Workshop.objects.bulk_create(
        Workshop(organization_id=org, title=f"W{i}", starts_at=now, whatsapp_session=session)
        for i in range(count)
    )
    held.webinars = Webinar.objects.bulk_create(
        Webinar(organization_id=org, title=f"B{i}", starts_at=now, whatsapp_session=session)
        for i in range(count)
    )
    statuses = list(Campaign.values)
    campaigns = NotificationCampaign.objects.bulk_create(
        NotificationCampaign(
            organization_id=org, name=f"C{i}", session=session, status=statuses[i % len(statuses)]
        )
        for i in range(max(count, len(statuses)))
    )
    active = ("scheduled", "pending", "sending")
    held.active_campaigns = [c for c in campaigns if c.status in active]
    held.finished_campaigns = [c for c in campaigns if c not in held.active_campaigns]
    held.groups = WhatsAppGroup.objects.bulk_create(
        WhatsAppGroup(session=session, group_jid=f"1203630{session.pk.int % 10**6:06d}{i:05d}@g.us")
        for i in range(count)
    )
    message_statuses = list(Message.values)
    messages = ScheduledWhatsAppMessage.objects.bulk_create(
        ScheduledWhatsAppMessage(
            group=held.groups[i % count],
            workshop=held.workshops[i % count],
            body=f"M{i}",
            send_at=now,
            status=message_statuses[i % len(message_statuses)],
        )
        for i in range(max(count, len(message_statuses)))
    )
    held.pending_messages = [m for m in messages if m.status == Message.PENDING]
    held.other_messages = [m for m in messages if m.status != Message.PENDING]
    return held


def ids(rows) -> set[str]:
    return {str(row.pk) for row in rows}


def session_of(model, pk, field_name: str):
    return model.objects.values_list(field_name, flat=True).get(pk=pk)

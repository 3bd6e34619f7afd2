"""Property: a migration followed by its undo gives back every table as it was (but the audit);
with edits in between, the edited rows are left as edited and reported, the others go back."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, WhatsAppGroup, WhatsAppSession
from sessions_app.services.migration import migrate_session, undo_migration
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("postgres_only")]

PHONE = "+5511911110000"
JIDS = [f"12036300000000000{i}@g.us" for i in range(4)]
TABLE_OF = {
    "workshops": "workshops",
    "webinars": "webinars",
    "campaigns": "notification_campaigns",
    "organizations": "organizations",
    "groups_moved": "whatsapp_groups",
    "groups_merged": "whatsapp_groups",
    "scheduled_messages": "scheduled_whatsapp_messages",
    "messages_with_groups": "scheduled_whatsapp_messages",
}

world_strategy = st.fixed_dictionaries(
    {
        # (jid, active) of the old session's groups, and of the new session's.
        "old_groups": st.dictionaries(st.sampled_from(JIDS), st.booleans(), max_size=4),
        "new_groups": st.dictionaries(st.sampled_from(JIDS), st.booleans(), max_size=4),
        "events": st.lists(
            st.tuples(st.sampled_from(["workshop", "webinar"]), st.sampled_from(["old", "new"])),
            max_size=5,
        ),
        "campaigns": st.lists(
            st.tuples(
                st.sampled_from(NotificationCampaign.Status.values), st.sampled_from(["old", "new"])
            ),
            max_size=5,
        ),
        # (group index, status): messages in the old session's groups.
        "messages": st.lists(
            st.tuples(st.integers(0, 3), st.sampled_from(ScheduledWhatsAppMessage.Status.values)),
            max_size=8,
        ),
        "community": st.booleans(),
    }
)
edits_strategy = st.lists(
    st.tuples(
        st.sampled_from(["repoint", "status", "deactivate", "reactivate", "delete"]),
        st.integers(0, 20),
    ),
    max_size=5,
)


def build(world):
    now = timezone.now()
    organization = Organization.objects.create(name="Org")
    new = WhatsAppSession.objects.create(
        organization=organization, phone_number=PHONE, status="connected", connected_at=now
    )
    old = WhatsAppSession.objects.create(
        organization=organization,
        phone_number=PHONE,
        status="disconnected",
        created_at=now - dt.timedelta(days=1),
    )
    sessions = {"old": old, "new": new}
    for jid, active in world["new_groups"].items():
        WhatsAppGroup.objects.create(session=new, group_jid=jid, is_active=active)
    old_groups = [
        WhatsAppGroup.objects.create(session=old, group_jid=jid, is_active=active)
        for jid, active in world["old_groups"].items()
    ]
    workshop = Workshop.objects.create(
        organization=organization, title="w", starts_at=now, whatsapp_session=old
    )
    for kind, where in world["events"]:
        model = Workshop if kind == "workshop" else Webinar
        model.objects.create(
            organization=organization, title=kind, starts_at=now, whatsapp_session=sessions[where]
        )
    for status, where in world["campaigns"]:
        NotificationCampaign.objects.create(
            organization=organization, name="c", session=sessions[where], status=status
        )
    for index, status in world["messages"]:
        if old_groups:
            ScheduledWhatsAppMessage.objects.create(
                group=old_groups[index % len(old_groups)],
                workshop=workshop,
                body="m",
                send_at=now,
                status=status,
            )
    if world["community"]:
        Organization.objects.filter(pk=organization.pk).update(community_session=old)
    third = WhatsAppSession.objects.create(organization=organization, status="connected")
    return old, new, third


def without_audit(snapshot):
    return {table: rows for table, rows in snapshot.items() if table != "session_migrations"}


def rows_by_id() -> dict[tuple[str, str], tuple]:
    """Every row of the tables a migration touches, by (table, id)."""
    found = {}
    with connection.cursor() as cursor:
        for table in set(TABLE_OF.values()):
            cursor.execute(f"SELECT * FROM {table}")
            found.update({(table, str(r[0])): r for r in cursor.fetchall()})
    return found


def row(table, row_id):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [row_id])
        return cursor.fetchone()


def apply_edit(kind, n, migration, third):
    """Change one moved row the way staff or the dispatcher could; the (key, id) it changed."""
    moved = migration.moved_ids
    choices = {
        "repoint": [("workshops", i) for i in moved["workshops"]]
        + [("webinars", i) for i in moved["webinars"]]
        + [("campaigns", i) for i in moved["campaigns"]],
        "status": [("campaigns", i) for i in moved["campaigns"]]
        + [("scheduled_messages", i) for i in moved["scheduled_messages"]],
        "deactivate": [("groups_moved", i) for i in moved["groups_moved"]],
        "reactivate": [("groups_merged", i) for i in moved["groups_merged"]],
        "delete": [("webinars", i) for i in moved["webinars"]],
    }[kind]
    if not choices:
        return None
    key, row_id = choices[n % len(choices)]
    if kind == "repoint":
        model = {"workshops": Workshop, "webinars": Webinar, "campaigns": NotificationCampaign}[key]
        field = "session" if key == "campaigns" else "whatsapp_session"
        model.objects.filter(pk=row_id).update(**{field: third})
    elif kind == "status" and key == "campaigns":
        NotificationCampaign.objects.filter(pk=row_id).update(status="completed")
    elif kind == "status":
        ScheduledWhatsAppMessage.objects.filter(pk=row_id).update(status="sent")
    elif kind == "deactivate":
        WhatsAppGroup.objects.filter(pk=row_id).update(is_active=False)
    elif kind == "reactivate":
        WhatsAppGroup.objects.filter(pk=row_id).update(is_active=True)
    else:
        Webinar.objects.filter(pk=row_id).delete()
    return key, row_id


PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(world_strategy)
def test_a_migration_then_its_undo_gives_back_every_table(world):
    with transaction.atomic():
        old, new, _ = build(world)
        before = without_audit(database_snapshot())

        active_on_old = set(
            WhatsAppGroup.objects.filter(session=old, is_active=True).values_list(
                "group_jid", flat=True
            )
        )
        migration = migrate_session(old, new, trigger="command").migration
        for jid in active_on_old:
            active = WhatsAppGroup.objects.filter(session=new, group_jid=jid, is_active=True)
            assert active.count() == 1, jid
        if migration is not None:
            result = undo_migration(migration, actor=None)
            assert result.left == {}

        assert without_audit(database_snapshot()) == before
        transaction.set_rollback(True)


@PROPERTY_SETTINGS
@given(world_strategy, edits_strategy)
def test_rows_edited_in_between_stay_as_edited_and_the_others_go_back(world, edits):
    with transaction.atomic():
        old, new, third = build(world)
        before = rows_by_id()
        migration = migrate_session(old, new, trigger="command").migration
        if migration is None:
            transaction.set_rollback(True)
            return
        moved = {(key, i) for key, ids in migration.moved_ids.items() for i in ids}
        edited = {edit for kind, n in edits if (edit := apply_edit(kind, n, migration, third))}
        after_edits = {(key, i): row(TABLE_OF[key], i) for key, i in edited}

        result = undo_migration(migration, actor=None)

        left = {(key, entry["id"]) for key, rows in result.left.items() for entry in rows}
        assert edited <= left
        for key, i in edited:
            assert row(TABLE_OF[key], i) == after_edits[(key, i)], (key, i)
        # A message that followed a group left behind stays with it; every other row is back.
        followers_left = {(key, i) for key, i in left if key == "messages_with_groups"}
        assert left - edited <= followers_left
        for key, i in moved - left:
            assert row(TABLE_OF[key], i) == before[(TABLE_OF[key], i)], (key, i)
        transaction.set_rollback(True)

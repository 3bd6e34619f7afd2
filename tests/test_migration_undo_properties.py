"""Property: a reconnect's migration followed by its undo gives back every table as it was (but
the audit and the sessions' status); with edits in between, the edited rows are left as edited
and reported, the others go back.

The migration is the automatic one: the old session's STOPPED arrives after the new session
connected and synced its groups from the gateway, through the signed webhook or
`apply_status_report`. Each session was paired without a phone and got it from a report; the
groups are what the gateway listed, some no longer listed (inactive) by the time of the move.
"""

from collections import Counter

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.migration import undo_migration
from tests.migration_helpers import database_snapshot
from tests.reconnect_stories import (
    JIDS,
    LINES,
    VIAS,
    Pair,
    Reach,
    Relist,
    Report,
    Story,
    Sync,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("postgres_only")]

EXAMPLES = 40
OLD, NEW, THIRD = (0, 0), (0, 1), (1, 0)  # (line, index): the old and new session of one phone
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

LISTED = st.sampled_from(["listed", "listed", "listed once", "never"])
MESSAGE_STATUSES = st.sampled_from(["pending"] * 4 + ["sending", "sent", "failed", "cancelled"])
world_strategy = st.fixed_dictionaries(
    {
        # The phone's groups, and for each of its two sessions whether the gateway lists the
        # group, listed it once (the group is inactive by the time of the move) or never did.
        "groups": st.dictionaries(
            st.sampled_from(JIDS), st.tuples(LISTED, LISTED), min_size=2, max_size=4
        ),
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
            st.tuples(st.integers(0, 3), MESSAGE_STATUSES),
            min_size=2,
            max_size=8,
        ),
        "community": st.booleans(),
        # How the gateway's reports arrive: the connects, and the old session's late STOPPED.
        "vias": st.tuples(*[st.sampled_from(VIAS)] * 3),
    }
)
# Reaches every kind of moved row: a group only the old session has moves, a group both have
# merges, and the new session connects through the other path than the late STOPPED.
EVERY_KIND_MOVES = {
    "groups": {JIDS[0]: ("listed", "never"), JIDS[1]: ("listed", "listed")},
    "events": [("workshop", "old"), ("webinar", "old"), ("webinar", "new")],
    "campaigns": [("scheduled", "old"), ("draft", "old")],
    "messages": [(0, "pending"), (1, "pending"), (1, "sent")],
    "community": True,
    "vias": ("webhook", "apply_status_report", "webhook"),
}
# What staff or the dispatcher may do to each kind of moved row before the undo.
EDITS = {
    "workshops": ("repoint",),
    "webinars": ("repoint", "delete"),
    "campaigns": ("repoint", "status"),
    "scheduled_messages": ("status",),
    "groups_moved": ("deactivate",),
    "groups_merged": ("reactivate",),
}
# (the kind of moved row wanted, which row of that kind, which of its edits): the kind is drawn
# first so that each edit is as likely as the others, however few rows of its kind moved.
edits_strategy = st.lists(
    st.tuples(st.sampled_from(sorted(EDITS)), st.integers(0, 40), st.integers(0, 1)),
    min_size=1,
    max_size=5,
)


def build(client, world) -> Story:
    """The old session connected with its rows and groups, and the new session of the same
    phone connected with its own groups while the old one still runs; a third session of
    another phone of the organization, for edits to move rows to."""
    story = Story(client)
    old_via, new_via, _ = world["vias"]
    phone = LINES[OLD[0]][1]

    def connect(session, side, via, phone):
        groups = world["groups"].items() if side is not None else ()
        story.run(
            [
                Pair(*session, frozenset(jid for jid, at in groups if at[side] != "never")),
                Report(*session, "WORKING", via, phone),
                Relist(*session, frozenset(jid for jid, at in groups if at[side] == "listed")),
                Sync(*session),
            ]
        )
        return story.session(*session)

    old = connect(OLD, 0, old_via, phone)
    organization = old.organization
    old_groups = list(WhatsAppGroup.objects.filter(session=old).order_by("group_jid"))
    workshop = Workshop.objects.create(
        organization=organization, title="w", starts_at=story.clock, whatsapp_session=old
    )
    for index, status in world["messages"]:
        if old_groups:
            ScheduledWhatsAppMessage.objects.create(
                group=old_groups[index % len(old_groups)],
                workshop=workshop,
                body="m",
                send_at=story.clock,
                status=status,
            )
    if world["community"]:
        Organization.objects.filter(pk=organization.pk).update(community_session=old)
    new = connect(NEW, 1, new_via, phone)
    sessions = {"old": old, "new": new}
    for kind, where in world["events"]:
        model = Workshop if kind == "workshop" else Webinar
        model.objects.create(
            organization=organization,
            title=kind,
            starts_at=story.clock,
            whatsapp_session=sessions[where],
        )
    for status, where in world["campaigns"]:
        NotificationCampaign.objects.create(
            organization=organization, name="c", session=sessions[where], status=status
        )
    connect(THIRD, None, new_via, LINES[THIRD[0]][1])
    return story


def stop_the_old_session(story: Story, world) -> SessionMigration:
    """The old session's STOPPED arrives: its references move to the new session."""
    story.run([Report(*OLD, "STOPPED", world["vias"][2])])
    return SessionMigration.objects.get(trigger=SessionMigration.Trigger.AUTOMATIC)


def without_audit(snapshot):
    """Every table but the audit, the gateway's event ids, and the sessions (whose status the
    reports changed): those are compared apart."""
    return {
        table: rows
        for table, rows in snapshot.items()
        if table not in ("session_migrations", "gateway_events", "whatsapp_sessions")
    }


def supersession() -> set:
    return set(WhatsAppSession.objects.values_list("pk", "superseded_by_id"))


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


def apply_edit(wanted: str, n: int, variant: int, migration, third) -> tuple[str, tuple[str, str]]:
    """Change one moved row the way staff or the dispatcher could: a row of the kind `wanted`,
    or of any kind when none of that kind moved; what was done, and the (key, id) it changed."""
    moved = sorted((key, i) for key in EDITS for i in migration.moved_ids[key])
    moved = [(key, i) for key, i in moved if key == wanted] or moved
    key, row_id = moved[n % len(moved)]
    kind = EDITS[key][variant % len(EDITS[key])]
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
    return kind, (key, row_id)


PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_a_migration_then_its_undo_gives_back_every_table(client, story_gateway):
    reach = Reach()

    @PROPERTY_SETTINGS
    @given(world_strategy)
    @example(EVERY_KIND_MOVES)
    @example(
        {**EVERY_KIND_MOVES, "vias": ("apply_status_report", "webhook", "apply_status_report")}
    )
    def check(world):
        with transaction.atomic():
            story = build(client, world)
            old, new = story.session(*OLD), story.session(*NEW)
            before, superseded_before = without_audit(database_snapshot()), supersession()
            active_on_old = set(
                WhatsAppGroup.objects.filter(session=old, is_active=True).values_list(
                    "group_jid", flat=True
                )
            )
            pending_on_old = dict(
                ScheduledWhatsAppMessage.objects.filter(
                    group__session=old, status="pending"
                ).values_list("pk", "group__group_jid")
            )

            migration = stop_the_old_session(story, world)

            for jid in active_on_old:
                active = WhatsAppGroup.objects.filter(session=new, group_jid=jid, is_active=True)
                assert active.count() == 1, jid
            # Every pending message is on the new session now, in its group of the same jid.
            where_now = {
                pk: (session_id, jid)
                for pk, session_id, jid in ScheduledWhatsAppMessage.objects.filter(
                    pk__in=pending_on_old
                ).values_list("pk", "group__session_id", "group__group_jid")
            }
            assert where_now == {pk: (new.pk, jid) for pk, jid in pending_on_old.items()}

            result = undo_migration(migration, actor=None)

            assert result.left == {}
            assert without_audit(database_snapshot()) == before
            assert supersession() == superseded_before

            outcome = Counter(
                {f"moved {key}": 1 for key, ids in migration.moved_ids.items() if ids}
            )
            outcome["a merge re-pointed pending messages"] = int(
                bool(migration.moved_ids["scheduled_messages"])
            )
            outcome[f"moved when the STOPPED came through {world['vias'][2]}"] = 1
            reach.record(outcome)
            transaction.set_rollback(True)

    check()
    reach.assert_reached(
        most=["a merge re-pointed pending messages"],
        some=[
            "moved groups_merged",
            "moved groups_moved",
            "moved when the STOPPED came through webhook",
            "moved when the STOPPED came through apply_status_report",
        ],
    )


def test_rows_edited_in_between_stay_as_edited_and_the_others_go_back(client, story_gateway):
    reach = Reach()

    @PROPERTY_SETTINGS
    @given(world_strategy, edits_strategy)
    @example(  # every edit, on a row of each kind
        EVERY_KIND_MOVES,
        [
            ("groups_moved", 0, 0),
            ("groups_merged", 0, 0),
            ("campaigns", 0, 1),
            ("webinars", 0, 1),
            ("workshops", 0, 0),
        ],
    )
    @example(EVERY_KIND_MOVES, [("campaigns", 1, 0), ("scheduled_messages", 0, 0)])
    def check(world, edits):
        with transaction.atomic():
            story = build(client, world)
            third = story.session(*THIRD)
            before = rows_by_id()
            migration = stop_the_old_session(story, world)
            moved = {(key, i) for key, ids in migration.moved_ids.items() for i in ids}
            edit_kinds = {}
            for wanted, n, variant in edits:  # the workshop built on the old session always moves
                kind, edit = apply_edit(wanted, n, variant, migration, third)
                edit_kinds[edit] = kind
            edited = set(edit_kinds)
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

            outcome = Counter({f"edit: {kind}": 1 for kind in edit_kinds.values()})
            outcome["rows went back beside the edited ones"] = int(bool(moved - left))
            reach.record(outcome)
            transaction.set_rollback(True)

    check()
    reach.assert_reached(
        most=["rows went back beside the edited ones"],
        some=[f"edit: {kind}" for kind in ("repoint", "status", "deactivate", "reactivate")],
    )

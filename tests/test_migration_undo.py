"""Undoing a migration: exactly the rows it moved that are still where it put them go back."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Workshop
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.migration import (
    SessionMigrationError,
    adopt_predecessors,
    held_for_staff,
    migrate_session,
    sweep_references,
    undo_migration,
)
from sessions_app.services.status import apply_status_report
from tests import factories
from tests.migration_helpers import (
    PHONE,
    Campaign,
    Message,
    Status,
    database_snapshot,
    give_references,
    new_then_old,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

AUDIT = "session_migrations"


def without_audit(snapshot):
    return {table: rows for table, rows in snapshot.items() if table != AUDIT}


def merging_scene(count=3):
    """An old session whose references include a group the new session already has (inactive
    there), and a pending message in every group."""
    old, new = new_then_old()
    held = give_references(old, count=count)
    WhatsAppGroup.objects.create(session=new, group_jid=held.groups[0].group_jid, is_active=False)
    WhatsAppGroup.objects.create(session=new, group_jid="120363999999999999@g.us")
    for group in held.groups:
        ScheduledWhatsAppMessage.objects.create(
            group=group, workshop=held.workshops[0], body="pending", send_at=timezone.now()
        )
    Organization.objects.filter(pk=old.organization_id).update(community_session=old)
    return old, new, held


def is_held(session) -> bool:
    return WhatsAppSession.objects.filter(pk=session.pk).filter(held_for_staff()).exists()


class TestUndoWithNothingInBetween:
    def test_gives_back_every_table_as_it_was_but_the_audit(self):
        old, new, _ = merging_scene()
        before = without_audit(database_snapshot())

        migration = migrate_session(old, new, trigger="command").migration
        assert without_audit(database_snapshot()) != before
        result = undo_migration(migration, actor=None)

        assert without_audit(database_snapshot()) == before
        assert result.left == {}
        assert result.counts == migration.counts
        assert result.counts["groups_merged"] == 1
        assert result.counts["messages_with_groups"] == 2

    def test_the_merged_group_is_active_again_with_its_messages(self):
        old, new, held = merging_scene()
        merged = held.groups[0]
        migration = migrate_session(old, new, trigger="command").migration
        target = WhatsAppGroup.objects.get(session=new, group_jid=merged.group_jid)
        assert target.is_active  # the merge left its target active
        assert migration.counts["scheduled_messages"] == 2

        undo_migration(migration, actor=None)

        merged.refresh_from_db()
        target.refresh_from_db()
        assert (merged.is_active, target.is_active) == (True, False)
        assert set(
            ScheduledWhatsAppMessage.objects.filter(
                pk__in=migration.moved_ids["scheduled_messages"]
            ).values_list("group", flat=True)
        ) == {merged.pk}
        old.refresh_from_db()
        assert old.superseded_by is None

    def test_the_undo_is_audited_and_linked_to_the_migration_it_reverts(self):
        old, new, _ = merging_scene()
        actor = factories.UserFactory()
        migration = migrate_session(old, new, trigger="admin").migration

        result = undo_migration(migration, actor=actor)

        undo = SessionMigration.objects.get(trigger="undo")
        assert undo == result.undo
        assert (undo.undoes, undo.actor, undo.organization_id) == (
            migration,
            actor,
            old.organization_id,
        )
        # The rows went from the new session back to the old one.
        assert (undo.old_session_id, undo.new_session_id) == (new.pk, old.pk)
        assert undo.counts == migration.counts
        migration.refresh_from_db()
        assert migration.undone_by == undo

    def test_a_dry_run_reports_the_same_and_changes_nothing(self):
        old, new, _ = merging_scene()
        migration = migrate_session(old, new, trigger="command").migration
        before = database_snapshot()

        preview = undo_migration(migration, actor=None, dry_run=True)

        assert database_snapshot() == before
        assert preview.undo is None
        real = undo_migration(migration, actor=None)
        assert preview.counts == real.counts
        assert {k: set(v) for k, v in preview.moved_ids.items()} == {
            k: set(v) for k, v in real.moved_ids.items()
        }


class TestRowsChangedSince:
    def test_are_left_where_they_are_and_listed_with_why(self):
        old, new, held = merging_scene()
        migration = migrate_session(old, new, trigger="command").migration
        other = factories.WhatsAppSessionFactory(organization=old.organization)
        edited, deleted = held.workshops[0], held.webinars[0]
        deleted_id = str(deleted.pk)
        Workshop.objects.filter(pk=edited.pk).update(whatsapp_session=other)
        ScheduledWhatsAppMessage.objects.filter(
            pk__in=migration.moved_ids["scheduled_messages"][:1]
        ).update(status=Message.SENT)
        # The message deleted with its webinar cannot be part of the test's own moves.
        ScheduledWhatsAppMessage.objects.filter(webinar=deleted).delete()
        deleted.delete()
        finished = held.active_campaigns[0]
        NotificationCampaign.objects.filter(pk=finished.pk).update(status=Campaign.COMPLETED)
        moved_group = held.groups[1]
        WhatsAppGroup.objects.filter(pk=moved_group.pk).update(is_active=False)

        result = undo_migration(migration, actor=None)

        reasons = {
            (key, row["id"]): row["reason"] for key, rows in result.left.items() for row in rows
        }
        sent_id = migration.moved_ids["scheduled_messages"][0]
        assert reasons == {
            ("workshops", str(edited.pk)): f"on session {other.pk} now",
            ("webinars", deleted_id): "deleted since",
            ("campaigns", str(finished.pk)): "now completed",
            ("scheduled_messages", sent_id): "now sent",
            ("groups_moved", str(moved_group.pk)): (
                "deactivated since, or the old session has a group of its group_jid now"
            ),
            **{
                ("messages_with_groups", message_id): "its group stayed where it is"
                for message_id in migration.moved_ids["messages_with_groups"]
                if ScheduledWhatsAppMessage.objects.get(pk=message_id).group_id == moved_group.pk
            },
        }
        edited.refresh_from_db()
        moved_group.refresh_from_db()
        assert edited.whatsapp_session == other
        assert moved_group.session_id == new.pk
        assert ScheduledWhatsAppMessage.objects.get(pk=sent_id).group.session_id == new.pk
        # Everything else went back.
        assert Workshop.objects.filter(whatsapp_session=old).count() == len(held.workshops) - 1
        assert result.undo.left_ids == result.left

    def test_an_undo_moves_back_only_what_its_migration_moved(self):
        old, new, _ = merging_scene()
        own = factories.WorkshopFactory(organization=new.organization, whatsapp_session=new)
        migration = migrate_session(old, new, trigger="command").migration

        undo_migration(migration, actor=None)

        own.refresh_from_db()
        assert own.whatsapp_session == new


class TestRefusals:
    def test_an_undo_cannot_be_undone(self):
        old, new, _ = merging_scene()
        undo = undo_migration(migrate_session(old, new, trigger="command").migration, actor=None)
        before = database_snapshot()

        with pytest.raises(SessionMigrationError, match="itself an undo"):
            undo_migration(undo.undo, actor=None)
        assert database_snapshot() == before

    def test_a_migration_is_undone_once(self):
        old, new, _ = merging_scene()
        migration = migrate_session(old, new, trigger="command").migration
        undo = undo_migration(migration, actor=None).undo
        before = database_snapshot()

        with pytest.raises(SessionMigrationError, match=f"already undone by {undo.pk}"):
            undo_migration(migration, actor=None)
        assert database_snapshot() == before


class TestTheOldSessionIsHeldForStaff:
    def test_neither_a_reconnect_nor_the_sweep_moves_it_again(self):
        old, new, held = merging_scene()
        undo_migration(migrate_session(old, new, trigger="command").migration, actor=None)
        assert is_held(old)

        apply_status_report(new, Status.DISCONNECTED)
        apply_status_report(new, Status.CONNECTED, PHONE)
        third = factories.WhatsAppSessionFactory(
            organization=old.organization, phone_number=PHONE, status=Status.CONNECTING
        )
        apply_status_report(third, Status.CONNECTED, PHONE)
        report = sweep_references()

        assert all(result.old.pk != old.pk for result in report.results)
        assert set(
            Workshop.objects.filter(pk__in=[w.pk for w in held.workshops]).values_list(
                "whatsapp_session", flat=True
            )
        ) == {old.pk}
        assert SessionMigration.objects.filter(old_session=old).count() == 1  # the original

    def test_adopting_into_the_session_it_came_back_from_passes_it_over(self):
        """What the admin's adopt action and a connect call: the held session is waiting on
        the phone, but is no predecessor to adopt."""
        old, new, held = merging_scene()
        undo_migration(migrate_session(old, new, trigger="command").migration, actor=None)

        assert adopt_predecessors(new, trigger="admin") == []
        assert Workshop.objects.filter(whatsapp_session=old).count() == len(held.workshops)
        assert is_held(old)

    def test_until_staff_move_it_by_hand(self):
        old, new, _ = merging_scene()
        undo_migration(migrate_session(old, new, trigger="command").migration, actor=None)

        migrate_session(old, new, trigger="admin")

        assert not is_held(old)
        assert not Workshop.objects.filter(whatsapp_session=old).exists()

    def test_a_hand_move_of_another_session_does_not_release_it(self):
        old, new, _ = merging_scene()
        undo_migration(migrate_session(old, new, trigger="command").migration, actor=None)
        other_old, other_new, _ = merging_scene()

        migrate_session(other_old, other_new, trigger="admin")

        assert is_held(old)
        assert not is_held(other_old)


def test_the_number_of_statements_does_not_grow_with_rows():
    statements = []
    for count in (2, 6):
        old, new, _ = merging_scene(count=count)
        migration = migrate_session(old, new, trigger="command").migration
        with CaptureQueriesContext(connection) as queries:
            undo_migration(migration, actor=None)
        statements.append(len(queries))
    assert statements[0] == statements[1], statements


def test_an_undo_that_would_give_a_gateway_name_to_two_live_sessions_is_refused():
    old, new, _ = merging_scene()
    name = old.gateway_session_name
    migration = migrate_session(old, new, trigger="command").migration
    # A pairing reused the superseded session's gateway name for the live one.
    WhatsAppSession.objects.filter(pk=new.pk).update(session_data={"session_name": name})
    before = database_snapshot()

    with pytest.raises(SessionMigrationError, match=f"gateway name '{name}'.*{new.pk}"):
        undo_migration(migration, actor=None)
    assert database_snapshot() == before

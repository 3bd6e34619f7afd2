"""What an undo does to the two sessions: which one is live again, the times staff read, and the
refusals it answers with (PostgreSQL)."""

import datetime as dt

import pytest
from django.utils import timezone

from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.services.migration import (
    SessionMigrationError,
    migrate_session,
    undo_migration,
)
from sessions_app.services.status import apply_status_report
from tests import factories
from tests.migration_helpers import Status, database_snapshot, give_references, new_then_old

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]


def fresh(session) -> WhatsAppSession:
    return WhatsAppSession.objects.get(pk=session.pk)


def superseded(session, by) -> None:
    WhatsAppSession.objects.filter(pk=session.pk).update(superseded_by=by)


def moved(old, new) -> SessionMigration:
    give_references(old, count=1)
    return migrate_session(old, new, trigger="admin").migration


class TestWhichSessionIsLiveAgain:
    def test_a_new_session_superseded_before_the_move_is_superseded_again(self):
        old, new = new_then_old()
        earlier = factories.WhatsAppSessionFactory(organization=old.organization)
        superseded(new, earlier)
        new_before = fresh(new)
        migration = moved(old, new)
        assert fresh(new).superseded_by_id is None  # the move made it the live one

        undo_migration(migration, actor=None)

        assert fresh(new).superseded_by_id == earlier.pk
        assert fresh(new).updated_at == new_before.updated_at
        assert fresh(old).superseded_by_id is None

    def test_an_old_session_superseded_before_the_move_stays_superseded_by_its_successor(self):
        old, new = new_then_old()
        successor = factories.WhatsAppSessionFactory(
            organization=old.organization, status=Status.DISCONNECTED
        )
        superseded(old, successor)
        migration = moved(old, new)
        assert fresh(old).superseded_by_id == new.pk

        undo_migration(migration, actor=None)

        assert fresh(old).superseded_by_id == successor.pk

    def test_it_is_not_refused_for_a_name_the_old_session_does_not_take_back(self):
        """The old session stays superseded: a live session holding its gateway name is no
        conflict."""
        old, new = new_then_old()
        successor = factories.WhatsAppSessionFactory(
            organization=old.organization, status=Status.DISCONNECTED
        )
        superseded(old, successor)
        migration = moved(old, new)
        factories.WhatsAppSessionFactory(
            organization=old.organization,
            session_data={"session_name": old.gateway_session_name},
        )

        result = undo_migration(migration, actor=None)

        assert result.undo is not None
        assert fresh(old).superseded_by_id == successor.pk

    def test_a_session_moved_on_since_is_left_and_the_other_still_restored(self):
        old, new = new_then_old()
        earlier = factories.WhatsAppSessionFactory(organization=old.organization)
        superseded(new, earlier)
        migration = moved(old, new)
        # Since the move, the old session's rows were taken to a later session.
        later = factories.WhatsAppSessionFactory(organization=old.organization)
        superseded(old, later)
        # And a live session took the old session's gateway name.
        factories.WhatsAppSessionFactory(
            organization=old.organization,
            session_data={"session_name": old.gateway_session_name},
        )

        result = undo_migration(migration, actor=None)

        assert result.undo is not None
        assert fresh(old).superseded_by_id == later.pk
        assert fresh(new).superseded_by_id == earlier.pk

    def test_a_move_audited_without_the_sessions_state_makes_the_old_session_live(self):
        old, new = new_then_old()
        migration = moved(old, new)
        SessionMigration.objects.filter(pk=migration.pk).update(
            prior_state={
                key: value for key, value in migration.prior_state.items() if key != "sessions"
            }
        )
        migration.refresh_from_db()
        started = timezone.now()

        undo_migration(migration, actor=None)

        assert fresh(old).superseded_by_id is None
        assert fresh(old).updated_at >= started


class TestTheTimesStaffRead:
    def test_a_session_untouched_since_gets_its_time_of_change_back(self):
        old, new = new_then_old()
        old_before = fresh(old)
        migration = moved(old, new)

        undo_migration(migration, actor=None)

        assert fresh(old).updated_at == old_before.updated_at

    def test_a_session_changed_since_is_marked_changed_now(self):
        old, new = new_then_old()
        migration = moved(old, new)
        apply_status_report(fresh(old), Status.CONNECTING)
        started = timezone.now()

        undo_migration(migration, actor=None)

        assert fresh(old).superseded_by_id is None
        assert fresh(old).updated_at >= started

    def test_a_session_with_nothing_to_restore_keeps_its_time(self):
        old, new = new_then_old()
        migration = moved(old, new)
        apply_status_report(fresh(new), Status.DISCONNECTED)
        changed_at = fresh(new).updated_at

        undo_migration(migration, actor=None)

        assert fresh(new).updated_at == changed_at


class TestWhatTheAuditRecords:
    def test_the_undo_records_the_ids_it_moved_back(self):
        old, new = new_then_old()
        migration = moved(old, new)

        result = undo_migration(migration, actor=None)

        result.undo.refresh_from_db()
        assert result.undo.moved_ids == result.moved_ids
        assert {key: len(ids) for key, ids in result.undo.moved_ids.items()} == migration.counts


class TestRefusals:
    def test_an_undo_is_refused_with_the_way_forward(self):
        old, new = new_then_old()
        undo = undo_migration(moved(old, new), actor=None).undo

        with pytest.raises(SessionMigrationError) as refusal:
            undo_migration(undo, actor=None)

        assert str(refusal.value) == (
            f"Migration {undo.pk} is itself an undo and cannot be undone; move the references "
            "by hand instead."
        )

    def test_one_that_would_give_a_name_to_two_live_sessions_says_which(self):
        old, new = new_then_old()
        name = old.gateway_session_name
        migration = moved(old, new)
        holder = factories.WhatsAppSessionFactory(
            organization=old.organization, session_data={"session_name": name}
        )

        with pytest.raises(SessionMigrationError) as refusal:
            undo_migration(migration, actor=None)

        assert str(refusal.value) == (
            f"Session {old.pk} would be live again under the gateway name {name!r}, which live "
            f"session {holder.pk} holds now; move the references by hand instead."
        )

    def test_a_second_undo_says_when_the_first_was(self):
        old, new = new_then_old()
        migration = moved(old, new)
        undo = undo_migration(migration, actor=None).undo
        SessionMigration.objects.filter(pk=undo.pk).update(
            created_at=dt.datetime(2026, 11, 20, 12, 15, tzinfo=dt.UTC)
        )

        with pytest.raises(SessionMigrationError) as refusal:
            undo_migration(migration, actor=None)

        assert str(refusal.value) == (
            f"Migration {migration.pk} was already undone by {undo.pk} on 2026-11-20 09:15 -03; "
            "a new move is the way forward."
        )

    def test_a_migration_no_longer_recorded_is_refused_and_nothing_changes(self):
        old, new = new_then_old()
        migration = moved(old, new)
        SessionMigration.objects.filter(pk=migration.pk).delete()
        before = database_snapshot()

        with pytest.raises(SessionMigrationError) as refusal:
            undo_migration(migration, actor=None)

        assert str(refusal.value) == f"Migration {migration.pk} does not exist."
        assert database_snapshot() == before

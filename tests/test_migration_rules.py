"""Moving references from an old session to a newer one: every rule of the specification."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.selectors import session_reference_counts, with_reference_counts
from sessions_app.services.migration import (
    MigrationResult,
    SessionMigrationError,
    adopt_predecessors,
    migrate_session,
)
from sessions_app.services.status import apply_status_report
from tests import factories
from tests.migration_helpers import (
    COUNT_KEYS,
    PHONE,
    Status,
    database_snapshot,
    give_references,
    ids,
    new_then_old,
)

# PostgreSQL in `make test`; the same rules hold on SQLite, where these run too.
pytestmark = pytest.mark.django_db


def declare_no_campaign_status_active(redeclare) -> None:
    """Campaigns declared to move in no status: a rule whose rows Django knows to be none."""
    from scheduling import references as scheduling_references
    from sessions_app.references import Move, Reference

    redeclare(
        scheduling_references,
        [
            Reference(
                "scheduling.NotificationCampaign.session",
                Move("campaigns", "Active campaigns", where={"status__in": []}),
            )
            if ref.label == "scheduling.NotificationCampaign.session"
            else ref
            for ref in scheduling_references.REFERENCES
        ],
    )


def migrate(old, new, **kwargs) -> MigrationResult:
    kwargs.setdefault("trigger", SessionMigration.Trigger.COMMAND)
    return migrate_session(old, new, **kwargs)


class TestWhatMoves:
    def test_workshops_webinars_and_the_community_move(self):
        old, new = new_then_old()
        held = give_references(old, count=3)
        Organization.objects.filter(pk=old.organization_id).update(community_session=old)

        result = migrate(old, new)

        assert set(Workshop.objects.filter(whatsapp_session=new).values_list("pk", flat=True)) == {
            w.pk for w in held.workshops
        }
        assert Webinar.objects.filter(whatsapp_session=new).count() == 3
        assert Organization.objects.get(pk=old.organization_id).community_session == new
        assert result.counts["workshops"] == 3
        assert result.counts["webinars"] == 3
        assert result.counts["organizations"] == 1

    def test_only_campaigns_still_to_send_move(self):
        old, new = new_then_old()
        held = give_references(old)

        result = migrate(old, new)

        for campaign in held.active_campaigns:
            campaign.refresh_from_db()
            assert campaign.session == new
        for campaign in held.finished_campaigns:
            campaign.refresh_from_db()
            assert campaign.session == old, f"{campaign.status} campaign must stay as history"
        assert result.counts["campaigns"] == len(held.active_campaigns) == 3

    def test_groups_move_and_become_active_with_their_messages_untouched(self):
        old, new = new_then_old()
        held = give_references(old)
        WhatsAppGroup.objects.filter(pk=held.groups[0].pk).update(is_active=False)
        messages_before = {
            m.pk: (m.group_id, m.updated_at) for m in ScheduledWhatsAppMessage.objects.all()
        }

        result = migrate(old, new)

        for group in held.groups:
            group.refresh_from_db()
            assert (group.session, group.is_active) == (new, True)
        messages_after = {
            m.pk: (m.group_id, m.updated_at) for m in ScheduledWhatsAppMessage.objects.all()
        }
        assert messages_after == messages_before
        assert result.counts["groups_moved"] == 2
        assert result.counts["groups_merged"] == result.counts["scheduled_messages"] == 0

    def test_rows_of_other_sessions_stay(self):
        old, new = new_then_old()
        bystander = factories.WhatsAppSessionFactory(organization=old.organization)
        give_references(old)
        theirs = give_references(bystander)

        migrate(old, new)

        assert set(
            Workshop.objects.filter(whatsapp_session=bystander).values_list("pk", flat=True)
        ) == {w.pk for w in theirs.workshops}
        assert WhatsAppGroup.objects.filter(session=bystander).count() == len(theirs.groups)

    def test_the_old_session_is_superseded_and_keeps_its_phone(self):
        old, new = new_then_old()
        give_references(old)

        migrate(old, new)

        old.refresh_from_db()
        assert old.superseded_by == new
        assert old.phone_number == PHONE
        assert old.status == Status.DISCONNECTED
        assert session_reference_counts(old) == dict.fromkeys(session_reference_counts(old), 0)

    def test_the_sessions_given_show_the_move_so_saving_them_later_keeps_it(self):
        old, new = new_then_old()
        give_references(old)
        # `new` had been superseded before it connected again: the move makes it live.
        earlier = factories.WhatsAppSessionFactory(organization=old.organization)
        WhatsAppSession.objects.filter(pk=new.pk).update(superseded_by=earlier)
        new.refresh_from_db()

        preview = migrate(old, new, dry_run=True)

        assert (old.superseded_by, new.superseded_by) == (None, earlier)
        assert preview.moved_anything

        migrate(old, new)

        assert (old.superseded_by, new.superseded_by) == (new, None)
        old.save()
        new.save()
        assert set(
            WhatsAppSession.objects.filter(pk__in=[old.pk, new.pk]).values_list(
                "pk", "superseded_by"
            )
        ) == {(old.pk, new.pk), (new.pk, None)}

    def test_a_rule_that_can_match_nothing_moves_nothing_and_the_others_still_move(self, redeclare):
        """An app may declare a rule whose rows Django knows to be none (no campaign status
        active, say): its key counts 0 and every other rule still moves its rows."""
        declare_no_campaign_status_active(redeclare)
        old, new = new_then_old()
        held = give_references(old, count=2)

        result = migrate(old, new)

        assert result.counts["campaigns"] == 0
        assert result.migration.moved_ids["campaigns"] == []
        assert result.counts["workshops"] == result.counts["webinars"] == 2
        assert result.counts["groups_moved"] == len(held.groups)
        assert set(WhatsAppGroup.objects.values_list("session", flat=True)) == {new.pk}
        assert not NotificationCampaign.objects.filter(session=new).exists()

    def test_a_rule_declared_anew_applies_from_the_next_move(self, redeclare):
        """The move statement is compiled once: a changed declaration compiles it again."""
        first_old, first_new = new_then_old(phone="+5511911112222")
        give_references(first_old)
        assert migrate(first_old, first_new).counts["campaigns"] > 0
        declare_no_campaign_status_active(redeclare)
        old, new = new_then_old()
        held = give_references(old)

        result = migrate(old, new)

        assert result.counts["campaigns"] == 0
        assert result.counts["workshops"] == len(held.workshops)
        assert not NotificationCampaign.objects.filter(session=new).exists()


class TestTheGroupMerge:
    """The new session already has the group (the gateway re-synced it)."""

    def test_only_the_new_sessions_groups_active_on_the_old_one_are_activated(self):
        """And only those that were inactive: an undo deactivates what the move activated."""
        from sessions_app.services.migration import undo_migration

        old, new = new_then_old()
        elsewhere = factories.WhatsAppSessionFactory(phone_number=PHONE)

        def group(session, jid, active):
            return WhatsAppGroup.objects.create(
                session=session, group_jid=f"{jid}@g.us", is_active=active
            )

        group(old, "1203630001", active=False)
        group(elsewhere, "1203630001", active=True)
        group(old, "1203630002", active=True)
        new_inactive = group(new, "1203630001", active=False)
        new_active = group(new, "1203630002", active=True)
        new_only = group(new, "1203630003", active=False)

        migration = migrate(old, new).migration

        def active(*groups):
            return [WhatsAppGroup.objects.get(pk=g.pk).is_active for g in groups]

        assert active(new_inactive, new_active, new_only) == [False, True, False]
        undo_migration(migration, actor=None)
        assert active(new_inactive, new_active, new_only) == [False, True, False]

    def test_pending_messages_follow_to_the_new_group_sent_ones_stay(self):
        old, new = new_then_old()
        held = give_references(old, count=1)
        [old_group] = held.groups
        new_group = WhatsAppGroup.objects.create(session=new, group_jid=old_group.group_jid)

        result = migrate(old, new)

        for message in held.pending_messages:
            message.refresh_from_db()
            assert message.group == new_group
        for message in held.other_messages:
            message.refresh_from_db()
            assert message.group == old_group, f"{message.status} message must keep its group"
        old_group.refresh_from_db()
        assert old_group.session == old
        assert old_group.is_active is False
        new_group.refresh_from_db()
        assert new_group.is_active is True
        assert result.counts["groups_merged"] == 1
        assert result.counts["groups_moved"] == 0
        assert result.counts["scheduled_messages"] == len(held.pending_messages) > 0
        assert set(result.moved_ids["scheduled_messages"]) == ids(held.pending_messages)
        assert result.moved_ids["groups_merged"] == [str(old_group.pk)]

    def test_merged_and_moved_groups_in_one_migration(self):
        old, new = new_then_old()
        held = give_references(old, count=3)
        resynced = held.groups[:2]
        for group in resynced:
            WhatsAppGroup.objects.create(session=new, group_jid=group.group_jid)

        result = migrate(old, new)

        assert set(result.moved_ids["groups_merged"]) == ids(resynced)
        assert result.moved_ids["groups_moved"] == [str(held.groups[2].pk)]
        assert WhatsAppGroup.objects.filter(session=new).count() == 3
        assert (
            ScheduledWhatsAppMessage.objects.filter(status="pending", group__session=old).count()
            == 0
        )


class TestRefusals:
    """Each refusal raises SessionMigrationError and leaves every table as it was."""

    def assert_refused(self, old, new, reason, **kwargs):
        before = database_snapshot()
        with pytest.raises(SessionMigrationError, match=reason) as caught:
            migrate(old, new, **kwargs)
        assert "\n" not in str(caught.value)
        assert database_snapshot() == before

    def test_the_same_session(self):
        old, _ = new_then_old()
        give_references(old)
        self.assert_refused(old, old, "itself", force=True)

    def test_different_organizations_even_forced(self):
        old, _ = new_then_old()
        other = factories.WhatsAppSessionFactory(phone_number=PHONE)
        give_references(old)
        self.assert_refused(old, other, "different organizations")
        self.assert_refused(old, other, "different organizations", force=True)

    @pytest.mark.parametrize("status", [Status.CONNECTING, Status.DISCONNECTED])
    def test_a_new_session_that_is_not_connected_even_forced(self, status):
        old, new = new_then_old(new_status=status)
        give_references(old)
        self.assert_refused(old, new, "only move to a connected session")
        self.assert_refused(old, new, "only move to a connected session", force=True)

    def test_a_connected_old_session_unless_forced(self):
        old, new = new_then_old()
        WhatsAppSession.objects.filter(pk=old.pk).update(status=Status.CONNECTED)
        held = give_references(old)
        self.assert_refused(old, new, "still connected")

        result = migrate(old, new, force=True)

        assert result.counts["workshops"] == len(held.workshops)
        assert result.migration.forced is True

    @pytest.mark.parametrize("old_phone", ["+5511977776666", None])
    def test_different_or_unknown_phones_unless_forced(self, old_phone):
        old, new = new_then_old()
        WhatsAppSession.objects.filter(pk=old.pk).update(phone_number=old_phone)
        give_references(old)
        self.assert_refused(old, new, "not the same phone")

        assert migrate(old, new, force=True).moved_anything

    def test_each_refusal_says_why_word_for_word(self):
        old, new = new_then_old()
        other = factories.WhatsAppSessionFactory(phone_number=PHONE)
        pairing = factories.WhatsAppSessionFactory(
            organization=old.organization, status=Status.CONNECTING, phone_number=None
        )
        WhatsAppSession.objects.filter(pk=old.pk).update(phone_number=None)
        old.refresh_from_db()
        connected = factories.WhatsAppSessionFactory(
            organization=old.organization, status=Status.CONNECTED, phone_number=PHONE
        )
        ghost = WhatsAppSession(pk=uuid.UUID(int=1), organization=old.organization)
        refusals = {
            (old, other): f"Sessions {old.pk} and {other.pk} belong to different organizations; "
            "references never move between organizations.",
            (old, pairing): f"Session {pairing.pk} is connecting; references only move to a "
            "connected session.",
            (connected, new): f"Session {connected.pk} is still connected; force the move to "
            "take its references anyway.",
            (old, new): f"Sessions {old.pk} (no phone) and {new.pk} ({PHONE}) are not the same "
            "phone; force the move to take its references anyway.",
            (old, old): f"Session {old.pk} cannot move its references to itself.",
            (ghost, new): f"Session {ghost.pk} does not exist.",
            (old, ghost): f"Session {ghost.pk} does not exist.",
        }

        for (moved, into), reason in refusals.items():
            with pytest.raises(SessionMigrationError) as caught:
                migrate(moved, into)
            assert str(caught.value) == reason

    def test_a_session_that_no_longer_exists(self):
        old, new = new_then_old()
        ghost = WhatsAppSession(pk=old.pk.__class__(int=1), organization=old.organization)
        self.assert_refused(ghost, new, "does not exist")

    def test_an_unknown_trigger(self):
        old, new = new_then_old()
        give_references(old)
        self.assert_refused(old, new, "Unknown trigger", trigger="cron")


class TestTheAudit:
    def test_the_audit_row_records_every_moved_id_per_table(self):
        old, new = new_then_old()
        held = give_references(old, count=4)
        Organization.objects.filter(pk=old.organization_id).update(community_session=old)
        actor = factories.UserFactory()

        result = migrate(old, new, trigger=SessionMigration.Trigger.ADMIN, actor=actor)

        audit = SessionMigration.objects.get()
        assert audit == result.migration
        assert (audit.old_session, audit.new_session, audit.organization) == (
            old,
            new,
            old.organization,
        )
        assert (audit.trigger, audit.actor, audit.forced) == ("admin", actor, False)
        assert sorted(audit.counts) == sorted(COUNT_KEYS)  # jsonb keeps no key order
        assert audit.counts == result.counts
        assert audit.moved_ids == result.moved_ids
        assert set(audit.moved_ids["workshops"]) == ids(held.workshops)
        assert set(audit.moved_ids["webinars"]) == ids(held.webinars)
        assert set(audit.moved_ids["campaigns"]) == ids(held.active_campaigns)
        assert audit.moved_ids["organizations"] == [str(old.organization_id)]
        assert set(audit.moved_ids["groups_moved"]) == ids(held.groups)
        assert {key: len(v) for key, v in audit.moved_ids.items()} == audit.counts

    def test_a_second_run_is_a_no_op_without_an_audit_row(self):
        old, new = new_then_old()
        give_references(old)
        first = migrate(old, new)
        before = database_snapshot()

        second = migrate(old, new)

        assert second.counts == dict.fromkeys(COUNT_KEYS, 0)
        assert second.migration is None
        assert database_snapshot() == before
        assert SessionMigration.objects.get() == first.migration

    def test_nothing_to_move_supersedes_without_an_audit_row(self):
        old, new = new_then_old()

        result = migrate(old, new)

        assert not result.moved_anything and result.migration is None
        old.refresh_from_db()
        assert old.superseded_by == new
        assert not SessionMigration.objects.exists()


class TestDryRun:
    def test_a_dry_run_reports_the_real_counts_and_changes_nothing(self):
        old, new = new_then_old()
        held = give_references(old, count=3)
        WhatsAppGroup.objects.create(session=new, group_jid=held.groups[0].group_jid)
        Organization.objects.filter(pk=old.organization_id).update(community_session=old)
        before = database_snapshot()

        preview = migrate(old, new, dry_run=True)

        assert database_snapshot() == before
        assert preview.dry_run and preview.migration is None
        real = migrate(old, new)
        assert preview.counts == real.counts
        assert {k: sorted(v) for k, v in preview.moved_ids.items()} == {
            k: sorted(v) for k, v in real.moved_ids.items()
        }

    def test_a_dry_run_of_a_refused_move_is_refused(self):
        old, new = new_then_old(new_status=Status.CONNECTING)
        with pytest.raises(SessionMigrationError):
            migrate(old, new, dry_run=True)


class TestStatementCount:
    def test_the_same_statements_for_10_and_for_1000_rows(self, django_assert_num_queries):
        small_old, small_new = new_then_old(phone="+5511911112222")
        small = give_references(small_old, count=10)
        WhatsAppGroup.objects.create(session=small_new, group_jid=small.groups[0].group_jid)
        with CaptureQueriesContext(connection) as small_run:
            assert migrate(small_old, small_new).counts["workshops"] == 10

        big_old, big_new = new_then_old(phone="+5511933334444")
        big = give_references(big_old, count=1000)
        WhatsAppGroup.objects.create(session=big_new, group_jid=big.groups[0].group_jid)
        with django_assert_num_queries(len(small_run.captured_queries)):
            result = migrate(big_old, big_new)
        assert result.counts["workshops"] == 1000
        assert result.counts["groups_moved"] == 999
        assert result.counts["groups_merged"] == 1


class TestTheAutomaticPath:
    def test_connecting_the_new_session_adopts_the_old_ones_references(self):
        old, new = new_then_old(new_status=Status.CONNECTING)
        held = give_references(old)

        apply_status_report(new, Status.CONNECTED, "5511988887777@c.us")

        audit = SessionMigration.objects.get()
        assert (audit.old_session, audit.new_session, audit.trigger) == (old, new, "automatic")
        assert set(audit.moved_ids["workshops"]) == ids(held.workshops)
        old.refresh_from_db()
        assert old.superseded_by == new

    def test_a_disconnect_keeps_the_phone_and_the_next_connect_still_finds_it(self):
        """A public system cleared old phone numbers before searching for them by phone, so
        its migration never ran. Here the disconnect keeps the phone, and the search finds it."""
        organization = factories.OrganizationFactory()
        old = factories.WhatsAppSessionFactory(
            organization=organization, status=Status.CONNECTING, phone_number=None
        )
        apply_status_report(old, Status.CONNECTED, "+55 11 98888-7777")
        held = give_references(old)

        apply_status_report(old, Status.DISCONNECTED)
        old.refresh_from_db()
        assert old.phone_number == PHONE
        assert old.disconnected_at is not None

        new = factories.WhatsAppSessionFactory(
            organization=organization, status=Status.CONNECTING, phone_number=None
        )
        apply_status_report(new, Status.CONNECTED, "5511988887777:12@s.whatsapp.net")

        assert Workshop.objects.filter(whatsapp_session=new).count() == len(held.workshops)
        old.refresh_from_db()
        assert old.superseded_by == new

    def test_reconnecting_twice_ends_everything_on_the_last_session(self):
        organization = factories.OrganizationFactory()
        a = factories.WhatsAppSessionFactory(organization=organization, phone_number=PHONE)
        held_a = give_references(a)
        b = factories.WhatsAppSessionFactory(
            organization=organization, status=Status.CONNECTING, phone_number=None
        )
        c = factories.WhatsAppSessionFactory(
            organization=organization, status=Status.CONNECTING, phone_number=None
        )

        apply_status_report(a, Status.DISCONNECTED)
        apply_status_report(b, Status.CONNECTED, PHONE)
        held_b = give_references(b)
        apply_status_report(b, Status.DISCONNECTED)
        apply_status_report(c, Status.CONNECTED, PHONE)

        for model, field_name in [(Workshop, "whatsapp_session"), (Webinar, "whatsapp_session")]:
            assert set(model.objects.values_list(field_name, flat=True)) == {c.pk}
        active = NotificationCampaign.objects.filter(status__in=["scheduled", "pending", "sending"])
        assert set(active.values_list("session", flat=True)) == {c.pk}
        assert set(
            ScheduledWhatsAppMessage.objects.filter(status="pending").values_list(
                "group__session", flat=True
            )
        ) == {c.pk}
        a.refresh_from_db()
        b.refresh_from_db()
        assert (a.superseded_by, b.superseded_by) == (b, c)
        pairs = set(SessionMigration.objects.values_list("old_session", "new_session"))
        assert pairs == {(a.pk, b.pk), (b.pk, c.pk)}
        assert len(held_a.workshops) + len(held_b.workshops) == c.workshops.count()

    def test_the_same_phone_in_another_organization_is_never_touched(self):
        ours_old, ours_new = new_then_old(new_status=Status.CONNECTING)
        theirs_old, _ = new_then_old(new_status=Status.CONNECTING)
        give_references(ours_old)
        theirs = give_references(theirs_old)
        before = {
            s.pk: s.reference_count
            for s in with_reference_counts(WhatsAppSession.objects.filter(pk=theirs_old.pk))
        }

        apply_status_report(ours_new, Status.CONNECTED, PHONE)

        theirs_old.refresh_from_db()
        assert theirs_old.superseded_by is None
        assert {
            s.pk: s.reference_count
            for s in with_reference_counts(WhatsAppSession.objects.filter(pk=theirs_old.pk))
        } == before
        assert set(
            Workshop.objects.filter(pk__in=[w.pk for w in theirs.workshops]).values_list(
                "whatsapp_session", flat=True
            )
        ) == {theirs_old.pk}
        assert adopt_predecessors(ours_new, trigger="automatic") == []
        with pytest.raises(SessionMigrationError, match="different organizations"):
            migrate(theirs_old, ours_new, force=True)

    def test_a_fixture_load_adopts_nothing(self):
        old, new = new_then_old(new_status=Status.CONNECTING)
        give_references(old)
        new.status = Status.CONNECTED
        new.save_base(raw=True)

        old.refresh_from_db()
        assert old.superseded_by is None
        assert not SessionMigration.objects.exists()

    def test_a_failed_automatic_migration_keeps_the_status_change(self, caplog):
        old, new = new_then_old(new_status=Status.CONNECTING)
        give_references(old)
        with connection.execute_wrapper(_fail_on('UPDATE "webinars"')):
            apply_status_report(new, Status.CONNECTED, PHONE)

        new.refresh_from_db()
        assert new.status == Status.CONNECTED and new.connected_at is not None
        old.refresh_from_db()
        assert old.superseded_by is None
        assert Workshop.objects.filter(whatsapp_session=old).exists()
        assert not SessionMigration.objects.exists()
        assert "migrate_sessions --auto" in caplog.text

    def test_adopt_predecessors_dry_run_changes_nothing(self):
        old, new = new_then_old()
        give_references(old)
        before = database_snapshot()

        [preview] = adopt_predecessors(new, trigger="admin", dry_run=True)

        assert preview.old == old and preview.counts["workshops"] == 2
        assert database_snapshot() == before


def _fail_on(fragment):
    """Fail the statement that contains `fragment`, before it reaches the database."""

    def wrapper(execute, sql, params, many, context):
        if fragment in sql:
            raise RuntimeError("injected failure")
        return execute(sql, params, many, context)

    return wrapper


def test_a_superseded_session_that_connects_again_takes_the_references_back():
    first, second = new_then_old()
    give_references(first)
    migrate(first, second)
    apply_status_report(second, Status.DISCONNECTED)

    apply_status_report(first, Status.CONNECTED, PHONE)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.superseded_by, second.superseded_by) == (None, first)
    assert {w.whatsapp_session_id for w in Workshop.objects.all()} == {first.pk}


def test_adopting_reads_the_session_from_the_database_not_the_callers_copy():
    old, new = new_then_old(new_status=Status.CONNECTING)
    held = give_references(old)
    stale_copy = WhatsAppSession.objects.get(pk=new.pk)
    WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED)

    [result] = adopt_predecessors(stale_copy, trigger="admin")

    assert result.counts["workshops"] == len(held.workshops)
    assert adopt_predecessors(stale_copy, trigger="admin") == []


def test_a_session_not_connected_adopts_nothing_and_refuses_nothing():
    old, new = new_then_old(new_status=Status.CONNECTING)
    give_references(old)
    before = database_snapshot()

    assert adopt_predecessors(new, trigger="admin") == []
    assert database_snapshot() == before


def test_two_sessions_waiting_on_the_phone_are_adopted_oldest_first():
    first, new = new_then_old()
    # Made later, but first in id order, which the sessions are locked in.
    second = factories.WhatsAppSessionFactory(
        id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        organization=new.organization,
        phone_number=PHONE,
        status=Status.DISCONNECTED,
    )
    WhatsAppSession.objects.filter(pk=first.pk).update(created_at=second.created_at)
    WhatsAppSession.objects.filter(pk=second.pk).update(
        created_at=second.created_at + dt.timedelta(minutes=1)
    )
    give_references(first)
    give_references(second)

    results = adopt_predecessors(new, trigger="admin")

    assert [(r.old.pk, r.new.pk) for r in results] == [(first.pk, new.pk), (second.pk, new.pk)]
    assert [r.migration.forced for r in results] == [False, False]
    assert not Workshop.objects.exclude(whatsapp_session=new).exists()


def test_a_copy_made_before_the_phone_was_known_adopts_by_the_phone_in_the_database():
    """A copy read while the session was still pairing has no phone: the lock reads the phone
    the database holds, with the session's status, in the same statement."""
    old, new = new_then_old(new_status=Status.CONNECTING)
    WhatsAppSession.objects.filter(pk=new.pk).update(phone_number=None)
    held = give_references(old)
    copy_without_phone = WhatsAppSession.objects.get(pk=new.pk)
    WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED, phone_number=PHONE)

    [result] = adopt_predecessors(copy_without_phone, trigger="admin")

    assert (result.old.pk, result.new.pk) == (old.pk, new.pk)
    assert result.counts["workshops"] == len(held.workshops)


def test_a_copy_without_a_phone_adopts_nothing_while_its_session_is_not_connected():
    old, new = new_then_old(new_status=Status.CONNECTING)
    give_references(old)
    WhatsAppSession.objects.filter(pk=new.pk).update(phone_number=None)
    copy_without_phone = WhatsAppSession.objects.get(pk=new.pk)
    WhatsAppSession.objects.filter(pk=new.pk).update(phone_number=PHONE)
    before = database_snapshot()

    assert adopt_predecessors(copy_without_phone, trigger="admin") == []
    assert database_snapshot() == before

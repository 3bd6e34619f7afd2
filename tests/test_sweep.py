"""The sweep (`migrate_sessions --auto`, and the dispatcher's periodic pass): which sessions it
adopts into, what it lists on a dry run, and how it goes on past a session it cannot move
(PostgreSQL)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling.models import NotificationCampaign, Workshop
from sessions_app.models import WhatsAppSession
from sessions_app.services.migration import live_successor, migrate_session, sweep_references
from tests import factories
from tests.migration_helpers import PHONE, Campaign, Status, database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

OTHER_PHONE = "+5511912345678"
THIRD_PHONE = "+5511955554444"
T0 = timezone.now() - dt.timedelta(days=1)


def session(organization, *, phone=PHONE, status=Status.CONNECTED, **kwargs):
    kwargs.setdefault("connected_at", T0 if status == Status.CONNECTED else None)
    return factories.WhatsAppSessionFactory(
        organization=organization, phone_number=phone, status=status, **kwargs
    )


def waiting(organization, *, phone=PHONE):
    """A disconnected session of `phone` holding a workshop, made after the connected ones so
    their saves found nothing to adopt."""
    old = session(organization, phone=phone, status=Status.DISCONNECTED)
    workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=old)
    return old, workshop


def holding(organization, *, phone=PHONE, live_phone=None, created_at=None):
    """A session of `phone` superseded by a connected one of `live_phone` (the same phone
    unless given; by force when they differ), and a campaign attached to it afterwards."""
    live_phone = live_phone or phone
    old = session(organization, phone=phone, status=Status.DISCONNECTED)
    if created_at is not None:
        WhatsAppSession.objects.filter(pk=old.pk).update(created_at=created_at)
    live = session(organization, phone=live_phone)
    migrate_session(old, live, trigger="admin", force=live_phone != phone)
    late = NotificationCampaign.objects.create(
        organization=organization, name="late", session=old, status=Campaign.PENDING
    )
    return old, live, late


def held_by(row):
    return type(row).objects.get(pk=row.pk).whatsapp_session_id


class TestAdoption:
    def test_the_most_recently_connected_session_of_the_phone_adopts(self):
        organization = factories.OrganizationFactory()
        earlier = session(organization, connected_at=T0)
        later = session(organization, connected_at=T0 + dt.timedelta(hours=1))
        old, workshop = waiting(organization)

        report = sweep_references()

        assert [(r.old.pk, r.new.pk) for r in report.results] == [(old.pk, later.pk)]
        assert held_by(workshop) == later.pk
        assert WhatsAppSession.objects.get(pk=earlier.pk).superseded_by_id is None

    def test_a_session_connected_without_a_time_adopts_last(self):
        organization = factories.OrganizationFactory()
        timed = session(organization, connected_at=T0)
        untimed = session(organization)
        WhatsAppSession.objects.filter(pk=untimed.pk).update(connected_at=None)
        _old, workshop = waiting(organization)

        sweep_references()

        assert held_by(workshop) == timed.pk

    def test_between_two_connected_at_once_the_newer_session_adopts(self):
        organization = factories.OrganizationFactory()
        session(organization, connected_at=T0)
        newer = session(organization, connected_at=T0)
        _old, workshop = waiting(organization)

        sweep_references()

        assert held_by(workshop) == newer.pk

    def test_a_dry_run_lists_a_predecessor_once_though_two_sessions_could_adopt_it(self):
        organization = factories.OrganizationFactory()
        session(organization, connected_at=T0)
        later = session(organization, connected_at=T0 + dt.timedelta(hours=1))
        old, _workshop = waiting(organization)
        before = database_snapshot()

        report = sweep_references(dry_run=True)

        assert [(r.old.pk, r.new.pk, r.dry_run) for r in report.results] == [
            (old.pk, later.pk, True)
        ]
        assert database_snapshot() == before

    def test_the_dispatchers_pass_leaves_adoption_to_the_connect(self):
        organization = factories.OrganizationFactory()
        session(organization)
        waiting(organization)
        before = database_snapshot()

        report = sweep_references(superseded_only=True)

        assert (report.results, report.failures) == ([], [])
        assert database_snapshot() == before

    def test_every_session_it_cannot_move_is_reported_and_nothing_moves(self):
        organization = factories.OrganizationFactory()
        first = session(organization)
        second = session(organization, phone=OTHER_PHONE)
        waiting(organization)
        waiting(organization, phone=OTHER_PHONE)
        before = database_snapshot()

        report = sweep_references(trigger="cron")

        reason = "Unknown trigger 'cron'; expected one of automatic, admin, command, undo."
        assert sorted(report.failures) == sorted(
            [(str(first.pk), reason), (str(second.pk), reason)]
        )
        assert report.results == []
        assert database_snapshot() == before

    def test_settled_sessions_cost_no_query_each(self):
        """Only sessions with a predecessor waiting are adopted into: the others, whatever their
        number, are ruled out by the sweep's two queries."""
        organization = factories.OrganizationFactory()
        elsewhere = factories.OrganizationFactory()
        for _ in range(3):
            # A connected session, and disconnected sessions near it that are not its
            # predecessors: another organization's, another phone's, one already superseded.
            live = session(organization)
            session(elsewhere, status=Status.DISCONNECTED)
            session(organization, phone=OTHER_PHONE, status=Status.DISCONNECTED)
            gone = session(organization, status=Status.DISCONNECTED)
            WhatsAppSession.objects.filter(pk=gone.pk).update(superseded_by=live)
            # And a disconnected session that a second disconnected one of its phone cannot
            # adopt.
            session(elsewhere, phone=OTHER_PHONE, status=Status.DISCONNECTED)

        with CaptureQueriesContext(connection) as queries:
            report = sweep_references()

        assert (report.results, report.failures) == ([], [])
        assert len(queries) == 2

    def test_each_reconnected_phone_costs_the_same_three_statements(self):
        """Its sessions locked, the undos that hold them read, and the move: no second lock or
        savepoint per move, however many phones reconnected."""

        def statements_per_phone(phones: list[str]) -> float:
            organization = factories.OrganizationFactory()
            for phone in phones:
                session(organization, phone=phone)
                waiting(organization, phone=phone)
            with CaptureQueriesContext(connection) as queries:
                report = sweep_references()
            assert len(report.results) == len(phones) and not report.failures
            # The sweep's transactions are savepoints inside a test's.
            sent = [q for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
            return (len(sent) - 2) / len(phones)

        assert statements_per_phone([PHONE]) == 3
        assert statements_per_phone([OTHER_PHONE, THIRD_PHONE, "+5511977776666"]) == 3


class TestSupersededSessionsHoldingRows:
    def test_rows_attached_later_follow_to_the_live_session(self):
        old, live, late = holding(factories.OrganizationFactory())

        report = sweep_references(superseded_only=True)

        assert [(r.old.pk, r.new.pk, r.dry_run) for r in report.results] == [
            (old.pk, live.pk, False)
        ]
        late.refresh_from_db()
        assert late.session_id == live.pk

    def test_a_dry_run_lists_them_and_moves_nothing(self):
        old, live, _late = holding(factories.OrganizationFactory())
        before = database_snapshot()

        report = sweep_references(dry_run=True)

        assert [(r.old.pk, r.new.pk, r.dry_run) for r in report.results] == [
            (old.pk, live.pk, True)
        ]
        assert report.results[0].counts["campaigns"] == 1
        assert database_snapshot() == before

    def test_sessions_are_handled_oldest_first(self):
        organization = factories.OrganizationFactory()
        newer, _, _ = holding(organization, created_at=T0)
        older, _, _ = holding(organization, phone=OTHER_PHONE, created_at=T0 - dt.timedelta(1))

        report = sweep_references(superseded_only=True)

        assert [r.old.pk for r in report.results] == [older.pk, newer.pk]

    def test_one_that_cannot_move_is_reported_and_the_next_still_moves(self):
        organization = factories.OrganizationFactory()
        forced, other_phone, _ = holding(
            organization, live_phone=OTHER_PHONE, created_at=T0 - dt.timedelta(hours=1)
        )
        old, live, late = holding(organization, phone=THIRD_PHONE, created_at=T0)

        report = sweep_references(superseded_only=True)

        assert report.failures == [
            (
                str(forced.pk),
                f"Sessions {forced.pk} ({PHONE}) and {other_phone.pk} ({OTHER_PHONE}) are not "
                "the same phone; force the move to take its references anyway.",
            )
        ]
        assert [(r.old.pk, r.new.pk) for r in report.results] == [(old.pk, live.pk)]
        late.refresh_from_db()
        assert late.session_id == live.pk

    def test_one_whose_phone_has_not_reconnected_waits_and_the_next_still_moves(self):
        organization = factories.OrganizationFactory()
        waiting_old, gone, waiting_late = holding(organization, created_at=T0 - dt.timedelta(1))
        WhatsAppSession.objects.filter(pk=gone.pk).update(status=Status.DISCONNECTED)
        old, live, late = holding(organization, phone=OTHER_PHONE, created_at=T0)

        report = sweep_references(superseded_only=True)

        assert report.failures == []
        assert [(r.old.pk, r.new.pk) for r in report.results] == [(old.pk, live.pk)]
        late.refresh_from_db()
        waiting_late.refresh_from_db()
        assert (late.session_id, waiting_late.session_id) == (live.pk, waiting_old.pk)

    def test_a_superseded_session_connected_again_keeps_its_rows(self):
        organization = factories.OrganizationFactory()
        old, _live, late = holding(organization)
        WhatsAppSession.objects.filter(pk=old.pk).update(status=Status.CONNECTED)

        report = sweep_references(superseded_only=True)

        assert (report.results, report.failures) == ([], [])
        late.refresh_from_db()
        assert late.session_id == old.pk

    def test_a_chain_that_loops_ends_the_sweep_and_moves_nothing(self):
        organization = factories.OrganizationFactory()
        first = session(organization, status=Status.DISCONNECTED)
        second = session(organization, status=Status.DISCONNECTED)
        WhatsAppSession.objects.filter(pk=first.pk).update(superseded_by=second)
        WhatsAppSession.objects.filter(pk=second.pk).update(superseded_by=first)
        workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=first)

        report = sweep_references()

        assert (report.results, report.failures) == ([], [])
        assert Workshop.objects.get(pk=workshop.pk).whatsapp_session_id == first.pk

    def test_a_long_chain_is_read_in_one_query_and_its_rows_go_to_its_end(self):
        organization = factories.OrganizationFactory()
        chain = [session(organization, status=Status.DISCONNECTED) for _ in range(4)]
        live = session(organization)
        for earlier, later in zip(chain, [*chain[1:], live], strict=True):
            WhatsAppSession.objects.filter(pk=earlier.pk).update(superseded_by=later)
        workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=chain[0])
        first = WhatsAppSession.objects.get(pk=chain[0].pk)

        with CaptureQueriesContext(connection) as queries:
            assert live_successor(first) == live
        assert len(queries) == 1

        report = sweep_references(superseded_only=True)

        assert [(r.old.pk, r.new.pk) for r in report.results] == [(chain[0].pk, live.pk)]
        assert held_by(workshop) == live.pk

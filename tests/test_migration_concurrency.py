"""Reconnects racing each other and the sweep, on real threads with connections of their own."""

import logging
import threading

import pytest
from django.db import connection

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.migration import (
    SessionMigrationError,
    migrate_session,
    sweep_references,
)
from sessions_app.services.status import apply_status_report
from tests import factories
from tests.migration_helpers import Status, give_references, ids

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("postgres_only"),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 60


def run_together(*calls, timeout=30.0) -> list[BaseException]:
    """Start every call at the same moment, each on its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def worker(call):
        try:
            barrier.wait()
            call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung: deadlock?"
    return errors


def report_connected(session_id, phone):
    def call():
        apply_status_report(WhatsAppSession.objects.get(pk=session_id), "connected", phone)

    return call


def save_connected(session_id, phone):
    """A plain save, as code that bypasses the status service would do."""

    def call():
        session = WhatsAppSession.objects.get(pk=session_id)
        session.status = Status.CONNECTED
        session.phone_number = phone
        session.save()

    return call


def sweep(report_failures: list):
    def call():
        report_failures.extend(sweep_references().failures)

    return call


def migrate_by_hand(old_id, new_id):
    def call():
        try:
            migrate_session(
                WhatsAppSession.objects.get(pk=old_id),
                WhatsAppSession.objects.get(pk=new_id),
                trigger="command",
            )
        except SessionMigrationError as exc:
            # Before a connect commits, the new session is not connected yet (nor has a phone):
            # a refusal is the right answer then, and the others do the move.
            assert "connected session" in str(exc) or "same phone" in str(exc)

    return call


def test_two_connects_and_a_sweep_at_once_move_every_row_exactly_once(caplog):
    caplog.set_level(logging.ERROR)
    for round_number in range(ROUNDS):
        phone = f"+55119{round_number:08d}"
        organization = factories.OrganizationFactory()
        new = factories.WhatsAppSessionFactory(
            organization=organization, phone_number=None, status=Status.CONNECTING
        )
        old = factories.WhatsAppSessionFactory(
            organization=organization, phone_number=phone, status=Status.DISCONNECTED
        )
        held = give_references(old, count=6)
        WhatsAppGroup.objects.create(session=new, group_jid=held.groups[0].group_jid)
        if round_number % 2:
            # Connected without a signal: the sweep has work from the first moment too.
            WhatsAppSession.objects.filter(pk=new.pk).update(
                status=Status.CONNECTED, phone_number=phone
            )
        failures: list = []
        calls = [report_connected(new.pk, phone), save_connected(new.pk, phone), sweep(failures)]
        if round_number % 3 == 0:
            calls.append(migrate_by_hand(old.pk, new.pk))

        errors = run_together(*calls)

        assert errors == []
        assert failures == []
        assert [r.message for r in caplog.records if r.levelno >= logging.ERROR] == []
        [audit] = SessionMigration.objects.filter(old_session=old, new_session=new)
        assert SessionMigration.objects.filter(old_session=old).count() == 1
        assert set(audit.moved_ids["workshops"]) == ids(held.workshops)
        assert set(audit.moved_ids["webinars"]) == ids(held.webinars)
        assert set(audit.moved_ids["campaigns"]) == ids(held.active_campaigns)
        assert set(audit.moved_ids["groups_moved"]) == ids(held.groups[1:])
        assert audit.moved_ids["groups_merged"] == [str(held.groups[0].pk)]
        for key, moved in audit.moved_ids.items():
            assert len(moved) == len(set(moved)) == audit.counts[key]
        assert set(
            Workshop.objects.filter(organization=organization).values_list(
                "whatsapp_session", flat=True
            )
        ) == {new.pk}
        assert not Webinar.objects.filter(whatsapp_session=old).exists()
        assert not NotificationCampaign.objects.filter(
            session=old, status__in=["scheduled", "pending", "sending"]
        ).exists()
        assert not ScheduledWhatsAppMessage.objects.filter(
            group__session=old, status="pending"
        ).exists()
        old.refresh_from_db()
        new.refresh_from_db()
        assert (old.superseded_by_id, new.superseded_by_id) == (new.pk, None)
        assert new.status == Status.CONNECTED


def test_two_new_sessions_of_one_phone_connecting_at_once_adopt_the_old_one_once(caplog):
    """WhatsApp's linked devices allow two live sessions of a phone: one of them takes the old
    session's rows, whole, and the other finds nothing left to take."""
    caplog.set_level(logging.ERROR)
    for round_number in range(ROUNDS // 2):
        phone = f"+55219{round_number:08d}"
        organization = factories.OrganizationFactory()
        first, second = (
            factories.WhatsAppSessionFactory(
                organization=organization, phone_number=None, status=Status.CONNECTING
            )
            for _ in range(2)
        )
        old = factories.WhatsAppSessionFactory(
            organization=organization, phone_number=phone, status=Status.DISCONNECTED
        )
        held = give_references(old, count=4)
        failures: list = []

        errors = run_together(
            report_connected(first.pk, phone), report_connected(second.pk, phone), sweep(failures)
        )

        assert errors == [] and failures == []
        assert [r.message for r in caplog.records if r.levelno >= logging.ERROR] == []
        [audit] = SessionMigration.objects.filter(old_session=old)
        assert audit.new_session_id in (first.pk, second.pk)
        assert set(audit.moved_ids["workshops"]) == ids(held.workshops)
        assert set(
            Workshop.objects.filter(organization=organization).values_list(
                "whatsapp_session", flat=True
            )
        ) == {audit.new_session_id}
        old.refresh_from_db()
        assert old.superseded_by_id == audit.new_session_id

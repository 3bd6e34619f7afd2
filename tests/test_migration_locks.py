"""A move under way locks its sessions against other moves, not against rows being attached to
them: a workshop saved meanwhile, elsewhere, points at either session without waiting.

The move's transaction is held open here; another connection, with a lock timeout, inserts the
rows a user would save meanwhile (PostgreSQL)."""

import uuid

import psycopg
import pytest
from django.db import connection, transaction

from sessions_app.models import WhatsAppSession
from sessions_app.services.migration import migrate_session, undo_migration
from sessions_app.services.status import apply_status_report
from tests import factories
from tests.migration_helpers import (
    PHONE,
    Status,
    give_references,
    new_then_old,
    second_connection,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

# A regression fails on this instead of hanging; nothing waits for it when all is well.
LOCK_TIMEOUT = "2s"


def other_connection() -> psycopg.Connection:
    other = second_connection()
    other.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    return other


def save_workshop_elsewhere(session: WhatsAppSession) -> None:
    """A workshop saved on another connection, pointing at `session`, committed."""
    with other_connection() as other:
        other.execute(
            "INSERT INTO workshops"
            " (id, organization_id, title, starts_at, whatsapp_session_id, created_at, updated_at)"
            " VALUES (%s, %s, 'Saved meanwhile', now(), %s, now(), now())",
            [uuid.uuid4(), session.organization_id, session.pk],
        )


def test_a_move_under_way_lets_rows_be_attached_to_both_sessions():
    old, new = new_then_old()
    give_references(old, count=1)

    with transaction.atomic():
        migrate_session(old, new, trigger="admin")
        save_workshop_elsewhere(old)
        save_workshop_elsewhere(new)

    assert old.workshops.filter(title="Saved meanwhile").count() == 1
    assert new.workshops.filter(title="Saved meanwhile").count() == 1


def test_a_reconnect_under_way_lets_rows_be_attached_to_the_phones_sessions():
    old = factories.WhatsAppSessionFactory(
        phone_number=PHONE, status=Status.DISCONNECTED, connected_at=None
    )
    new = factories.WhatsAppSessionFactory(
        organization=old.organization, phone_number=None, status=Status.CONNECTING
    )
    give_references(old, count=1)

    with transaction.atomic():
        apply_status_report(new, Status.CONNECTED, PHONE)  # adopts `old` in the same transaction
        assert WhatsAppSession.objects.get(pk=old.pk).superseded_by_id == new.pk
        save_workshop_elsewhere(old)
        save_workshop_elsewhere(new)

    assert new.workshops.filter(title="Saved meanwhile").count() == 1


def test_an_undo_under_way_lets_rows_be_attached_to_both_sessions():
    old, new = new_then_old()
    give_references(old, count=1)
    migration = migrate_session(old, new, trigger="admin").migration

    with transaction.atomic():
        undo_migration(migration, actor=None)
        save_workshop_elsewhere(old)
        save_workshop_elsewhere(new)

    assert old.workshops.filter(title="Saved meanwhile").count() == 1
    assert WhatsAppSession.objects.get(pk=old.pk).superseded_by_id is None


def test_a_report_locks_its_phones_other_sessions_with_its_own_at_once():
    """The first lock a report takes covers the sessions of the phone it names, in id order, as
    a move would, never its own session first and the others later (the adoption it runs)."""
    old = factories.WhatsAppSessionFactory(
        phone_number=PHONE, status=Status.DISCONNECTED, connected_at=None
    )
    new = factories.WhatsAppSessionFactory(
        organization=old.organization, phone_number=None, status=Status.CONNECTING
    )
    seen = []

    def probe_after_the_first_lock(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "FOR NO KEY UPDATE" in sql and not seen:
            with second_connection() as other:
                try:
                    other.execute(
                        "SELECT id FROM whatsapp_sessions WHERE id = %s FOR NO KEY UPDATE NOWAIT",
                        [old.pk],
                    )
                    seen.append("free")
                except psycopg.errors.LockNotAvailable:
                    seen.append("locked")
        return result

    with connection.execute_wrapper(probe_after_the_first_lock):
        apply_status_report(new, Status.CONNECTED, PHONE)

    assert seen == ["locked"]
    assert WhatsAppSession.objects.get(pk=old.pk).superseded_by_id == new.pk

"""Any statement of a migration failing leaves the database exactly as it was before."""

import pytest
from django.db import DatabaseError, connection, transaction

from scheduling.models import Workshop
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.migration import migrate_session, undo_migration
from sessions_app.services.status import apply_status_report
from tests.migration_helpers import PHONE, Status, database_snapshot, give_references, new_then_old

pytestmark = pytest.mark.django_db(transaction=True)


class InjectedFailure(DatabaseError):
    pass


# Transaction control comes with the caller's transaction; it is not the migration's statements.
TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


class Statements:
    """An execute wrapper that counts statements and makes the n-th one fail, before or after
    it reached the database."""

    def __init__(self, fail_at: int | None = None, after: bool = False):
        self.fail_at, self.after, self.seen = fail_at, after, []

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith(TRANSACTION_CONTROL):
            return execute(sql, params, many, context)
        self.seen.append(sql)
        failing = len(self.seen) == self.fail_at
        if failing and not self.after:
            raise InjectedFailure(f"statement {self.fail_at} failed before running")
        result = execute(sql, params, many, context)
        if failing:
            raise InjectedFailure(f"statement {self.fail_at} failed after running")
        return result


def scene():
    old, new = new_then_old(new_status=Status.CONNECTING)
    held = give_references(old, count=3)
    WhatsAppGroup.objects.create(session=new, group_jid=held.groups[0].group_jid)
    Organization.objects.filter(pk=old.organization_id).update(community_session=old)
    return old, new


def is_the_move(sql: str) -> bool:
    """The statement that runs a move's steps and writes its audit (sent with a `SET LOCAL`)."""
    return "WITH" in sql and "INSERT INTO" in sql


def statements_of(call) -> list[str]:
    """The statements `call` issues, run once and rolled back."""
    counter = Statements()
    with transaction.atomic():
        with connection.execute_wrapper(counter):
            call()
        transaction.set_rollback(True)
    return counter.seen


def test_each_statement_of_a_migration_failing_in_turn_changes_nothing():
    old, new = scene()
    WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED, phone_number=PHONE)

    def move():
        return migrate_session(old, new, trigger="command")

    statements = statements_of(move)
    # The locks, then the move and its audit: on PostgreSQL one statement.
    assert any(is_the_move(sql) for sql in statements), statements
    before = database_snapshot()
    for position in range(1, len(statements) + 1):
        for after in (False, True):
            with (
                connection.execute_wrapper(Statements(position, after)),
                pytest.raises(InjectedFailure),
            ):
                move()
            assert database_snapshot() == before, (position, after, statements[position - 1])

    assert move().migration is not None
    assert not Workshop.objects.filter(whatsapp_session=old).exists()


def test_a_connect_whose_adoption_fails_anywhere_keeps_only_the_status_change():
    old, new = scene()

    def connect():
        apply_status_report(WhatsAppSession.objects.get(pk=new.pk), Status.CONNECTED, PHONE)

    statements = statements_of(connect)
    first_update = next(i for i, sql in enumerate(statements, 1) if sql.startswith("UPDATE"))
    # Statements after the session's own save belong to the adoption, in a savepoint.
    adoption = [i for i, _ in enumerate(statements, 1) if i > first_update]
    assert any(is_the_move(statements[i - 1]) for i in adoption), statements
    for position in adoption:
        with transaction.atomic():
            with connection.execute_wrapper(Statements(position, after=True)):
                connect()
            new.refresh_from_db()
            assert (new.status, new.phone_number) == (Status.CONNECTED, PHONE)
            assert set(Workshop.objects.values_list("whatsapp_session", flat=True)) == {old.pk}
            assert not SessionMigration.objects.exists()
            old.refresh_from_db()
            assert old.superseded_by is None
            transaction.set_rollback(True)

    connect()
    assert SessionMigration.objects.get().old_session == old


def test_each_statement_of_an_undo_failing_in_turn_changes_nothing():
    old, new = scene()
    WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED, phone_number=PHONE)
    migration = migrate_session(old, new, trigger="command").migration

    def undo():
        return undo_migration(SessionMigration.objects.get(pk=migration.pk), actor=None)

    statements = statements_of(undo)
    assert len(statements) >= 10, statements
    before = database_snapshot()
    for position in range(1, len(statements) + 1):
        for after in (False, True):
            with (
                connection.execute_wrapper(Statements(position, after)),
                pytest.raises(InjectedFailure),
            ):
                undo()
            assert database_snapshot() == before, (position, after, statements[position - 1])

    assert undo().undo is not None
    assert set(Workshop.objects.values_list("whatsapp_session", flat=True)) == {old.pk}

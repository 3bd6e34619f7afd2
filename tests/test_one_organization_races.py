"""Two transactions racing cannot break the one-organization rule of scheduled messages between
them: a message written on a group while another transaction moves the group (or the message's
workshop) to another organization. Whichever commits second is refused."""

import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection

from scheduling.models import ScheduledWhatsAppMessage
from sessions_app.organization_rules import cross_organization_rows
from tests import factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]

INSERT_MESSAGE = (
    "INSERT INTO scheduled_whatsapp_messages (id, group_id, workshop_id, body, send_at, status,"
    " attempts, last_error, claimed_by, gateway_message_id, created_at, updated_at)"
    " VALUES (%s, %s, %s, 'race', now(), 'pending', 0, '', '', '', now(), now())"
)


def open_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        options="-c lock_timeout=20s",
    )


class Background(threading.Thread):
    """Runs `statement` and commits, on its own connection; keeps what it raised."""

    def __init__(self, statement: str, params: list):
        super().__init__(daemon=True)
        self.conn = open_connection()
        self.pid = self.conn.info.backend_pid
        self.statement, self.params = statement, params
        self.error: Exception | None = None

    def run(self):
        try:
            with self.conn.transaction():
                self.conn.execute(self.statement, self.params)
        except psycopg.Error as exc:
            self.error = exc
        finally:
            self.conn.close()


def wait_until_blocked(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with open_connection() as watcher:
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(0.02)
    raise AssertionError("the second transaction went ahead without waiting for the first")


@pytest.fixture
def scene():
    a = factories.WhatsAppSessionFactory()
    b = factories.WhatsAppSessionFactory()
    group = factories.WhatsAppGroupFactory(session=a)
    workshop = factories.WorkshopFactory(organization=a.organization, whatsapp_session=a)
    return a, b, group, workshop


def test_a_message_written_while_its_group_moves_away_is_refused(scene):
    _, b, group, workshop = scene
    with open_connection() as mover:
        mover.execute("UPDATE whatsapp_groups SET session_id = %s WHERE id = %s", [b.pk, group.pk])
        writer = Background(INSERT_MESSAGE, [uuid.uuid4(), group.pk, workshop.pk])
        writer.start()
        wait_until_blocked(writer.pid)
        mover.commit()
    writer.join(timeout=30)

    assert isinstance(writer.error, psycopg.errors.CheckViolation), writer.error
    assert not ScheduledWhatsAppMessage.objects.exists()
    assert cross_organization_rows(connection) == []


def test_a_group_moved_away_under_a_message_being_written_is_refused(scene):
    _, b, group, workshop = scene
    with open_connection() as writer:
        writer.execute(INSERT_MESSAGE, [uuid.uuid4(), group.pk, workshop.pk])
        mover = Background(
            "UPDATE whatsapp_groups SET session_id = %s WHERE id = %s", [b.pk, group.pk]
        )
        mover.start()
        wait_until_blocked(mover.pid)
        writer.commit()
    mover.join(timeout=30)

    assert isinstance(mover.error, psycopg.errors.CheckViolation), mover.error
    assert ScheduledWhatsAppMessage.objects.get().group.session_id != b.pk
    assert cross_organization_rows(connection) == []


def test_a_message_written_while_its_workshop_moves_away_is_refused(scene):
    _, b, group, workshop = scene
    with open_connection() as mover:
        mover.execute(
            "UPDATE workshops SET organization_id = %s, whatsapp_session_id = %s WHERE id = %s",
            [b.organization_id, b.pk, workshop.pk],
        )
        writer = Background(INSERT_MESSAGE, [uuid.uuid4(), group.pk, workshop.pk])
        writer.start()
        wait_until_blocked(writer.pid)
        mover.commit()
    writer.join(timeout=30)

    assert isinstance(writer.error, psycopg.errors.CheckViolation), writer.error
    assert cross_organization_rows(connection) == []

"""Groups come from the gateway: `sync_groups` against the in-memory backend and each fake."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling.models import ScheduledWhatsAppMessage
from sessions_app.models import SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.groups import GroupSyncError, sync_groups
from sessions_app.services.migration import adopt_predecessors
from sessions_app.services.status import apply_status_report
from tests.factories import (
    ScheduledWhatsAppMessageFactory,
    WhatsAppGroupFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)
from tests.group_gateways import GATEWAYS, Listed, gateway_under_test
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

Status = WhatsAppSession.Status
PHONE = "+5511987654321"


@pytest.fixture(params=GATEWAYS)
def gateway(request, settings):
    with gateway_under_test(request.param, settings) as under_test:
        yield under_test


def groups_of(session) -> dict[str, tuple[str, bool]]:
    return {
        g.group_jid: (g.name, g.is_active) for g in WhatsAppGroup.objects.filter(session=session)
    }


def pending_message(group, **kwargs):
    workshop = WorkshopFactory(
        organization=group.session.organization, whatsapp_session=group.session
    )
    return ScheduledWhatsAppMessageFactory(workshop=workshop, group=group, **kwargs)


def test_new_renamed_returning_and_vanished_groups(gateway):
    session = WhatsAppSessionFactory(session_data=gateway.session_data("aurora-1"))
    renamed = WhatsAppGroupFactory(session=session, group_jid="111@g.us", name="Turma A (old)")
    vanished = WhatsAppGroupFactory(session=session, group_jid="222@g.us", name="Turma B")
    returning = WhatsAppGroupFactory(
        session=session, group_jid="333@g.us", name="Turma C", is_active=False
    )
    waiting = [pending_message(vanished), pending_message(vanished)]
    sent = pending_message(vanished, status=ScheduledWhatsAppMessage.Status.SENT)
    gateway.list(
        "aurora-1",
        [
            Listed("111@g.us", "Turma A"),
            Listed("333@g.us", "Turma C"),
            Listed("444@g.us", "Turma D"),
            Listed("555@g.us", "Aurora", community=True),
            Listed("666@g.us", "Avisos", announcement=True),
        ],
    )

    result = sync_groups(session)

    assert result.counts == {
        "created": 2,
        "renamed": 1,
        "reactivated": 1,
        "deactivated": 1,
        "unchanged": 0,
        "communities_skipped": 1,
    }
    assert groups_of(session) == {
        "111@g.us": ("Turma A", True),
        "222@g.us": ("Turma B", False),
        "333@g.us": ("Turma C", True),
        "444@g.us": ("Turma D", True),
        "666@g.us": ("Avisos", True),
    }
    # Updated in place: the same rows, never deleted.
    assert WhatsAppGroup.objects.filter(pk__in=[renamed.pk, vanished.pk, returning.pk]).count() == 3
    [report] = result.vanished
    assert (report.group_jid, report.name, report.pending_messages) == ("222@g.us", "Turma B", 2)
    assert result.pending_in_vanished == 2
    # Messages are reported, not touched.
    assert set(
        ScheduledWhatsAppMessage.objects.filter(group=vanished).values_list("pk", "status")
    ) == {(m.pk, "pending") for m in waiting} | {(sent.pk, "sent")}


def test_a_second_sync_changes_nothing(gateway):
    session = WhatsAppSessionFactory(session_data=gateway.session_data("aurora-1"))
    gateway.list("aurora-1", [Listed("111@g.us", "Turma A"), Listed("222@g.us", "Turma B")])
    sync_groups(session)
    before = database_snapshot()

    result = sync_groups(session)

    assert result.counts["unchanged"] == 2
    assert sum(result.counts.values()) == 2
    assert database_snapshot() == before


def test_an_empty_name_keeps_the_stored_one(gateway):
    session = WhatsAppSessionFactory(session_data=gateway.session_data("aurora-1"))
    WhatsAppGroupFactory(session=session, group_jid="111@g.us", name="Turma A")
    gateway.list("aurora-1", [Listed("111@g.us", "")])

    assert sync_groups(session).counts["unchanged"] == 1
    assert groups_of(session) == {"111@g.us": ("Turma A", True)}


def test_a_failed_sync_changes_nothing_and_says_why(gateway):
    session = WhatsAppSessionFactory(session_data=gateway.session_data("aurora-1"))
    WhatsAppGroupFactory(session=session, group_jid="111@g.us", name="Turma A")
    gateway.list("aurora-1", [Listed("222@g.us", "Turma B")])
    gateway.fail("aurora-1")
    before = database_snapshot()

    with pytest.raises(GroupSyncError) as caught:
        sync_groups(session)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"Groups of session {session.pk} were not synced: ")
    assert any(code in message for code in ("502", "503", "down"))
    assert database_snapshot() == before


@pytest.mark.parametrize(
    ("status", "superseded", "reason"),
    [
        (Status.DISCONNECTED, False, "is disconnected; groups sync from a connected session"),
        (Status.CONNECTING, False, "is connecting; groups sync from a connected session"),
        (Status.DISCONNECTED, True, "is superseded by"),
    ],
)
def test_only_a_connected_live_session_is_synced(gateway, status, superseded, reason):
    session = WhatsAppSessionFactory(status=status, session_data=gateway.session_data("a-1"))
    if superseded:
        successor = WhatsAppSessionFactory(organization=session.organization)
        WhatsAppSession.objects.filter(pk=session.pk).update(superseded_by=successor)
    gateway.list("a-1", [Listed("111@g.us", "Turma A")])
    before = database_snapshot()

    with pytest.raises(GroupSyncError, match=reason):
        sync_groups(session)

    assert database_snapshot() == before


def test_a_session_without_the_gateways_handle_is_refused(gateway):
    other_key = "vps_session_id" if gateway.key == "session_name" else "session_name"
    session = WhatsAppSessionFactory(session_data={other_key: "aurora-1"})

    with pytest.raises(GroupSyncError, match=f'no "{gateway.key}" in session_data'):
        sync_groups(session)


def test_the_number_of_statements_does_not_grow_with_the_groups(settings):
    with gateway_under_test("locmem", settings) as gateway:
        statements = []
        for size in (2, 40):
            session = WhatsAppSessionFactory(session_data=gateway.session_data(f"s-{size}"))
            for n in range(size):
                WhatsAppGroupFactory(session=session, group_jid=f"{size}{n:04d}1@g.us")
                WhatsAppGroupFactory(session=session, group_jid=f"{size}{n:04d}2@g.us")
            listed = [Listed(f"{size}{n:04d}1@g.us", f"renamed {n}") for n in range(size)]
            listed += [Listed(f"{size}{n:04d}3@g.us", f"new {n}") for n in range(size)]
            gateway.list(f"s-{size}", listed)
            with CaptureQueriesContext(connection) as queries:
                result = sync_groups(session)
            assert (result.counts["created"], result.counts["deactivated"]) == (size, size)
            statements.append(len(queries))
        assert statements[0] == statements[1]


def reconnected(gateway, listed: list[Listed]):
    """A phone's disconnected session with a group and its pending message, and the phone's new
    session, still connecting, whose gateway lists `listed`."""
    old = WhatsAppSessionFactory(
        phone_number=PHONE, status=Status.DISCONNECTED, session_data=gateway.session_data("a-1")
    )
    group = WhatsAppGroupFactory(session=old, group_jid="111@g.us", name="Turma A")
    message = pending_message(group)
    new = WhatsAppSessionFactory(
        organization=old.organization,
        phone_number=None,
        status=Status.CONNECTING,
        session_data=gateway.session_data("a-2"),
    )
    gateway.list("a-2", listed)
    return old, new, group, message


def connected_without_signal(session) -> None:
    """Connected by `QuerySet.update`: nothing runs until the test says so."""
    WhatsAppSession.objects.filter(pk=session.pk).update(
        status=Status.CONNECTED, phone_number=PHONE, connected_at=timezone.now()
    )
    session.refresh_from_db()


class TestRacingAMigration:
    """The sync and a reconnect's migration, in either order, leave one active group per
    `group_jid` on the live session, with the pending messages on it."""

    LISTED = [Listed("111@g.us", "Turma A"), Listed("222@g.us", "Turma B")]

    def assert_one_active_group_per_jid(self, new, message):
        active = WhatsAppGroup.objects.filter(session=new, is_active=True)
        assert sorted(active.values_list("group_jid", flat=True)) == ["111@g.us", "222@g.us"]
        message.refresh_from_db()
        assert (message.group.session_id, message.group.group_jid) == (new.pk, "111@g.us")
        assert message.group.is_active

    def test_sync_after_the_migration_updates_moved_groups_in_place(self, gateway):
        _old, new, group, message = reconnected(gateway, self.LISTED)
        connected_without_signal(new)
        adopt_predecessors(new, trigger=SessionMigration.Trigger.AUTOMATIC)

        result = sync_groups(new)

        assert result.counts["created"] == 1  # only 222; 111 moved and was kept
        assert result.counts["unchanged"] == 1
        group.refresh_from_db()
        assert (group.session_id, group.is_active) == (new.pk, True)
        assert WhatsAppGroup.objects.filter(group_jid="111@g.us").count() == 1
        self.assert_one_active_group_per_jid(new, message)

    def test_sync_before_the_migration_is_merged(self, gateway):
        old, new, group, message = reconnected(gateway, self.LISTED)
        connected_without_signal(new)

        sync_groups(new)
        [result] = adopt_predecessors(new, trigger=SessionMigration.Trigger.AUTOMATIC)

        assert result.counts["groups_merged"] == 1
        group.refresh_from_db()
        assert (group.session_id, group.is_active) == (old.pk, False)  # history on the old one
        self.assert_one_active_group_per_jid(new, message)

    def test_the_automatic_path_syncs_after_it_moved(
        self, gateway, django_capture_on_commit_callbacks
    ):
        _old, new, group, message = reconnected(gateway, self.LISTED)

        with django_capture_on_commit_callbacks(execute=True):
            apply_status_report(new, Status.CONNECTED, "5511987654321@c.us")

        group.refresh_from_db()
        assert (group.session_id, group.is_active) == (new.pk, True)  # moved, not duplicated
        assert groups_of(new) == {"111@g.us": ("Turma A", True), "222@g.us": ("Turma B", True)}
        self.assert_one_active_group_per_jid(new, message)

    def test_a_failed_automatic_sync_keeps_the_connect_and_the_move(
        self, gateway, django_capture_on_commit_callbacks, caplog
    ):
        _old, new, group, _message = reconnected(gateway, self.LISTED)
        gateway.fail("a-2")

        with django_capture_on_commit_callbacks(execute=True):
            apply_status_report(new, Status.CONNECTED, "5511987654321@c.us")

        new.refresh_from_db()
        group.refresh_from_db()
        assert new.status == Status.CONNECTED
        assert group.session_id == new.pk
        assert groups_of(new) == {"111@g.us": ("Turma A", True)}
        assert "Automatic group sync skipped" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_sync_waiting_on_the_gateway_while_the_migration_runs(settings):
    """The sync asks the gateway before the migration and writes after it: the moved group is
    updated in place, so the live session still has one group per `group_jid`."""
    with gateway_under_test("vps", settings) as gateway:
        _old, new, group, message = reconnected(
            gateway, [Listed("111@g.us", "Turma A renamed"), Listed("222@g.us", "B")]
        )
        connected_without_signal(new)
        gateway.server.delay = 1.0  # the gateway answers slowly
        outcome = {}

        def sync():
            try:
                outcome["result"] = sync_groups(new)
            except Exception as exc:  # reported to the test below
                outcome["error"] = exc
            finally:
                connection.close()

        syncing = threading.Thread(target=sync)
        syncing.start()
        while not gateway.server.requests:  # the sync is waiting on the gateway now
            threading.Event().wait(0.02)
        [migration] = adopt_predecessors(new, trigger=SessionMigration.Trigger.AUTOMATIC)
        syncing.join(timeout=20)

        assert "error" not in outcome, outcome.get("error")
        assert migration.counts["groups_moved"] == 1
        assert outcome["result"].counts["renamed"] == 1
        assert outcome["result"].counts["created"] == 1
        assert WhatsAppGroup.objects.filter(group_jid="111@g.us").count() == 1
        assert groups_of(new) == {"111@g.us": ("Turma A renamed", True), "222@g.us": ("B", True)}
        message.refresh_from_db()
        assert message.group_id == group.pk

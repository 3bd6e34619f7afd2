"""The sessions the sweep looks at: PostgreSQL notes a superseded session when a row comes to
point at it, however the row was written, and the sweep reads those notes instead of every
superseded session; it forgets a note only once nothing could still bring a row it has not seen
(PostgreSQL)."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app import sweep_marks
from sessions_app.models import Organization, SessionToSweep, WhatsAppGroup, WhatsAppSession
from sessions_app.references import Move, Reference, pointing_rows
from sessions_app.services.migration import migrate_session, sweep_references
from tests import factories
from tests.migration_helpers import (
    PHONE,
    Campaign,
    Message,
    Status,
    database_snapshot,
    second_connection,
)
from tests.testapp import references as testapp_references
from tests.testapp.models import Survey

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

OTHER_PHONE = "+5511912345678"


def superseded(organization=None, *, phone=PHONE):
    """A session moved into a live one of its phone, the note of that move already forgotten,
    as the sweep does once it has found the session empty twice."""
    organization = organization or factories.OrganizationFactory()
    live = factories.WhatsAppSessionFactory(organization=organization, phone_number=phone)
    old = factories.WhatsAppSessionFactory(
        organization=organization, phone_number=phone, status=Status.DISCONNECTED
    )
    migrate_session(old, live, trigger="admin")
    forget_notes()
    return old, live


def forget_notes() -> None:
    """What the sweep does once it has found every noted session empty twice."""
    SessionToSweep.objects.all().delete()


def noted() -> set:
    return set(SessionToSweep.objects.values_list("session_id", flat=True))


def raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# Each: (old, live) -> (the row, how to read where it is now, where a sweep must put it).


def workshop_inserted_by_raw_sql(old, live):
    pk = uuid.uuid4()
    raw(
        "INSERT INTO workshops (id, organization_id, title, starts_at, whatsapp_session_id,"
        " created_at, updated_at) VALUES (%s, %s, 'Written elsewhere', now(), %s, now(), now())",
        [pk, old.organization_id, old.pk],
    )
    return Workshop.objects.get(pk=pk), "whatsapp_session_id", live.pk


def webinar_pointed_at_it(old, live):
    webinar = factories.WebinarFactory(organization=live.organization, whatsapp_session=live)
    Webinar.objects.filter(pk=webinar.pk).update(whatsapp_session=old)
    return webinar, "whatsapp_session_id", live.pk


def draft_campaign_scheduled(old, live):
    campaign = factories.NotificationCampaignFactory(
        organization=old.organization, session=old, status=Campaign.DRAFT
    )
    assert noted() == set()  # a draft is history: nothing to move yet
    NotificationCampaign.objects.filter(pk=campaign.pk).update(status=Campaign.SCHEDULED)
    return campaign, "session_id", live.pk


def community_set_to_it(old, live):
    Organization.objects.filter(pk=old.organization_id).update(community_session=old)
    return old.organization, "community_session_id", live.pk


def group_active_again(old, live):
    group = factories.WhatsAppGroupFactory(session=old, is_active=False)
    forget_notes()
    WhatsAppGroup.objects.filter(pk=group.pk).update(is_active=True)
    return group, "session_id", live.pk


def merged_group(old, live):
    """The old session's group merged into the live one's of its group_jid, and an event."""
    live_group = factories.WhatsAppGroupFactory(session=live)
    merged = factories.WhatsAppGroupFactory(
        session=old, group_jid=live_group.group_jid, is_active=False
    )
    workshop = factories.WorkshopFactory(organization=live.organization, whatsapp_session=live)
    return live_group, merged, workshop


def message_pending_again(old, live):
    """A failed message in the old session's merged group, retried."""
    live_group, merged, workshop = merged_group(old, live)
    message = factories.ScheduledWhatsAppMessageFactory(
        workshop=workshop, group=merged, status=Message.FAILED
    )
    forget_notes()
    ScheduledWhatsAppMessage.objects.filter(pk=message.pk).update(status=Message.PENDING)
    return message, "group_id", live_group.pk


def pending_message_inserted(old, live):
    live_group, merged, workshop = merged_group(old, live)
    forget_notes()
    [message] = ScheduledWhatsAppMessage.objects.bulk_create(
        [
            ScheduledWhatsAppMessage(
                group=merged, workshop=workshop, body="b", send_at=timezone.now()
            )
        ]
    )
    return message, "group_id", live_group.pk


def group_moved_with_its_pending_message(old, live):
    """An inactive group moved to the old session: its pending message points there now."""
    group = factories.WhatsAppGroupFactory(session=live, is_active=False)
    workshop = factories.WorkshopFactory(organization=live.organization, whatsapp_session=live)
    factories.ScheduledWhatsAppMessageFactory(workshop=workshop, group=group)
    WhatsAppGroup.objects.filter(pk=group.pk).update(session=old)
    return group, "session_id", live.pk


ATTACHED = [
    workshop_inserted_by_raw_sql,
    webinar_pointed_at_it,
    draft_campaign_scheduled,
    community_set_to_it,
    group_active_again,
    message_pending_again,
    pending_message_inserted,
    group_moved_with_its_pending_message,
]


@pytest.mark.parametrize("attach", ATTACHED, ids=lambda f: f.__name__)
def test_a_row_written_behind_the_products_back_is_noted_and_swept(attach):
    old, live = superseded()
    bystander, _ = superseded(phone=OTHER_PHONE)

    row, column, goes_to = attach(old, live)

    assert noted() == {old.pk}
    report = sweep_references(superseded_only=True)
    assert [(r.old.pk, r.new.pk) for r in report.results] == [(old.pk, live.pk)]
    assert report.failures == []
    assert getattr(type(row).objects.get(pk=row.pk), column) == goes_to
    assert bystander.pk not in noted()


def test_every_table_a_move_takes_has_its_triggers_and_they_are_the_registrys():
    with connection.cursor() as cursor:
        assert sweep_marks.installed_fingerprint(cursor) == sweep_marks.trigger_set().fingerprint
        cursor.execute(
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE %s",
            [f"{sweep_marks.PREFIX}%"],
        )
        tables = {table for (table,) in cursor.fetchall()}
    assert {rows.model._meta.db_table for rows in pointing_rows()} <= tables
    assert WhatsAppSession._meta.db_table in tables


def test_a_session_superseded_while_it_holds_rows_is_noted():
    """Superseded by `QuerySet.update`, not by a move: whatever it held is swept."""
    old, live = superseded()
    other = factories.WhatsAppSessionFactory(
        organization=old.organization, phone_number=PHONE, status=Status.DISCONNECTED
    )
    workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=other)

    WhatsAppSession.objects.filter(pk=other.pk).update(superseded_by=live)

    assert noted() == {other.pk}
    [result] = sweep_references(superseded_only=True).results
    assert (result.old.pk, result.new.pk) == (other.pk, live.pk)
    assert Workshop.objects.get(pk=workshop.pk).whatsapp_session_id == live.pk


def test_a_superseded_session_that_disconnects_is_noted():
    """Connected again, it kept its rows; once it disconnects they go to the live session."""
    old, live = superseded()
    WhatsAppSession.objects.filter(pk=old.pk).update(status=Status.CONNECTED)
    workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
    assert sweep_references(superseded_only=True).results == []

    WhatsAppSession.objects.filter(pk=old.pk).update(status=Status.DISCONNECTED)

    assert old.pk in noted()
    [result] = sweep_references(superseded_only=True).results
    assert Workshop.objects.get(pk=workshop.pk).whatsapp_session_id == live.pk
    assert result.old.pk == old.pk


def test_rows_written_again_and_again_on_a_waiting_session_leave_one_note():
    """Its phone has not reconnected: the dispatcher retries its messages pass after pass, and
    the session keeps one note, not one per write."""
    old, _live = superseded()
    WhatsAppSession.objects.filter(phone_number=PHONE, superseded_by=None).update(
        status=Status.DISCONNECTED
    )
    workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
    message = factories.ScheduledWhatsAppMessageFactory(
        workshop=workshop, group=factories.WhatsAppGroupFactory(session=old)
    )
    sweep_references(superseded_only=True)

    for status in (Message.SENDING, Message.PENDING) * 3:
        ScheduledWhatsAppMessage.objects.filter(pk=message.pk).update(status=status)
        Workshop.objects.filter(pk=workshop.pk).update(title=f"Retried {status}")

    assert list(SessionToSweep.objects.values_list("session_id", "found_empty_xmax")) == [
        (old.pk, None)
    ]


def test_a_sweep_of_one_organization_leaves_the_others_noted():
    ours, our_live = superseded()
    theirs, their_live = superseded()
    for old in (ours, theirs):
        factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)

    report = sweep_references(organization_id=ours.organization_id, superseded_only=True)

    assert [(r.old.pk, r.new.pk) for r in report.results] == [(ours.pk, our_live.pk)]
    assert theirs.pk in noted()
    [result] = sweep_references(superseded_only=True).results
    assert (result.old.pk, result.new.pk) == (theirs.pk, their_live.pk)


def test_only_noted_sessions_are_looked_at():
    """A write made with the triggers off (as a data load may) is not seen: the sweep reads
    the notes, not every superseded session."""
    old, _live = superseded()
    raw("SET session_replication_role = replica", [])
    workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
    raw("SET session_replication_role = DEFAULT", [])

    assert sweep_references(superseded_only=True).results == []
    assert Workshop.objects.get(pk=workshop.pk).whatsapp_session_id == old.pk


@pytest.mark.parametrize("superseded_sessions", [1, 6])
def test_an_idle_sweep_costs_two_statements_however_many_sessions_were_superseded(
    superseded_sessions,
):
    organization = factories.OrganizationFactory()
    for n in range(superseded_sessions):
        superseded(organization, phone=f"+55119000000{n:02d}")
    # The notes of the moves, not yet forgotten, are looked at in the same statement.
    factories.WhatsAppSessionFactory(organization=organization, phone_number=PHONE)
    old = factories.WhatsAppSessionFactory(organization=organization, status=Status.DISCONNECTED)
    migrate_session(
        old, WhatsAppSession.objects.get(phone_number=PHONE), trigger="admin", force=True
    )

    with CaptureQueriesContext(connection) as queries:
        report = sweep_references()

    assert (report.results, report.failures) == ([], [])
    assert len(queries) == 2


def reconnected_phones(count: int) -> list[tuple[WhatsAppSession, WhatsAppSession]]:
    """Phones whose new session was made connected by `QuerySet.update`, which sends no signal:
    each has a disconnected predecessor holding a workshop, a campaign and a group."""
    pairs = []
    for _ in range(count):
        organization = factories.OrganizationFactory()
        new = factories.WhatsAppSessionFactory(
            organization=organization, phone_number=PHONE, status=Status.CONNECTING
        )
        old = factories.WhatsAppSessionFactory(
            organization=organization, phone_number=PHONE, status=Status.DISCONNECTED
        )
        factories.WorkshopFactory(organization=organization, whatsapp_session=old)
        factories.NotificationCampaignFactory(organization=organization, session=old)
        factories.WhatsAppGroupFactory(session=old)
        WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED)
        pairs.append((old, new))
    return pairs


def statements_of_a_sweep() -> tuple[int, list]:
    with CaptureQueriesContext(connection) as queries:
        report = sweep_references()
    assert report.failures == []
    return len(queries), report.results


def test_each_reconnected_phone_costs_the_same_statements():
    idle, _ = statements_of_a_sweep()
    for phones in (1, 3):
        pairs = reconnected_phones(phones)
        statements, results = statements_of_a_sweep()
        assert [(r.old.pk, r.new.pk) for r in results] == [
            (old.pk, new.pk) for old, new in reversed(pairs)
        ]
        if phones == 1:
            per_phone = statements - idle
        assert statements == idle + phones * per_phone


class TestForgetting:
    def test_the_first_look_at_an_empty_session_keeps_its_note(self):
        old, live = superseded()
        WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=None)
        WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=live)
        [note] = SessionToSweep.objects.all()
        assert note.found_empty_xmax is None

        sweep_references(superseded_only=True)

        note.refresh_from_db()
        assert note.found_empty_xmax is not None

    def test_a_note_looked_at_before_every_running_transaction_is_forgotten(self):
        old, _live = superseded()
        SessionToSweep.objects.create(session_id=old.pk, found_empty_xmax=1)

        sweep_references(superseded_only=True)

        assert noted() == set()

    def test_a_note_looked_at_while_a_transaction_now_running_ran_is_kept(self):
        old, _live = superseded()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
            running = cursor.fetchone()[0]  # this test's own, still running
        SessionToSweep.objects.create(session_id=old.pk, found_empty_xmax=running + 1)

        sweep_references(superseded_only=True)

        assert noted() == {old.pk}

    def test_the_note_of_a_session_holding_rows_is_kept_as_it_is(self):
        old, _live = superseded()
        factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
        # Its phone has no live session to take the rows now.
        WhatsAppSession.objects.filter(phone_number=PHONE, superseded_by=None).update(
            status=Status.DISCONNECTED
        )
        notes = list(SessionToSweep.objects.values_list("id", "session_id", "found_empty_xmax"))

        assert sweep_references(superseded_only=True).results == []
        assert list(SessionToSweep.objects.values_list("id", "session_id", "found_empty_xmax")) == (
            notes
        )

    def test_a_dry_run_changes_no_note(self):
        other, _ = superseded(phone=OTHER_PHONE)
        old, live = superseded()
        factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
        SessionToSweep.objects.create(session_id=other.pk, found_empty_xmax=1)
        SessionToSweep.objects.create(session_id=other.pk)
        before = database_snapshot(sweep_notes=True)

        report = sweep_references(dry_run=True)

        assert [(r.old.pk, r.new.pk, r.dry_run) for r in report.results] == [
            (old.pk, live.pk, True)
        ]
        assert database_snapshot(sweep_notes=True) == before


class TestWhenTheTriggersAreNotTheRegistrys:
    """A registry changed without `migrate` (here, surveys declared a `Move` for one test): the
    sweep looks at every superseded session until the triggers are installed again."""

    @pytest.fixture
    def surveys_move(self, redeclare):
        redeclare(
            testapp_references,
            [Reference("testapp.Survey.session", Move("surveys", "Open surveys"))],
        )

    def survey_on(self, session):
        return Survey.objects.create(
            organization_id=session.organization_id, title="Late", session=session
        )

    @pytest.mark.usefixtures("surveys_move")
    def test_the_sweep_looks_at_every_superseded_session(self):
        old, live = superseded()
        survey = self.survey_on(old)
        assert noted() == set()  # no trigger on surveys yet

        [result] = sweep_references(superseded_only=True).results

        assert (result.old.pk, result.new.pk) == (old.pk, live.pk)
        assert Survey.objects.get(pk=survey.pk).session_id == live.pk

    @pytest.mark.usefixtures("surveys_move")
    def test_installed_again_they_note_the_new_table_too(self):
        old, live = superseded()

        assert sweep_marks.install() is True
        assert sweep_marks.install() is False  # once is enough
        # Every session the sweep hands on is noted by the install.
        assert noted() == {old.pk}
        forget_notes()
        survey = self.survey_on(old)

        assert noted() == {old.pk}
        [result] = sweep_references(superseded_only=True).results
        assert Survey.objects.get(pk=survey.pk).session_id == live.pk
        assert result.counts["surveys"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_row_attached_before_the_supersede_was_seen_waits_for_its_transaction():
    """Another connection attaches a workshop while the session is still live, and commits
    only after the move: it noted nothing, and the sweep keeps looking until it sees the row."""
    organization = factories.OrganizationFactory()
    live = factories.WhatsAppSessionFactory(organization=organization, phone_number=PHONE)
    old = factories.WhatsAppSessionFactory(
        organization=organization, phone_number=PHONE, status=Status.DISCONNECTED
    )
    workshop_id = uuid.uuid4()
    with second_connection() as other:
        other.execute(
            "INSERT INTO workshops (id, organization_id, title, starts_at, whatsapp_session_id,"
            " created_at, updated_at) VALUES (%s, %s, 'Saved meanwhile', now(), %s, now(), now())",
            [workshop_id, organization.pk, old.pk],
        )
        migrate_session(old, live, trigger="admin")
        for _ in range(2):
            assert sweep_references(superseded_only=True).results == []
            assert noted() == {old.pk}
        other.commit()

    [result] = sweep_references(superseded_only=True).results

    assert result.counts["workshops"] == 1
    assert Workshop.objects.get(pk=workshop_id).whatsapp_session_id == live.pk

""" "Needs attention": sessions down with rows left, messages waiting or failed, the dispatcher."""

import datetime as dt
import itertools
import re
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.heartbeats import dispatcher_heartbeat_record
from scheduling.models import DispatcherHeartbeat, ScheduledWhatsAppMessage
from scheduling.selectors_attention import message_outcomes_per_hour
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import session_reference_counts
from tests import factories
from tests.admin_scenarios import reconnected_phone, staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

ATTENTION = reverse("admin:scheduling_attention")
Status = ScheduledWhatsAppMessage.Status


def section(response, name: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<section id="attention-{name}".*?</section>', html, re.S)
    assert match, f"no {name} section"
    return match.group(0)


def message(status, *, session, updated=None, **kwargs):
    """A message of a workshop sent through `session`, its state last changed at `updated`."""
    workshop = factories.WorkshopFactory(
        organization=session.organization, whatsapp_session=session
    )
    row = factories.ScheduledWhatsAppMessageFactory(workshop=workshop, status=status, **kwargs)
    if updated is not None:
        ScheduledWhatsAppMessage.objects.filter(pk=row.pk).update(updated_at=updated)
    return row


def down_phone(organization):
    """A phone whose only session dropped, with two messages waiting for it since yesterday."""
    now = timezone.now()
    session = factories.WhatsAppSessionFactory(
        organization=organization,
        status=WhatsAppSession.Status.DISCONNECTED,
        disconnected_at=now - dt.timedelta(hours=5),
    )
    oldest = message(Status.PENDING, session=session, send_at=now - dt.timedelta(days=1))
    message(Status.PENDING, session=session, send_at=now - dt.timedelta(hours=1))
    return session, oldest


class TestContents:
    def test_each_kind_of_trouble_with_its_link(self, client):
        now = timezone.now()
        scene = reconnected_phone(factories.OrganizationFactory(name="Instituto Aurora"))
        down, oldest = down_phone(scene.organization)
        failed = message(
            Status.FAILED,
            session=scene.new,
            updated=now - dt.timedelta(hours=3),
            attempts=5,
            last_error="Gave up after 5 attempts: 500",
        )
        message(Status.FAILED, session=scene.new, updated=now - dt.timedelta(hours=30))
        client.force_login(staff_member(scene.organization))

        response = client.get(ATTENTION)

        assert response.status_code == HTTPStatus.OK
        held = section(response, "held")
        assert str(scene.old.pk)[:8] in held
        old_row = re.search(rf'data-session="{scene.old.pk}".*?</tr>', held, re.S).group(0)
        assert "<td>7</td>" in old_row  # what still points at the old session
        assert "2\xa0hours" in old_row  # how long it has been down
        assert response.context["held_count"] == 2  # the old session and the dropped phone
        # In all, the rows each of the two sessions' own panel counts.
        assert response.context["held_rows"] == sum(
            sum(session_reference_counts(session).values()) for session in (scene.old, down)
        )
        waiting = section(response, "waiting")
        assert str(down.pk)[:8] in waiting
        assert re.search(r'class="pending">2<', waiting)
        due = timezone.localtime(oldest.send_at)  # shown in the staff's zone, zone included
        assert f"{due:%Y-%m-%d %H:%M} {due.tzname()}" in waiting
        failed_section = section(response, "failed")
        assert "1 message failed" in failed_section
        assert "Gave up after 5 attempts" in failed_section
        assert response.context["failed_recent"] == [failed]

    def test_the_links_open_the_lists_that_fix_it(self, client):
        now = timezone.now()
        scene = reconnected_phone()
        down, _ = down_phone(scene.organization)
        failed = message(Status.FAILED, session=scene.new, updated=now - dt.timedelta(hours=1))
        message(Status.FAILED, session=scene.new, updated=now - dt.timedelta(days=2))
        client.force_login(staff_member(scene.organization))
        context = client.get(ATTENTION).context

        held = client.get(context["held_url"])
        assert {s.pk for s in held.context["cl"].result_list} == {scene.old.pk, down.pk}
        # The scene's old session is down too, and its workshop's pending message waits for it.
        waiting = client.get(context["waiting_url"])
        assert {s.pk for s in waiting.context["cl"].result_list} == {scene.old.pk, down.pk}
        failed_list = client.get(context["failed_url"])
        assert [m.pk for m in failed_list.context["cl"].result_list] == [failed.pk]

    def test_nothing_to_do(self, client):
        organization = factories.OrganizationFactory()
        factories.WhatsAppSessionFactory(organization=organization)
        dispatcher_heartbeat_record(worker="host:1:abc")
        client.force_login(staff_member(organization))
        response = client.get(ATTENTION)
        for name in ("held", "waiting", "failed"):
            assert "None" in section(response, name)
        assert "Running: 1 dispatcher made a pass" in section(response, "dispatcher")

    def test_a_message_waits_on_the_live_end_of_its_sessions_chain(self, client):
        """An event still on a superseded session sends through its successor: the message
        waits only while that one is down."""
        scene = reconnected_phone()
        WhatsAppSession.objects.filter(pk=scene.old.pk).update(superseded_by=scene.new)
        message(Status.PENDING, session=scene.old)
        client.force_login(staff_member(scene.organization))
        assert client.get(ATTENTION).context["waiting"] == []

        WhatsAppSession.objects.filter(pk=scene.new.pk).update(
            status=WhatsAppSession.Status.DISCONNECTED
        )
        [item] = client.get(ATTENTION).context["waiting"]
        assert item.session == scene.new
        assert item.pending == 2  # the scene's own pending message and this one


class TestDispatcher:
    def test_no_dispatcher_ever(self, client, admin_client):
        assert "No dispatcher has ever run" in section(admin_client.get(ATTENTION), "dispatcher")

    def test_no_dispatcher_has_run_for_minutes(self, admin_client):
        dispatcher_heartbeat_record(
            worker="host:1:abc", now=timezone.now() - dt.timedelta(minutes=42, seconds=10)
        )
        text = section(admin_client.get(ATTENTION), "dispatcher")
        assert "No dispatcher has run for 42 minutes" in text

    def test_a_pass_of_the_command_records_a_heartbeat(self):
        call_command("process_message_queue", verbosity=0)
        call_command("process_message_queue", verbosity=0)
        beats = list(DispatcherHeartbeat.objects.all())
        assert len(beats) == 2  # one per dispatcher process, each with its own id
        assert all(beat.passes == 1 for beat in beats)

    def test_the_heartbeat_is_one_statement_and_adds_up(self):
        dispatcher_heartbeat_record(worker="host:1:abc", sent=3, retried=1)
        with CaptureQueriesContext(connection) as queries:
            dispatcher_heartbeat_record(worker="host:1:abc", sent=2, failed=1)
        assert len(queries) == 1
        beat = DispatcherHeartbeat.objects.get()
        assert (beat.passes, beat.sent, beat.retried, beat.failed) == (2, 5, 1, 1)

    def test_dispatchers_gone_for_a_week_are_pruned(self):
        now = timezone.now()
        dispatcher_heartbeat_record(worker="gone:1:abc", now=now - dt.timedelta(days=8))
        dispatcher_heartbeat_record(worker="recent:1:abc", now=now - dt.timedelta(days=6))
        dispatcher_heartbeat_record(worker="host:2:def", now=now)
        assert set(DispatcherHeartbeat.objects.values_list("dispatcher_id", flat=True)) == {
            "recent:1:abc",
            "host:2:def",
        }

    def test_an_empty_id_is_refused_and_nothing_is_written(self):
        with pytest.raises(ValueError, match="dispatcher's id"):
            dispatcher_heartbeat_record(worker="")
        assert not DispatcherHeartbeat.objects.exists()


class TestChart:
    def test_outcomes_per_hour(self):
        now = timezone.now()
        session = factories.WhatsAppSessionFactory()
        two_hours_ago = now - dt.timedelta(hours=2)
        for _ in range(3):
            message(Status.SENT, session=session, sent_at=two_hours_ago)
        message(Status.PENDING, session=session, attempts=1, updated=two_hours_ago)
        message(Status.PENDING, session=session)  # never tried: not a retry
        message(Status.FAILED, session=session, updated=now)
        message(Status.SENT, session=session, sent_at=now - dt.timedelta(hours=49))  # too old

        tallies = message_outcomes_per_hour(organization_ids=None, now=now)

        assert len(tallies) == 48
        busy = {(t.sent, t.retried, t.failed) for t in tallies} - {(0, 0, 0)}
        assert busy == {(3, 1, 0), (0, 0, 1)}
        assert (tallies[-1].sent, tallies[-1].failed) == (0, 1)
        assert (tallies[-3].sent, tallies[-3].retried) == (3, 1)

        # Staff of some organizations count their messages only.
        other = factories.WhatsAppSessionFactory()
        message(Status.SENT, session=other, sent_at=two_hours_ago)
        message(Status.PENDING, session=other, attempts=2, updated=now)
        mine = message_outcomes_per_hour(organization_ids=[session.organization_id], now=now)
        assert mine == tallies
        theirs = message_outcomes_per_hour(organization_ids=[other.organization_id], now=now)
        busy = {(t.sent, t.retried, t.failed) for t in theirs} - {(0, 0, 0)}
        assert busy == {(1, 0, 0), (0, 1, 0)}
        assert [t.hour for t in theirs] == [t.hour for t in tallies]

    def test_drawn_as_svg_readable_without_colour(self, admin_client):
        session = factories.WhatsAppSessionFactory()
        message(Status.SENT, session=session, sent_at=timezone.now())
        message(Status.FAILED, session=session)
        chart = section(admin_client.get(ATTENTION), "chart")
        assert "<svg" in chart
        assert "<script" not in chart
        # One pattern per series, and the numbers in words on each bar and in a table.
        assert 'fill="url(#pattern-sent)"' in chart
        assert 'fill="url(#pattern-failed)"' in chart
        assert "<title>Sent: 1</title>" in chart
        assert "<title>Failed: 1</title>" in chart
        assert "<td>1</td><td>0</td><td>1</td>" in chart


class TestTenancy:
    def test_staff_see_only_their_own_organizations(self, client):
        aurora = reconnected_phone(factories.OrganizationFactory(name="Aurora"))
        down_phone(aurora.organization)
        message(Status.FAILED, session=aurora.new)
        message(Status.SENT, session=aurora.new, sent_at=timezone.now())
        horizonte = factories.OrganizationFactory(name="Horizonte")
        factories.WhatsAppSessionFactory(organization=horizonte)
        client.force_login(staff_member(horizonte))

        response = client.get(ATTENTION)

        assert response.status_code == HTTPStatus.OK
        assert response.context["held"] == []
        assert response.context["waiting"] == []
        assert response.context["failed_count"] == 0
        assert response.context["chart"].totals == {"sent": 0, "retried": 0, "failed": 0}
        assert str(aurora.old.pk)[:8] not in response.content.decode()

    def test_staff_count_their_failed_messages_past_the_list(self, client, admin_client):
        now = timezone.now()
        mine = factories.WhatsAppSessionFactory()
        theirs = factories.WhatsAppSessionFactory()
        failed = [
            message(Status.FAILED, session=mine, updated=now - dt.timedelta(minutes=n + 1))
            for n in range(22)
        ]
        message(Status.FAILED, session=mine, updated=now - dt.timedelta(hours=30))  # too old
        for n in range(3):
            message(Status.FAILED, session=theirs, updated=now - dt.timedelta(seconds=n))
        client.force_login(staff_member(mine.organization))

        context = client.get(ATTENTION).context

        assert context["failed_count"] == 22
        assert context["failed_recent"] == failed[:20]
        everyone = admin_client.get(ATTENTION).context
        assert everyone["failed_count"] == 25
        assert everyone["failed_recent"][3:] == failed[:17]

    def test_staff_who_cannot_view_messages_are_refused(self, client):
        organization = factories.OrganizationFactory()
        user = staff_member(organization)
        user.user_permissions.remove(
            Permission.objects.get(codename="view_scheduledwhatsappmessage")
        )
        client.force_login(user)
        assert client.get(ATTENTION).status_code == HTTPStatus.FORBIDDEN
        index = client.get(reverse("admin:index")).content.decode()
        assert ATTENTION not in index

    def test_linked_from_the_admin_index(self, client):
        organization = factories.OrganizationFactory()
        client.force_login(staff_member(organization))
        assert f'href="{ATTENTION}"' in client.get(reverse("admin:index")).content.decode()


class TestQueries:
    def queries_for(self, client, phones: int) -> int:
        organization = factories.OrganizationFactory()
        for _ in range(phones):
            scene = reconnected_phone(organization, phone_number=f"+551198888{phones:02d}{_:02d}")
            down_phone(organization)
            message(Status.FAILED, session=scene.new)
            message(Status.SENT, session=scene.new, sent_at=timezone.now())
        dispatcher_heartbeat_record(worker="host:1:abc")
        client.force_login(staff_member(organization))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(ATTENTION)
        assert response.context["held_count"] == 2 * phones
        assert len(response.context["waiting"]) == 2 * phones
        return len(queries)

    def test_the_query_count_does_not_grow_with_the_rows(self, client):
        one = self.queries_for(client, 1)
        five = self.queries_for(client, 5)
        assert one == five
        # Session, user, two for permissions, the user's organizations; the sessions holding
        # rows with how many, the listed ones; the sessions sending through a down one, their
        # events, the events' waiting messages, those sessions; failed messages; the heartbeat;
        # the chart.
        assert five <= 14

    def chains_for(self, client, phones: int) -> int:
        """Phones that reconnected twice and dropped again, with a row left on the first
        session: it is superseded and still holds it, and the message of that row's event waits
        for the last session, at the end of the chain."""
        organization = factories.OrganizationFactory()
        ends = []
        for n in range(phones):
            chain = [
                factories.WhatsAppSessionFactory(
                    organization=organization,
                    phone_number=f"+551197777{phones:02d}{n:02d}",
                    status=WhatsAppSession.Status.DISCONNECTED,
                )
                for _ in range(3)
            ]
            for old, new in itertools.pairwise(chain):
                WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=new)
            message(Status.PENDING, session=chain[0])
            ends.append(chain[-1])
        client.force_login(staff_member(organization))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(ATTENTION)
        assert response.context["held_count"] == phones  # the first sessions
        assert {item.session for item in response.context["waiting"]} == set(ends)
        return len(queries)

    def test_superseded_sessions_and_chains_cost_no_more_queries(self, client):
        assert self.chains_for(client, 1) == self.chains_for(client, 4)

"""Property: whatever order a gateway's reconnects come in, every reference ends on the live
end of its session's chain, and nothing that should follow a reconnect stays on a superseded
session; what the automatic path never saw, the sweep finishes.

The stories (`tests/reconnect_stories.py`) are what gateways and staff do: sessions paired
without a phone, phones named by signed webhooks and by `apply_status_report`, late STOPPED
reports, groups re-synced from the gateway, rows attached before and after each move. Each test
counts what its examples reached and fails when too few reached the case it is about.
"""

from collections import Counter

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings, target

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.migration import live_successor, sweep_references
from tests.reconnect_stories import LINES, Reach, Story, stories

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("postgres_only")]

Status = WhatsAppSession.Status
EXAMPLES = 50
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def chain(session_id, sessions: dict) -> list:
    """`session_id` and the sessions its `superseded_by` leads to, in order."""
    found = [session_id]
    while (following := sessions[found[-1]].superseded_by_id) is not None:
        assert following not in found, f"a supersede cycle: {found}"
        found.append(following)
    return found


def where_rows_may_be(origin, sessions: dict, *, after_sweep: bool) -> set:
    """Where a movable row attached to `origin` may be now: the live end of its chain. After
    the sweep, a row attached behind the product's back waits on its chain while the end is not
    connected (its phone has not reconnected yet)."""
    path = chain(origin, sessions)
    if after_sweep and sessions[path[-1]].status != Status.CONNECTED:
        return set(path)
    return {path[-1]}


def assert_the_world_holds(story: Story, *, after_sweep: bool = False) -> None:
    sessions = {s.pk: s for s in WhatsAppSession.objects.all()}

    # Supersession: only a disconnected session, by one of its organization and phone.
    for session in sessions.values():
        if session.superseded_by_id is not None:
            successor = sessions[session.superseded_by_id]
            assert session.status == Status.DISCONNECTED, session
            assert session.phone_number and session.phone_number == successor.phone_number
            assert session.organization_id == successor.organization_id
            chain(session.pk, sessions)
    # A session's phone comes from a report naming its own phone, never another one.
    for (line, _), session_id in story.sessions.items():
        assert sessions[session_id].phone_number in (None, LINES[line][1]), sessions[session_id]
    # A connected live session has adopted every disconnected session of its phone.
    for live in sessions.values():
        if live.status == Status.CONNECTED and live.superseded_by_id is None and live.phone_number:
            waiting = [
                s.pk
                for s in sessions.values()
                if (s.organization_id, s.phone_number) == (live.organization_id, live.phone_number)
                and s.status == Status.DISCONNECTED
                and s.superseded_by_id is None
            ]
            assert waiting == [], f"{live} left {waiting} unadopted"
    # Groups: one active group per group_jid on a chain, on its live end.
    assert not WhatsAppGroup.objects.filter(session__superseded_by__isnull=False, is_active=True)

    # Every row attached is still there, and nothing else was made.
    for model in (Workshop, Webinar, NotificationCampaign, ScheduledWhatsAppMessage):
        attached = {row.pk for row in story.rows if row.model is model}
        assert set(model.objects.values_list("pk", flat=True)) == attached, model

    events = dict(Workshop.objects.values_list("pk", "whatsapp_session_id"))
    events.update(Webinar.objects.values_list("pk", "whatsapp_session_id"))
    campaigns = {c.pk: c.session_id for c in NotificationCampaign.objects.all()}
    messages = {
        m.pk: (m.group_id, m.group.session_id, m.group.group_jid)
        for m in ScheduledWhatsAppMessage.objects.select_related("group")
    }
    for row in story.rows:
        may_be = where_rows_may_be(row.session, sessions, after_sweep=after_sweep)
        if row.model in (Workshop, Webinar):
            assert events[row.pk] in may_be, (row, may_be)
        elif row.model is NotificationCampaign:
            if row.status in NotificationCampaign.ACTIVE_STATUSES:
                assert campaigns[row.pk] in may_be, (row, may_be)
            else:
                assert campaigns[row.pk] == row.session, row  # finished: history stays
        else:
            group, session_id, group_jid = messages[row.pk]
            assert group_jid == row.group_jid, row  # a message never changes group_jid
            if row.status == ScheduledWhatsAppMessage.Status.PENDING:
                assert session_id in may_be, (row, may_be)
            else:
                assert group == row.group, row  # sent, failed, cancelled, sending stay
    communities = dict(Organization.objects.values_list("pk", "community_session_id"))
    for organization_id, origin in story.communities.items():
        may_be = where_rows_may_be(origin, sessions, after_sweep=after_sweep)
        assert communities[organization_id] in may_be, (organization_id, may_be)


def reach_of(story: Story) -> Counter:
    """What this example reached, once per kind."""
    reached = Counter({kind: 1 for kind, n in story.seen.items() if n})
    superseded = WhatsAppSession.objects.filter(superseded_by__isnull=False).count()
    repointed = sum(m.counts.get("scheduled_messages", 0) for m in SessionMigration.objects.all())
    reached["a session was superseded"] = int(superseded > 0)
    reached["a merge re-pointed pending messages"] = int(repointed > 0)
    target(float(repointed), label="pending messages re-pointed by merges")
    return reached


def test_every_reference_ends_on_the_live_end_of_its_chain(client, story_gateway):
    reach = Reach()

    @PROPERTY_SETTINGS
    @given(stories())
    def check(plan):
        steps, later = plan
        with transaction.atomic():  # each example rolled back at its end
            story = Story(client)
            story.run(steps + later)

            assert_the_world_holds(story)

            reach.record(reach_of(story))
            transaction.set_rollback(True)

    check()
    reach.assert_reached(
        most=["a session was superseded", "a merge re-pointed pending messages"],
        some=[
            "superseded by a connect",
            "superseded by a late disconnect",
            "superseded through webhook",
            "superseded through apply_status_report",
            "attached to a superseded session",
            "report answered superseded",
        ],
    )


def test_the_sweep_finishes_what_the_automatic_path_never_saw(client, story_gateway):
    """Rows attached to a superseded session behind the product's back, and connects written
    without a signal, are finished by the sweep; what stays behind waits for its phone."""
    reach = Reach()

    @PROPERTY_SETTINGS
    @given(stories(bypass=True))
    def check(plan):
        steps, later = plan
        with transaction.atomic():
            story = Story(client)
            outcome = Counter()
            # The sweep runs now and then: before and after the phones that dropped pair again.
            for part in (steps, later):
                story.run(part)

                report = sweep_references()

                assert report.failures == []
                assert_the_world_holds(story, after_sweep=True)
                assert sweep_references().results == []
                if any(result.moved_anything for result in report.results):
                    outcome["the sweep finished something"] = 1
                if any(
                    live_successor(session) is None and holds_rows(session)
                    for session in WhatsAppSession.objects.exclude(superseded_by=None)
                ):
                    outcome["rows wait on a superseded session for their phone"] = 1

            reach.record(outcome + reach_of(story))
            transaction.set_rollback(True)

    check()
    reach.assert_reached(
        most=["the sweep finished something"],
        some=[
            "rows wait on a superseded session for their phone",
            "attached raw to a superseded session",
        ],
    )


def holds_rows(session: WhatsAppSession) -> bool:
    return (
        Workshop.objects.filter(whatsapp_session=session).exists()
        or Webinar.objects.filter(whatsapp_session=session).exists()
        or NotificationCampaign.objects.filter(
            session=session, status__in=NotificationCampaign.ACTIVE_STATUSES
        ).exists()
        or ScheduledWhatsAppMessage.objects.filter(
            group__session=session, status=ScheduledWhatsAppMessage.Status.PENDING
        ).exists()
    )

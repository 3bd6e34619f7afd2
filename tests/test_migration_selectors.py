"""What still points at a session: the counts staff see before and after a move."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.models import Organization, WhatsAppGroup, WhatsAppSession
from sessions_app.selectors import (
    holding_references,
    live_sessions_of,
    reference_counts_by_session,
    session_reference_counts,
    with_reference_counts,
)
from sessions_app.services.migration import migrate_session
from sessions_app.services.supersession import MAX_CHAIN
from tests.factories import WhatsAppSessionFactory
from tests.migration_helpers import give_references, new_then_old

pytestmark = pytest.mark.django_db


def test_the_counts_of_a_session_per_part():
    old, new = new_then_old()
    held = give_references(old, count=3)
    WhatsAppGroup.objects.filter(pk=held.groups[0].pk).update(is_active=False)
    Organization.objects.filter(pk=old.organization_id).update(community_session=old)

    counts = session_reference_counts(old)

    assert counts == {
        "workshops": 3,
        "webinars": 3,
        "campaigns": len(held.active_campaigns),
        "organizations": 1,
        "groups": 2,  # active ones only
        "scheduled_messages": len(held.pending_messages),
    }
    assert set(session_reference_counts(new).values()) == {0}


def test_a_list_of_sessions_is_annotated_in_one_query(django_assert_num_queries):
    sessions = []
    for phone in ("+5511911112222", "+5511933334444", "+5511955556666"):
        old, new = new_then_old(phone=phone)
        give_references(old, count=2)
        sessions += [old, new]

    with django_assert_num_queries(1):
        annotated = {
            s.pk: s.reference_count
            for s in with_reference_counts(
                WhatsAppSession.objects.filter(pk__in=[s.pk for s in sessions])
            )
        }

    assert annotated == {s.pk: sum(session_reference_counts(s).values()) for s in sessions}
    assert all(annotated[s.pk] > 0 for s in sessions if s.status == "disconnected")


def test_after_a_move_nothing_points_at_the_old_session():
    old, new = new_then_old()
    give_references(old)
    before = sum(session_reference_counts(old).values())

    migrate_session(old, new, trigger="command")

    [annotated_old] = with_reference_counts(WhatsAppSession.objects.filter(pk=old.pk))
    assert annotated_old.reference_count == 0
    assert sum(session_reference_counts(new).values()) == before


@pytest.mark.parametrize(
    "part", ["workshops", "webinars", "campaigns", "organizations", "groups", "pending_messages"]
)
def test_sessions_holding_references_are_found_by_any_one_part(part):
    old, new = new_then_old()
    held = give_references(old, count=1)
    # Keep exactly one part pointing at the old session; move or finish the rest.
    keep = {
        "workshops": held.workshops,
        "webinars": held.webinars,
        "campaigns": held.active_campaigns,
        "groups": held.groups,
        "pending_messages": held.pending_messages,
    }
    for name, rows in keep.items():
        if name == part:
            continue
        if name == "groups" and part == "pending_messages":
            WhatsAppGroup.objects.filter(pk__in=[g.pk for g in rows]).update(is_active=False)
        elif name == "groups":
            WhatsAppGroup.objects.filter(pk__in=[g.pk for g in rows]).update(session=new)
        elif name == "pending_messages":
            ScheduledWhatsAppMessage.objects.filter(pk__in=[m.pk for m in rows]).update(
                status="cancelled"
            )
        else:
            model = type(rows[0])
            field = "session" if model is NotificationCampaign else "whatsapp_session"
            model.objects.filter(pk__in=[r.pk for r in rows]).update(**{field: new})
    if part == "organizations":
        Organization.objects.filter(pk=old.organization_id).update(community_session=old)
    bystander, _ = new_then_old(phone="+5511944443333")

    found = set(
        holding_references(WhatsAppSession.objects.exclude(status="connected")).values_list(
            "pk", flat=True
        )
    )

    assert found == {old.pk}
    assert bystander.pk not in found


def test_counts_for_a_page_of_sessions_cost_one_query(django_assert_num_queries):
    old, new = new_then_old()
    give_references(old, count=2)

    with django_assert_num_queries(1):
        counts = reference_counts_by_session([old.pk, new.pk])

    assert counts == {old.pk: sum(session_reference_counts(old).values()), new.pk: 0}
    assert reference_counts_by_session([]) == {}


def test_the_live_end_of_each_chain_in_one_query():
    first = WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)
    second = WhatsAppSessionFactory(
        organization=first.organization, status=WhatsAppSession.Status.DISCONNECTED
    )
    live = WhatsAppSessionFactory(organization=first.organization)
    alone = WhatsAppSessionFactory()
    WhatsAppSession.objects.filter(pk=first.pk).update(superseded_by=second)
    WhatsAppSession.objects.filter(pk=second.pk).update(superseded_by=live)

    with CaptureQueriesContext(connection) as queries:
        ends = live_sessions_of([first.pk, alone.pk, None])

    assert ends == {first.pk: live, alone.pk: alone}
    assert len(queries) == 1  # however many links the chains have
    both = live_sessions_of([first.pk, second.pk])
    assert both[first.pk] is both[second.pk]
    assert live_sessions_of([second.pk, live.pk]) == {second.pk: live, live.pk: live}
    assert live_sessions_of([]) == {}


def test_a_chain_longer_than_the_limit_stops_there():
    chain = [WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)]
    for _ in range(MAX_CHAIN + 2):
        chain.append(WhatsAppSessionFactory(organization=chain[0].organization))
        WhatsAppSession.objects.filter(pk=chain[-2].pk).update(superseded_by=chain[-1])

    assert live_sessions_of([chain[0].pk]) == {chain[0].pk: chain[MAX_CHAIN]}
    assert live_sessions_of([chain[2].pk]) == {chain[2].pk: chain[-1]}

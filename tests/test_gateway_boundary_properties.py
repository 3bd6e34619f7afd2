"""Signed webhooks shuffled, repeated and delayed end as the in-order sequence does (PostgreSQL).

A world: one organization, one or two phones; each phone has a chain of gateway sessions, each
paired without a phone. The first learnt its phone from a WORKING report long ago and holds
references; the gateway lists the phone's groups, which the product syncs after each connect.
Each later session reports STARTING / SCAN_QR_CODE / WORKING, and every session but the last of
its chain then STOPPED. The gateway delivers those reports in any order, some twice: a STOPPED
delivered after the next session's WORKING makes the groups merge.
"""

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.models import ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.gateway import locmem
from sessions_app.models import SessionMigration, WhatsAppGroup, WhatsAppSession
from tests import factories
from tests.reconnect_stories import Reach, gateway_lists, post_waha_status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
STATES = {"STARTING": "connecting", "SCAN_QR_CODE": "connecting", "WORKING": "connected"}
STATES["STOPPED"] = "disconnected"
GROUPS = {
    "+5511987654321": ["120363000000000001@g.us", "120363000000000002@g.us"],
    "+5511912345678": ["120363000000000002@g.us", "120363000000000003@g.us"],
}
EXAMPLES = 40


@dataclass(frozen=True)
class Report:
    name: str
    status: str
    phone: str
    at: dt.datetime
    id: str

    def post(self, client) -> str:
        me = {"id": f"{self.phone.lstrip('+')}@c.us"} if self.status == "WORKING" else None
        # The group sync after a connect runs on commit: run it, as the commit would.
        with TestCase.captureOnCommitCallbacks(execute=True):
            answer = post_waha_status(
                client, name=self.name, status=self.status, at=self.at, me=me, event_id=self.id
            )
        return answer["status"]


@st.composite
def worlds(draw):
    phones = ["+5511987654321", "+5511912345678"][: draw(st.integers(1, 2))]
    chains = {
        phone: [f"{phone[-4:]}-{i}" for i in range(draw(st.integers(2, 3)))] for phone in phones
    }
    per_phone = {}
    for phone, names in chains.items():
        reports = []
        for index, name in enumerate(names):
            statuses = [s for s in ("STARTING", "SCAN_QR_CODE") if draw(st.booleans())]
            statuses.append("WORKING")
            if index < len(names) - 1:
                statuses.append("STOPPED")
            reports += [(name, status) for status in statuses]
        per_phone[phone] = reports
    # Interleave the phones' reports into one timeline, each phone's in its own order.
    order = draw(st.permutations([p for p in phones for _ in per_phone[p]]))
    cursors, timeline = Counter(), []
    for second, phone in enumerate(order):
        name, status = per_phone[phone][cursors[phone]]
        cursors[phone] += 1
        at = T0 + dt.timedelta(seconds=second)
        timeline.append(Report(name, status, phone, at, f"evt_{uuid.uuid4().hex}"))
    delivered = draw(st.permutations(timeline))
    repeats = draw(st.lists(st.sampled_from(timeline), min_size=1, max_size=len(timeline) // 2))
    for report in repeats:
        delivered.insert(draw(st.integers(0, len(delivered))), report)
    return chains, timeline, delivered


def build(client, chains):
    """Each phone's sessions, paired without a phone; the first connected long ago (its phone
    from a report) and holding a workshop, a webinar and a reminder in one of its groups."""
    locmem.reset()
    organization = factories.OrganizationFactory()
    references = {}
    for phone, names in chains.items():
        for name in names:
            WhatsAppSession.objects.create(
                organization=organization, session_data={"session_name": name}
            )
            gateway_lists(name, GROUPS[phone])
        long_ago = T0 - dt.timedelta(days=1)
        assert Report(names[0], "WORKING", phone, long_ago, uuid.uuid4().hex).post(client) == "ok"
        first = WhatsAppSession.objects.get(session_data__session_name=names[0])
        workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=first)
        webinar = factories.WebinarFactory(organization=organization, whatsapp_session=first)
        group = WhatsAppGroup.objects.filter(session=first).order_by("group_jid").last()
        factories.ScheduledWhatsAppMessageFactory(workshop=workshop, group=group)
        references[phone] = (workshop.pk, webinar.pk)
    return references


def observe(references):
    """Each session's status by gateway name, where each phone's rows are by name (and, for
    its reminder, by group_jid), its active groups, and each session's phone.

    (A session paired in between may end without a phone: when its STOPPED arrives first, its
    older WORKING, the only report naming the phone, changes nothing.)"""
    names = {s.pk: s.session_data["session_name"] for s in WhatsAppSession.objects.all()}
    sessions = {names[s.pk]: s.status for s in WhatsAppSession.objects.all()}
    phones = {names[s.pk]: s.phone_number for s in WhatsAppSession.objects.all()}
    active_groups = sorted(
        (names[session_id], jid)
        for session_id, jid in WhatsAppGroup.objects.filter(is_active=True).values_list(
            "session_id", "group_jid"
        )
    )
    rows = {
        phone: (
            names[Workshop.objects.get(pk=workshop).whatsapp_session_id],
            names[Webinar.objects.get(pk=webinar).whatsapp_session_id],
            sorted(
                (names[m.group.session_id], m.group.group_jid)
                for m in ScheduledWhatsAppMessage.objects.filter(workshop_id=workshop)
            ),
        )
        for phone, (workshop, webinar) in references.items()
    }
    return sessions, rows, active_groups, phones


def deliver(client, chains, reports, answers: Counter):
    with transaction.atomic():
        references = build(client, chains)
        for report in reports:
            answers[report.post(client)] += 1
        merges = SessionMigration.objects.filter(counts__scheduled_messages__gt=0)
        answers["merged"] += merges.count()
        seen = observe(references)
        transaction.set_rollback(True)
    return seen


def test_out_of_order_and_repeated_reports_end_as_the_in_order_sequence(client, story_gateway):
    reach = Reach()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(worlds())
    def check(world):
        chains, timeline, delivered = world
        in_order = deliver(client, chains, timeline, Counter())
        answers = Counter()
        shuffled = deliver(client, chains, delivered, answers)

        assert shuffled[:3] == in_order[:3]
        sessions, rows, active_groups, phones = shuffled
        newest = {r.name: STATES[r.status] for r in sorted(timeline, key=lambda r: r.at)}
        assert sessions == newest
        expected_groups = []
        for phone, names in chains.items():
            first, last = names[0], names[-1]
            assert (sessions[last], phones[last], phones[first]) == ("connected", phone, phone)
            reminder = (last, GROUPS[phone][-1])
            assert rows[phone] == (last, last, [reminder])
            expected_groups += [(last, jid) for jid in GROUPS[phone]]
        # One active group per group_jid, on each chain's live end.
        assert active_groups == sorted(expected_groups)
        reach.record({kind: answers[kind] for kind in ("stale", "duplicate", "merged")})

    check()
    # The shuffles must have reached what the test is about, not merely run.
    reach.assert_reached(most=["stale", "duplicate", "merged"])

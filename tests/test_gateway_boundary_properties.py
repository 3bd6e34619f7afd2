"""Signed webhooks shuffled, repeated and delayed end as the in-order sequence does (PostgreSQL).

A world: one organization, one or two phones; each phone has a chain of gateway sessions, the
first long connected and holding references, the next ones paired later (no phone yet). Each
session reports STARTING / SCAN_QR_CODE / WORKING, and every session but the last of its chain
then STOPPED. The gateway delivers those reports in any order, some twice.
"""

import datetime as dt
import json
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scheduling.models import ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import WhatsAppGroup, WhatsAppSession
from sessions_app.services.gateway_status import webhook_signature
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

SECRET = "test-webhook-secret"
T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
STATES = {"STARTING": "connecting", "SCAN_QR_CODE": "connecting", "WORKING": "connected"}
STATES["STOPPED"] = "disconnected"
EXAMPLES = 30


@dataclass(frozen=True)
class Report:
    name: str
    status: str
    phone: str
    at: dt.datetime
    event_id: str

    def body(self) -> bytes:
        me = {"id": f"{self.phone.lstrip('+')}@c.us"} if self.status == "WORKING" else None
        return json.dumps(
            {
                "id": self.event_id,
                "timestamp": int(self.at.timestamp() * 1000),
                "event": "session.status",
                "session": self.name,
                "me": me,
                "payload": {"status": self.status},
            }
        ).encode()


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
    repeats = draw(st.lists(st.sampled_from(timeline), max_size=len(timeline) // 2))
    for report in repeats:
        delivered.insert(draw(st.integers(0, len(delivered))), report)
    return chains, timeline, delivered


def build(chains):
    organization = factories.OrganizationFactory()
    references = {}
    for phone, names in chains.items():
        first = factories.WhatsAppSessionFactory(
            organization=organization,
            phone_number=phone,
            status="connected",
            session_data={"session_name": names[0]},
        )
        for name in names[1:]:
            factories.WhatsAppSessionFactory(
                organization=organization,
                phone_number=None,
                status="connecting",
                connected_at=None,
                session_data={"session_name": name},
            )
        workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=first)
        webinar = factories.WebinarFactory(organization=organization, whatsapp_session=first)
        group = factories.WhatsAppGroupFactory(session=first)
        factories.ScheduledWhatsAppMessageFactory(workshop=workshop, group=group)
        references[phone] = (workshop.pk, webinar.pk, group.pk)
    return references


def observe(references):
    """Each session's status by gateway name, and which name each phone's rows use.

    (A session paired in between may end without a phone: when its STOPPED arrives first, its
    older WORKING, the only report naming the phone, changes nothing.)"""
    names = {s.pk: s.session_data["session_name"] for s in WhatsAppSession.objects.all()}
    sessions = {names[s.pk]: s.status for s in WhatsAppSession.objects.all()}
    phones = {names[s.pk]: s.phone_number for s in WhatsAppSession.objects.all()}
    rows = {
        phone: (
            names[Workshop.objects.get(pk=workshop).whatsapp_session_id],
            names[Webinar.objects.get(pk=webinar).whatsapp_session_id],
            names[WhatsAppGroup.objects.get(pk=group).session_id],
            sorted(
                names[m.group.session_id]
                for m in ScheduledWhatsAppMessage.objects.filter(workshop_id=workshop)
            ),
        )
        for phone, (workshop, webinar, group) in references.items()
    }
    return sessions, rows, phones


def deliver(client, chains, reports, answers: Counter):
    with transaction.atomic():
        references = build(chains)
        for report in reports:
            body = report.body()
            response = client.post(
                "/webhooks/whatsapp/",
                data=body,
                content_type="application/json",
                HTTP_X_WEBHOOK_HMAC=webhook_signature(body, secret=SECRET),
            )
            assert response.status_code == 200, response.content
            answers[response.json()["status"]] += 1
        seen = observe(references)
        transaction.set_rollback(True)
    return seen


def test_out_of_order_and_repeated_reports_end_as_the_in_order_sequence(client):
    reached = Counter()

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

        assert shuffled[:2] == in_order[:2]
        sessions, rows, phones = shuffled
        newest = {r.name: STATES[r.status] for r in sorted(timeline, key=lambda r: r.at)}
        assert sessions == newest
        for phone, names in chains.items():
            first, last = names[0], names[-1]
            assert (sessions[last], phones[last], phones[first]) == ("connected", phone, phone)
            assert rows[phone] == (last, last, last, [last])
        for kind in ("stale", "duplicate"):
            if answers[kind]:
                reached[kind] += 1
                event(f"reached: {kind} reports")

    check()
    # The shuffles must have reached what the test is about, not merely run.
    assert reached["stale"] >= EXAMPLES // 3, reached
    assert reached["duplicate"] >= EXAMPLES // 3, reached

"""The phone's timeline and "Needs attention" in a real browser, as staff reach them."""

import datetime as dt
import random
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scheduling.heartbeats import dispatcher_heartbeat_record
from scheduling.models import ScheduledWhatsAppMessage
from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.services.migration import migrate_session
from tests import factories
from tests.admin_scenarios import PASSWORD, reconnected_phone, staff_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]

SESSIONS = "/admin/sessions_app/whatsappsession/"
Status = ScheduledWhatsAppMessage.Status
# The pages under test, served as a deployment with a strict policy would serve them.
OWN_PAGES = re.compile(
    r".*/admin/(sessions_app/whatsappsession/timeline|scheduling/[a-z]+/attention)/"
)
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'"


@pytest.fixture
def policed(page):
    """`page`, with the timeline and Needs attention under a strict CSP; returns the violations."""

    def with_policy(route):
        response = route.fetch()
        route.fulfill(
            response=response, headers={**response.headers, "content-security-policy": CSP}
        )

    page.context.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.violations.push(e.violatedDirective));"
    )
    page.route(OWN_PAGES, with_policy)
    return lambda: page.evaluate("window.violations")


@pytest.fixture
def scene():
    """Aurora's phone paired three times: the first move is done, the second is not."""
    scene = reconnected_phone(
        factories.OrganizationFactory(name="Instituto Aurora"), phone_number="+5511987654321"
    )
    first = factories.WhatsAppSessionFactory(
        organization=scene.organization,
        phone_number=scene.old.phone_number,
        status=WhatsAppSession.Status.DISCONNECTED,
        connected_at=scene.old.connected_at - dt.timedelta(days=60),
        disconnected_at=scene.old.connected_at - dt.timedelta(minutes=3),
        session_data={"session_name": "instituto-aurora-4321-first"},
    )
    WhatsAppSession.objects.filter(pk=first.pk).update(created_at=first.connected_at)
    factories.WorkshopFactory(
        organization=scene.organization, whatsapp_session=first, title="Orientation"
    )
    # The old session was connected then: the first move went through.
    WhatsAppSession.objects.filter(pk=scene.old.pk).update(status=WhatsAppSession.Status.CONNECTED)
    scene.old.refresh_from_db()
    moved = migrate_session(first, scene.old, trigger=SessionMigration.Trigger.AUTOMATIC)
    SessionMigration.objects.filter(pk=moved.migration.pk).update(created_at=scene.old.connected_at)
    WhatsAppSession.objects.filter(pk=scene.old.pk).update(
        status=WhatsAppSession.Status.DISCONNECTED
    )
    scene.first = first
    return scene


def test_a_phones_timeline_from_the_sessions_list(page, log_in, screenshot, scene, policed):
    staff_member(scene.organization, username="marina.souza")
    log_in("marina.souza", PASSWORD)

    page.goto(SESSIONS)
    page.locator("#result_list tbody tr").filter(
        has=page.locator(f"input[value='{scene.old.pk}']")
    ).get_by_role("link", name="+5511987654321").click()

    expect(page.locator("h1")).to_have_text("Timeline of +5511987654321")
    rows = page.locator("#timeline tbody tr")
    expect(rows).to_have_count(4)  # three sessions and the move between the first two
    expect(rows.nth(0)).to_contain_text("instituto-aurora-4321-first")
    expect(rows.nth(1)).to_contain_text("Automatic move")
    expect(rows.nth(1)).to_contain_text("Workshops: 1")
    expect(rows.nth(2)).to_contain_text("instituto-aurora-4321-old")
    expect(rows.nth(2).locator("td.references-left")).to_have_text("8")
    expect(rows.nth(3)).to_contain_text("Connected")
    expect(page.locator("#timeline-left")).to_contain_text("still has 8 rows")
    screenshot(page, "staff-tools-phone-timeline")
    assert policed() == []

    rows.nth(1).get_by_role("link", name="Automatic move").click()
    expect(page.locator("#moved-rows")).to_contain_text("Orientation")

    page.go_back()
    rows.nth(2).get_by_role("link").first.click()
    page.get_by_role("link", name="Timeline of this phone").click()
    expect(page.locator("h1")).to_have_text("Timeline of +5511987654321")


def test_needs_attention_from_the_admin_index(page, log_in, screenshot, scene, policed):
    now = timezone.now()
    rng = random.Random(13)
    # Two days of traffic through the new session, with a rough afternoon.
    messages = []
    for hours_ago in range(47, -1, -1):
        at = now - dt.timedelta(hours=hours_ago)
        for _ in range(rng.randint(1, 5)):
            messages.append((Status.SENT, {"sent_at": at}, at))
        if hours_ago in (20, 21, 22):
            messages.append((Status.PENDING, {"attempts": 1}, at))
            error = "Gave up after 5 attempts: the gateway answered 500."
            messages.append((Status.FAILED, {"attempts": 5, "last_error": error}, at))
    workshop = factories.WorkshopFactory(
        organization=scene.organization, whatsapp_session=scene.new
    )
    group = factories.WhatsAppGroupFactory(session=scene.new, name="Parents · Class 3B")
    for status, fields, at in messages:
        row = factories.ScheduledWhatsAppMessageFactory(
            workshop=workshop, group=group, status=status, send_at=at, **fields
        )
        ScheduledWhatsAppMessage.objects.filter(pk=row.pk).update(updated_at=at)
    dispatcher_heartbeat_record(worker="dispatch-1:812:9f3a", now=now - dt.timedelta(minutes=17))
    staff_member(scene.organization, username="marina.souza")
    log_in("marina.souza", PASSWORD)

    page.goto("/admin/")
    page.get_by_role("link", name="Needs attention").click()

    expect(page.locator("h1")).to_have_text("Needs attention")
    expect(page.locator("#attention-dispatcher")).to_contain_text(
        "No dispatcher has run for 17 minutes"
    )
    held = page.locator("#attention-held")
    expect(held.locator(f"tr[data-session='{scene.old.pk}'] td").last).to_have_text("8")
    expect(page.locator("#attention-waiting")).to_contain_text("1 pending message waits")
    expect(page.locator("#attention-failed")).to_contain_text("3 messages failed")
    chart = page.locator("#outcome-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.pattern-failed")).to_have_count(3)
    screenshot(page, "staff-tools-needs-attention")
    assert policed() == []

    page.locator("#failed-list-link").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    page.go_back()
    page.locator("#held-list-link").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

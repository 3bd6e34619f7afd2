"""The lists and the move page fit a 1280 x 800 screen with the admin's navigation sidebar open.

Each test measures, in Chromium, that the columns staff need are inside the viewport and inside
the visible part of their table's box (a list scrolls sideways inside that box), and that the
page itself never scrolls sideways.
"""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

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

WIDTH, HEIGHT = 1280, 800
SESSIONS = "/admin/sessions_app/whatsappsession/"
Status = ScheduledWhatsAppMessage.Status

# Where a cell or button ends, and where the part of its box that shows ends: the nearest
# ancestor that clips it (a list's `.results`), else the viewport.
MEASURE = """
(element) => {
  const box = element.getBoundingClientRect();
  let visible = window.innerWidth;
  for (let node = element.parentElement; node; node = node.parentElement) {
    if (getComputedStyle(node).overflowX !== 'visible') {
      visible = Math.min(visible, node.getBoundingClientRect().right);
    }
  }
  return {left: box.left, right: box.right, visible: visible};
}
"""


@pytest.fixture
def page(chromium, live_server, settings):
    """A 1280 x 800 window with the navigation sidebar open, as Django's admin opens it."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": WIDTH, "height": HEIGHT}
    )
    context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'true')")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def assert_inside(page, selector: str, name: str) -> dict:
    """Every element `selector` finds (a column's heading and cells, a button) ends inside the
    viewport and inside the visible part of its box."""
    elements = page.locator(selector)
    assert elements.count(), f"nothing matches {selector}"
    widest = None
    for n in range(elements.count()):
        box = elements.nth(n).evaluate(MEASURE)
        assert box["left"] >= 0, f"{name} starts left of the window: {box}"
        # Within a pixel: a table as wide as its box may end a fraction of a pixel past it.
        assert box["right"] <= min(box["visible"], WIDTH) + 1, f"{name} is cut off: {box}"
        if widest is None or box["right"] > widest["right"]:
            widest = box
    return widest


def assert_columns_inside(page, columns: dict[str, str]) -> None:
    """`columns` maps a list column's name (its CSS class) to its heading. Also checks the
    sidebar is open and the page does not scroll sideways; prints where each column ends."""
    expect(page.locator("#nav-sidebar")).to_be_visible()
    ends = {}
    for column, heading in columns.items():
        expect(page.locator(f"#result_list thead th.column-{column}")).to_contain_text(
            heading, ignore_case=True
        )
        ends[heading] = assert_inside(
            page, f"#result_list .column-{column}, #result_list .field-{column}", heading
        )["right"]
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    box = page.locator("#changelist-form .results").bounding_box()
    ends["(the list's box ends at)"] = box["x"] + box["width"]
    print(f"{page.url} at {WIDTH} px, sidebar open, columns end at: {ends}")


@pytest.fixture
def aurora():
    """A phone reconnected twice, with the long names and errors real data has."""
    organization = factories.OrganizationFactory(name="Instituto Aurora de Educação Profissional")
    scene = reconnected_phone(organization, phone_number="+5511987654321")
    first = factories.WhatsAppSessionFactory(
        organization=organization,
        phone_number=scene.old.phone_number,
        status=WhatsAppSession.Status.DISCONNECTED,
        connected_at=timezone.now() - dt.timedelta(days=90),
        disconnected_at=timezone.now() - dt.timedelta(days=30),
    )
    WhatsAppSession.objects.filter(pk=scene.old.pk).update(status=WhatsAppSession.Status.CONNECTED)
    scene.old.refresh_from_db()
    factories.WorkshopFactory(organization=organization, whatsapp_session=first)
    migrate_session(first, scene.old, trigger=SessionMigration.Trigger.AUTOMATIC)
    WhatsAppSession.objects.filter(pk=scene.old.pk).update(
        status=WhatsAppSession.Status.DISCONNECTED
    )
    scene.groups[0].name = "Oficina de Redação ENEM — Turma da noite (pais e responsáveis)"
    scene.groups[0].save(update_fields=["name"])
    error = (
        "The gateway answered 500 Internal Server Error: session aurora-atendimento is not "
        "connected to WhatsApp (status: SCAN_QR_CODE); retrying after a pause."
    )
    for n, status in enumerate([Status.FAILED, Status.PENDING, Status.SENT, Status.CANCELLED]):
        factories.ScheduledWhatsAppMessageFactory(
            workshop=scene.workshops[0],
            group=scene.groups[0],
            body=(
                "Lembrete: a Oficina de Redação ENEM começa amanhã às 19h na sala 3. Tragam "
                "caderno, caneta e a redação da semana passada corrigida."
            ),
            status=status,
            attempts=n + 3,
            last_error=error if status != Status.SENT else "",
            next_attempt_at=timezone.now() + dt.timedelta(minutes=15)
            if status == Status.PENDING
            else None,
        )
    scene.first = first
    return scene


@pytest.fixture
def as_staff(log_in, aurora):
    """Signed in as a staff member of Aurora's organization."""
    staff_member(aurora.organization, username="marina.souza")
    log_in("marina.souza", PASSWORD)


def test_the_sessions_list_fits(page, as_staff, aurora):
    page.goto(SESSIONS)
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    assert_columns_inside(
        page,
        {
            "short_id": "Session",
            "phone_number": "Phone number",
            "status_name": "Status",
            "connected": "Connected",
            "disconnected": "Disconnected",
            "superseded_by_short": "Superseded by",
            "reference_count": "Rows pointing here",
        },
    )
    superseded = page.locator("#result_list tbody tr").filter(
        has=page.locator(f"input[value='{aurora.first.pk}']")
    )
    expect(superseded.locator("td.field-superseded_by_short")).to_have_text(str(aurora.old.pk)[:8])


def test_the_sessions_list_keeps_its_essential_columns_for_a_superuser(page, log_in, aurora):
    factories.WhatsAppSessionFactory(organization=factories.OrganizationFactory())
    factories.UserFactory(username="root", is_superuser=True)
    log_in("root", PASSWORD)

    page.goto(SESSIONS)
    expect(page.locator("#result_list thead th.column-organization_name")).to_be_visible()
    assert_columns_inside(
        page,
        {
            "phone_number": "Phone number",
            "connected": "Connected",
            "disconnected": "Disconnected",
            "superseded_by_short": "Superseded by",
            "reference_count": "Rows pointing here",
        },
    )


def test_the_messages_list_fits_and_says_what_it_is_filtered_by(page, as_staff, screenshot, aurora):

    page.goto(f"{SESSIONS}{aurora.old.pk}/change/")
    page.locator("#session-references tr", has_text="Pending messages").get_by_role("link").click()
    summary = page.locator("#filter-summary")
    expect(summary).to_contain_text(f"pointing at session {str(aurora.old.pk)[:8]} (disconnected)")
    expect(summary).to_contain_text("Status: Pending")

    page.goto("/admin/scheduling/scheduledwhatsappmessage/?points_at=disconnected")
    expect(summary).to_contain_text("pointing at a disconnected or superseded session")
    assert_columns_inside(
        page,
        {
            "send_at": "Send at",
            "status": "Status",
            "text": "Text",
            "sending_session": "Sending session",
            "attempts": "Attempts",
            "next_attempt_at": "Next attempt at",
            "error": "Last error",
        },
    )
    failed = page.locator("#result_list tbody tr", has_text="Failed")
    expect(failed.locator("td.field-error span")).to_have_attribute(
        "title", ScheduledWhatsAppMessage.objects.get(status=Status.FAILED).last_error
    )
    screenshot(page, "staff-tools-messages-list")

    summary.get_by_role("link", name="Show every row").click()
    expect(page.locator("#filter-summary")).to_have_count(0)


def test_the_migrations_list_fits(page, as_staff, aurora):
    migrate_session(aurora.old, aurora.new, trigger=SessionMigration.Trigger.ADMIN)

    page.goto("/admin/sessions_app/sessionmigration/?q=%2B55+11+98765-4321")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    assert_columns_inside(
        page,
        {
            "when": "When",
            "trigger": "Trigger",
            "actor_name": "Who",
            "old_to_new": "Old → new",
            "counts_summary": "What moved",
        },
    )


def test_the_groups_list_fits(page, as_staff, aurora):

    page.goto("/admin/sessions_app/whatsappgroup/")
    assert_columns_inside(
        page,
        {
            "group_name": "Name",
            "jid": "Group JID",
            "session_link": "Session",
            "is_active": "Active",
            "created_at": "Created at",
        },
    )
    expect(page.locator("#changelist-filter")).to_contain_text("By status")


def test_the_move_page_fits_and_waits_for_force(page, as_staff, aurora):
    other_phone = factories.WhatsAppSessionFactory(
        organization=aurora.organization,
        phone_number="+5511944443333",
        status=WhatsAppSession.Status.DISCONNECTED,
    )
    factories.WorkshopFactory(organization=aurora.organization, whatsapp_session=other_phone)

    def open_move(*sessions):
        page.goto(SESSIONS)
        for session in sessions:
            page.locator(f"input[name=_selected_action][value='{session.pk}']").check()
        page.select_option("select[name=action]", "move_references")
        page.click("button[name=index]")
        expect(page.locator("h1")).to_have_text("Move references to another session")

    open_move(aurora.old, other_phone)
    assert_inside(page, "#update-preview", "Update preview")
    assert_inside(page, "#id_target", "the target")
    assert_inside(page, "#move-preview tr > :last-child", "Result")
    expect(page.locator("#confirm-move")).to_be_enabled()
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH

    # Every selected session needs Force: confirming would move nothing, and the page says so.
    open_move(other_phone)
    expect(page.locator("#confirm-move")).to_be_disabled()
    expect(page.locator("#nothing-to-confirm")).to_contain_text("needs “Force”")
    page.check("#id_force")
    page.click("#update-preview")
    expect(page.locator("#confirm-move")).to_be_enabled()
    assert_inside(page, "#move-preview tr > :last-child", "Result")


def test_the_adopt_preview_fits(page, as_staff, aurora):

    page.goto(SESSIONS)
    page.locator(f"input[name=_selected_action][value='{aurora.new.pk}']").check()
    page.select_option("select[name=action]", "adopt_references")
    page.click("button[name=index]")
    expect(page.locator("#adopt-preview tbody tr")).to_have_count(1)
    assert_inside(page, "#adopt-preview tr > :last-child", "Pending messages")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH

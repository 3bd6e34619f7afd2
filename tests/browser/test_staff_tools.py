"""Staff tools in a real browser: move references with a preview, then read the audit."""

import datetime as dt
import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from sessions_app.dates import local_datetime
from sessions_app.models import SessionMigration, WhatsAppSession
from tests import factories
from tests.admin_scenarios import PASSWORD, reconnected_phone, staff_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]

SESSIONS = "/admin/sessions_app/whatsappsession/"


@pytest.fixture
def scene():
    scene = reconnected_phone(
        factories.OrganizationFactory(name="Instituto Aurora"), phone_number="+5511987654321"
    )
    # The phone's first pairing, whose references moved to `old` long ago.
    first = factories.WhatsAppSessionFactory(
        organization=scene.organization,
        phone_number=scene.old.phone_number,
        status=WhatsAppSession.Status.DISCONNECTED,
        connected_at=scene.old.connected_at - dt.timedelta(days=60),
        disconnected_at=scene.old.connected_at,
        superseded_by=scene.old,
    )
    WhatsAppSession.objects.filter(pk=first.pk).update(created_at=first.connected_at)
    # Names staff would recognize, for the screenshots.
    names = [
        (scene.workshops[0], "title", "Essay writing workshop, week 1"),
        (scene.workshops[1], "title", "Essay writing workshop, week 2"),
        (scene.webinars[0], "title", "Enrollment webinar"),
        (scene.campaigns[0], "name", "Enrollment reminders"),
        (scene.finished_campaigns[0], "name", "Welcome back (sent)"),
        (scene.groups[0], "name", "Parents · Class 3B"),
    ]
    for row, field_name, value in names:
        setattr(row, field_name, value)
        row.save(update_fields=[field_name])
    return scene


def test_staff_move_references_with_a_preview_and_find_the_audit(page, log_in, screenshot, scene):
    staff_member(scene.organization, username="marina.souza")
    log_in("marina.souza", PASSWORD)

    page.goto(f"{SESSIONS}{scene.old.pk}/change/")
    panel = page.locator("#session-references")
    expect(panel.locator("tr", has_text="Workshops").get_by_role("link")).to_have_text("2")
    expect(panel.locator("tr", has_text="Pending messages").get_by_role("link")).to_have_text("1")
    screenshot(page, "staff-tools-session-page")
    panel.locator("tr", has_text="Workshops").get_by_role("link").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)

    page.goto(SESSIONS)
    old_row = page.locator("#result_list tbody tr").filter(
        has=page.locator(f"input[name=_selected_action][value='{scene.old.pk}']")
    )
    expect(old_row).to_contain_text("Disconnected")
    expect(old_row.locator("td.field-reference_count")).to_have_text("7")
    screenshot(page, "staff-tools-sessions-list")

    old_row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "move_references")
    page.click("button[name=index]")

    expect(page.locator("h1")).to_have_text("Move references to another session")
    preview = page.locator(f"#move-preview tr[data-session='{scene.old.pk}']")
    # Workshops, webinars, active campaigns, community, groups moved, groups merged, pending
    # messages (here the one that moves with its group).
    expect(preview.locator("td")).to_have_text(["2", "1", "1", "1", "1", "0", "1", "Ready"])
    expect(page.locator("#id_target")).to_have_value(str(scene.new.pk))
    screenshot(page, "staff-tools-move-confirmation")

    page.click("#confirm-move")
    success = page.locator(".messagelist .success")
    expect(success).to_contain_text("Workshops: 2")
    expect(success).to_contain_text("Webinars: 1")

    success.get_by_role("link", name="audit entry").click()
    expect(page.locator("#moved-rows")).to_be_visible()
    for workshop in scene.workshops:
        expect(page.locator("#moved-rows").get_by_role("link", name=workshop.title)).to_be_visible()
    expect(page.locator("#moved-workshops")).to_have_text("Workshops (2)")
    screenshot(page, "staff-tools-migration-audit")

    migration = SessionMigration.objects.get()
    assert migration.actor.username == "marina.souza"
    assert migration.trigger == SessionMigration.Trigger.ADMIN
    assert sorted(migration.moved_ids["workshops"]) == sorted(str(w.pk) for w in scene.workshops)


def test_staff_without_the_permission_are_not_offered_the_move(page, log_in, scene):
    staff_member(scene.organization, username="viewer", migrate=False)
    log_in("viewer", PASSWORD)

    page.goto(SESSIONS)
    expect(page.locator("#result_list")).to_contain_text(str(scene.old.pk)[:8])
    options = page.locator("select[name=action] option")
    expect(options.filter(has_text="Move references")).to_have_count(0)
    expect(options.filter(has_text="Adopt references")).to_have_count(0)


def test_staff_of_another_organization_do_not_see_the_session(page, log_in, scene):
    elsewhere = factories.OrganizationFactory(name="Other school")
    factories.WhatsAppSessionFactory(organization=elsewhere)
    staff_member(elsewhere, username="outsider")
    log_in("outsider", PASSWORD)

    page.goto(SESSIONS)
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # their own session only
    expect(page.locator(f"input[name=_selected_action][value='{scene.old.pk}']")).to_have_count(0)
    expect(page.locator("#result_list")).not_to_contain_text("+5511987654321")

    page.goto(f"{SESSIONS}{scene.old.pk}/change/")
    expect(page.locator(".messagelist")).to_contain_text("doesn\u2019t exist")


@pytest.mark.parametrize("browser_locale", ["pt-BR"])
def test_the_move_in_portuguese_for_a_browser_that_asks_for_it(page, log_in, scene):
    """The same move in a browser set to Brazilian Portuguese: every page, the preview and the
    success message in Portuguese, and the dates as Brazil writes them, in the staff's zone."""
    staff_member(scene.organization, username="marina.souza")
    log_in("marina.souza", PASSWORD)

    page.goto(f"{SESSIONS}{scene.old.pk}/change/")
    expect(page.locator("html")).to_have_attribute("lang", "pt-br")
    panel = page.locator("#session-references")
    expect(panel.locator("h2")).to_have_text("O que aponta para esta sessão")
    expect(panel.locator("tr", has_text="Oficinas").get_by_role("link")).to_have_text("2")
    expect(panel.locator("tr", has_text="Mensagens pendentes").get_by_role("link")).to_have_text(
        "1"
    )

    page.goto(SESSIONS)
    old_row = page.locator("#result_list tbody tr").filter(
        has=page.locator(f"input[name=_selected_action][value='{scene.old.pk}']")
    )
    expect(old_row.locator("td.field-status_name")).to_have_text("Desconectada")
    with translation.override("pt-br"):
        disconnected = local_datetime(scene.old.disconnected_at)
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d \S+", disconnected)
    expect(old_row.locator("td.field-disconnected")).to_have_text(disconnected)
    expect(page.locator("select[name=action] option[value=move_references]")).to_have_text(
        "Mover as referências para outra sessão…"
    )

    old_row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "move_references")
    page.click("button[name=index]")

    expect(page.locator("h1")).to_have_text("Mover as referências para outra sessão")
    expect(page.locator("#move-preview th").first).to_have_text("Sessão")
    preview = page.locator(f"#move-preview tr[data-session='{scene.old.pk}']")
    expect(preview.locator("td")).to_have_text(["2", "1", "1", "1", "1", "0", "1", "Pronta"])
    expect(page.locator("#confirm-move")).to_have_text("Sim, mover as referências")

    page.click("#confirm-move")
    success = page.locator(".messagelist .success")
    expect(success).to_contain_text("referências movidas — Oficinas: 2, Webinars: 1")
    expect(success).to_contain_text("Campanhas ativas: 1")

    success.get_by_role("link", name="registro de auditoria").click()
    expect(page.locator("#moved-workshops")).to_have_text("Oficinas (2)")
    expect(page.locator(".field-trigger .readonly")).to_have_text("Admin")
    assert SessionMigration.objects.get().moved_ids["workshops"]

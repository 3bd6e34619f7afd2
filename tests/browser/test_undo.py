"""Undo in a real browser: from the audit entry, through the preview, to both entries."""

import pytest
from playwright.sync_api import expect

from scheduling.models import Workshop
from sessions_app.models import SessionMigration
from sessions_app.services.migration import migrate_session
from tests.admin_scenarios import PASSWORD, reconnected_phone, staff_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]

AUDIT = "/admin/sessions_app/sessionmigration/"


def test_staff_undo_a_migration_after_a_preview(page, log_in, screenshot):
    scene = reconnected_phone()
    migration = migrate_session(scene.old, scene.new, trigger="admin", force=True).migration
    scene.webinars[0].delete()  # changed since: stays where it is
    staff_member(scene.organization, username="marina.souza")
    log_in("marina.souza", PASSWORD)

    page.goto(f"{AUDIT}{migration.pk}/change/")
    page.click("#undo-migration")
    expect(page.locator("h1")).to_have_text("Undo this migration")
    expect(page.locator("#back-workshops")).to_have_text("Workshops (2)")
    expect(page.locator("#undo-left")).to_contain_text("deleted since")
    screenshot(page, "staff-tools-undo-confirmation")
    assert not SessionMigration.objects.filter(trigger="undo").exists()

    page.click("#confirm-undo")
    success = page.locator(".messagelist .success")
    expect(success).to_contain_text("Undone: moved back Workshops: 2")
    expect(success).to_contain_text("1 row changed since stays where it is")
    expect(page.locator(".field-undo_link")).to_contain_text("Undone by")
    expect(page.locator("#undo-migration")).to_have_count(0)

    page.goto(AUDIT)
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    undo_row = rows.filter(has=page.locator("td.field-trigger", has_text="Undo"))
    expect(undo_row).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("undone by")
    undo_row.locator("th a").first.click()
    expect(page.locator(".field-undo_link")).to_contain_text("Undoes")
    expect(page.locator("#left-rows")).to_contain_text("deleted since")

    assert set(Workshop.objects.values_list("whatsapp_session", flat=True)) == {scene.old.pk}
    undo = SessionMigration.objects.get(trigger="undo")
    assert (undo.undoes, undo.actor.username) == (migration, "marina.souza")

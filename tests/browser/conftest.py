"""A real headless Chromium (Debian's, never downloaded) driving a live test server on loopback."""

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop running in this thread; the test's own database
# calls are still synchronous, so Django's async-safety check would refuse them.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Set to a directory (e.g. `docs`) to save the screenshots the README shows.
SCREENSHOT_DIR = os.environ.get("STAFF_TOOLS_SCREENSHOTS")


# Per module: Playwright's loop stops with the browser, so later tests run without it.
@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"no Chromium at {executable}: run `make chromium` or set CHROMIUM_PATH")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_locale() -> str | None:
    """The language the browser asks for (its Accept-Language); None: Chromium's own, English.
    A test parametrized with `browser_locale` gets a browser in that language."""
    return None


@pytest.fixture
def page(chromium, live_server, settings, browser_locale):
    # The live server speaks plain HTTP; cookies marked Secure would never come back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1600, "height": 900}, locale=browser_locale
    )
    # The sessions list is wide: start with the admin's navigation sidebar folded away.
    context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot():
    """Save a screenshot of the page when STAFF_TOOLS_SCREENSHOTS names a directory."""

    def save(page, name: str) -> None:
        if SCREENSHOT_DIR:
            Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=True)

    return save


@pytest.fixture
def log_in(page):
    """Log in through the admin's login form, as staff do."""

    def submit_login_form(username: str, password: str) -> None:
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")
        assert "/admin/login/" not in page.url, "login failed"

    return submit_login_form

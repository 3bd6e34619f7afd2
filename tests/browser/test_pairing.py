"""Pairing a phone again in a real browser: the QR code, the scan reported by the fake gateway
(WAHA, Evolution API, then the VPS service) to the live server, and what moved shown without a
reload; the page keeps to a strict CSP."""

import re
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from sessions_app.gateway import evolution as evolution_backend
from sessions_app.gateway import vps as vps_backend
from sessions_app.gateway import waha as waha_backend
from sessions_app.models import WhatsAppSession
from tests import factories
from tests.admin_scenarios import PASSWORD, staff_member
from tests.fake_evolution import PAIRING_CODE, FakeEvolution
from tests.fake_vps import FakeVps
from tests.fake_waha import FakeWaha
from tests.pairing_scenarios import (
    PAIRING_PERMISSIONS,
    dropped_phone,
    fake_vps,
    fake_waha,
    resync_a_group,
    use_fake_evolution,
    use_fake_vps,
    use_fake_waha,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
]

PHONE = "+5511987654321"
OTHER_PHONE = "+5521998765432"
# What a deployment serving the admin with a strict policy would send.
STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'"
PAIRING_PAGE = re.compile(r".*/whatsappsession/[^/]+/pairing/(\?.*)?$")


@dataclass
class PairingGateway:
    """One fake gateway as the pairing tests drive it: the same steps, each gateway's routes."""

    kind: str
    server: FakeWaha | FakeEvolution | FakeVps
    backend: type
    pairing_code: str | None  # None: the gateway links phones by QR code only

    def name(self, session: WhatsAppSession) -> str:
        """The gateway's name for `session`, under the key its backend uses."""
        return session.gateway_name(self.backend.session_key)

    def scan(self, session: WhatsAppSession, phone_number: str) -> None:
        """The phone scans the QR code; the gateway reports it to the product's webhook."""
        assert self.server.scan(self.name(session), phone_number).status_code == 200

    def qr_path(self, session: WhatsAppSession) -> str:
        name = self.name(session)
        return {
            "waha": f"/api/{name}/auth/qr",
            "evolution": f"/instance/connect/{name}",
            "vps": f"/status/{name}",
        }[self.kind]

    def sent(self) -> set[tuple[str, str]]:
        """(gateway session name, text) of every message the gateway accepted."""
        if self.kind == "waha":
            return {(r.json["session"], r.json["text"]) for r in self.server.sends()}
        if self.kind == "vps":
            return {(r.json["sessionId"], r.json["message"]) for r in self.server.sends()}
        return {(r.path.rsplit("/", 1)[1], r.json["text"]) for r in self.server.sends()}


@pytest.fixture(params=["waha", "evolution", "vps"])
def gateway(request, settings, live_server):
    """The pairing runs once per gateway backend, each against its fake over HTTP."""
    webhook_url = f"{live_server.url}/webhooks/whatsapp/"
    settings.WHATSAPP_SEND_INTERVAL_SECONDS = 0
    settings.WHATSAPP_SEND_JITTER_SECONDS = 0
    if request.param == "waha":
        with fake_waha() as server:
            use_fake_waha(settings, server, webhook_url=webhook_url)
            yield PairingGateway("waha", server, waha_backend.GatewayBackend, "ABCD-EFGH")
    elif request.param == "evolution":
        with FakeEvolution(api_key="pairing-api-key") as server:
            use_fake_evolution(settings, server, webhook_url=webhook_url)
            yield PairingGateway(
                "evolution", server, evolution_backend.GatewayBackend, PAIRING_CODE
            )
    else:
        # The service's own configuration names the product's webhook for it.
        with fake_vps(webhook_url=f"{live_server.url}/webhooks/vps/") as server:
            use_fake_vps(settings, server)
            yield PairingGateway("vps", server, vps_backend.GatewayBackend, None)


@pytest.fixture
def scene():
    scene = dropped_phone(
        factories.OrganizationFactory(name="Instituto Aurora"), phone_number=PHONE
    )
    staff_member(scene.organization, username="marina.souza", permissions=PAIRING_PERMISSIONS)
    return scene


@pytest.fixture
def strict_page(page):
    """The page, with the pairing page served under a strict CSP and violations recorded."""

    def add_policy(route):
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": STRICT_CSP}
        route.fulfill(response=response, headers=headers)

    page.context.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', (e) =>"
        " window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.route(PAIRING_PAGE, add_policy)
    return page


def open_pairing_page(page, log_in, scene) -> WhatsAppSession:
    log_in("marina.souza", PASSWORD)
    page.goto(f"/admin/sessions_app/whatsappsession/{scene.old.pk}/change/")
    page.get_by_role("link", name="Pair this phone again").click()
    page.get_by_role("button", name="Start pairing").click()
    expect(page.locator("h1")).to_have_text("Pair a phone")
    expect(page.locator("#pairing-status")).to_have_text("Connecting")
    # The QR image loaded from the gateway through the admin.
    qr = page.locator("#pairing-qr-image")
    expect(qr).to_be_visible()
    page.wait_for_function(
        "document.getElementById('pairing-qr-image').naturalWidth > 0", timeout=10_000
    )
    # A mark that only survives while the page is not reloaded.
    page.evaluate("window.notReloaded = true")
    return WhatsAppSession.objects.exclude(pk=scene.old.pk).get(organization=scene.organization)


def test_same_phone_shows_what_moved_then_reminders_go_out_through_the_new_session(
    strict_page, log_in, screenshot, scene, gateway
):
    page = strict_page
    session = open_pairing_page(page, log_in, scene)
    resync_a_group(scene, session)

    if gateway.pairing_code is None:
        # The QR code is the only way offered, and the page says so.
        expect(page.get_by_role("button", name="Get a pairing code")).to_have_count(0)
        expect(page.locator("#pairing-qr-only")).to_have_text(
            "This gateway links phones by QR code only: it gives no code to link with the "
            "phone number."
        )
    else:
        page.get_by_role("button", name="Get a pairing code").click()
        expect(page.locator("#pairing-code-value")).to_have_text(gateway.pairing_code)
    if gateway.kind == "waha":  # one set of screenshots for the README
        screenshot(page, "pairing-page-waiting")

    gateway.scan(session, PHONE)

    expect(page.locator("#pairing-status")).to_have_text("Connected")
    expect(page.locator("#pairing-phone")).to_have_text(PHONE)
    expect(page.locator("#pairing-message")).to_contain_text("now points at the new session")
    moved = page.locator("#pairing-migrations a")
    expect(moved).to_have_count(1)
    expect(moved).to_contain_text("Workshops: 2")
    expect(moved).to_contain_text("Groups merged: 1")
    expect(page.locator("#pairing-qr")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True
    if gateway.kind == "waha":
        screenshot(page, "pairing-page-connected")
    assert page.evaluate("window.cspViolations") == []

    call_command("process_message_queue", verbosity=0)
    assert gateway.sent() == {
        (gateway.name(session), message.body) for message in scene.pending_messages
    }

    moved.click()
    expect(page.locator("#moved-workshops")).to_have_text("Workshops (2)")


def test_another_phone_moves_nothing_and_offers_the_forced_move(
    strict_page, log_in, scene, gateway, monkeypatch
):
    # A gateway whose QR code renews every second: the page asks for each new one.
    monkeypatch.setattr(gateway.backend, "qr_refresh_seconds", 1)
    page = strict_page
    session = open_pairing_page(page, log_in, scene)
    qr_path = gateway.qr_path(session)
    expect(page.locator("#pairing")).to_have_attribute("data-qr-refresh-seconds", "1")
    page.wait_for_function("document.getElementById('pairing-qr-image').src.includes('t=')")
    page.wait_for_function("document.getElementById('pairing-qr-image').complete")
    assert sum(r.path == qr_path for r in gateway.server.requests) >= 2

    gateway.scan(session, OTHER_PHONE)

    expect(page.locator("#pairing-phone")).to_have_text(OTHER_PHONE)
    message = page.locator("#pairing-message")
    expect(message).to_contain_text(f"The phone that scanned is {OTHER_PHONE}, not {PHONE}")
    expect(message).to_contain_text("Nothing moved, since the phones differ")
    expect(page.locator("#pairing-migrations a")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("window.cspViolations") == []

    page.get_by_role("button", name="Move references to this session anyway…").click()
    expect(page.locator("h1")).to_have_text("Move references to another session")
    expect(page.locator("#id_target")).to_have_value(str(session.pk))
    expect(page.locator("#id_force")).to_be_checked()
    scene.old.refresh_from_db()
    assert scene.old.superseded_by_id is None  # a preview only: nothing moved yet

"""Shared by the pairing tests: a staff member who may pair, the fake WAHA as the gateway, and a
snapshot of everything a refused pairing or log-out must leave as it was."""

from django.contrib.admin.models import LogEntry
from django.urls import reverse

from sessions_app.models import SessionMigration, WhatsAppSession
from tests.admin_scenarios import STAFF_PERMISSIONS, reconnected_phone
from tests.fake_waha import FakeWaha

PAIRING_PERMISSIONS = [*STAFF_PERMISSIONS, "sessions_app.add_whatsappsession"]
WEBHOOK_SECRET = "pairing-webhook-secret"
WAHA_API_KEY = "pairing-api-key"


def use_fake_waha(settings, waha: FakeWaha, *, webhook_url: str) -> None:
    """Point the product at `waha`, giving it `webhook_url` as this deployment's webhook."""
    settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.waha.GatewayBackend"
    settings.WHATSAPP_GATEWAY_URL = waha.url
    settings.WHATSAPP_GATEWAY_API_KEY = waha.api_key
    settings.WHATSAPP_GATEWAY_TIMEOUT = 2.0
    settings.WHATSAPP_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.WHATSAPP_WEBHOOK_PUBLIC_URL = webhook_url


def fake_waha() -> FakeWaha:
    return FakeWaha(api_key=WAHA_API_KEY)


def session_url(name: str, session_id, query: str = "") -> str:
    url = reverse(f"admin:sessions_app_whatsappsession_{name}", args=[session_id])
    return f"{url}?{query}" if query else url


def database_state() -> dict:
    """Every session row as stored, the audit, and the admin's history."""
    return {
        "sessions": list(
            WhatsAppSession.objects.order_by("pk").values_list(
                "pk",
                "organization_id",
                "status",
                "phone_number",
                "session_data",
                "superseded_by_id",
                "updated_at",
            )
        ),
        "migrations": list(SessionMigration.objects.values_list("pk", flat=True)),
        "log_entries": LogEntry.objects.count(),
    }


def dropped_phone(organization, *, phone_number: str = "+5511987654321"):
    """A phone whose session dropped, with every kind of row still on it, and nobody has paired
    it again yet (`reconnected_phone` without its new session)."""
    scene = reconnected_phone(organization, phone_number=phone_number)
    scene.new.delete()
    scene.new = None
    return scene

"""Shared by the pairing tests: a staff member who may pair, the fake WAHA (or the fake
Evolution API, or the fake VPS service) as the gateway, and a snapshot of everything a refused
pairing or log-out must leave as it was."""

from django.contrib.admin.models import LogEntry
from django.urls import reverse

from sessions_app.models import SessionMigration, WhatsAppSession
from tests import factories
from tests.admin_scenarios import STAFF_PERMISSIONS, reconnected_phone
from tests.fake_evolution import FakeEvolution
from tests.fake_vps import FakeVps
from tests.fake_waha import FakeWaha

PAIRING_PERMISSIONS = [*STAFF_PERMISSIONS, "sessions_app.add_whatsappsession"]
WEBHOOK_SECRET = "pairing-webhook-secret"
WAHA_API_KEY = "pairing-api-key"
VPS_API_KEY = "pairing-vps-api-key"


def use_fake_waha(settings, waha: FakeWaha, *, webhook_url: str) -> None:
    """Point the product at `waha`, giving it `webhook_url` as this deployment's webhook."""
    settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.waha.GatewayBackend"
    settings.WHATSAPP_GATEWAY_URL = waha.url
    settings.WHATSAPP_GATEWAY_API_KEY = waha.api_key
    settings.WHATSAPP_GATEWAY_TIMEOUT = 2.0
    settings.WHATSAPP_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.WHATSAPP_WEBHOOK_PUBLIC_URL = webhook_url


def use_fake_evolution(settings, evolution: FakeEvolution, *, webhook_url: str) -> None:
    """Point the product at `evolution` instead; the backend turns `webhook_url` into its own
    webhook's URL (…/webhooks/evolution/) and signs with EVOLUTION_WEBHOOK_JWT_KEY."""
    settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.evolution.GatewayBackend"
    settings.WHATSAPP_GATEWAY_URL = evolution.url
    settings.WHATSAPP_GATEWAY_API_KEY = evolution.global_key
    settings.WHATSAPP_GATEWAY_TIMEOUT = 2.0
    settings.WHATSAPP_WEBHOOK_PUBLIC_URL = webhook_url


def fake_vps(*, webhook_url: str) -> FakeVps:
    """The fake VPS service, its status webhook set to `webhook_url` (the product's
    /webhooks/vps/) with the secret `use_fake_vps` gives the product."""
    return FakeVps(api_key=VPS_API_KEY, webhook_url=webhook_url, webhook_secret=WEBHOOK_SECRET)


def use_fake_vps(settings, vps: FakeVps) -> None:
    """Point the product at `vps`: the service reports to the webhook of its own configuration,
    signed with the secret the product checks (WHATSAPP_VPS_WEBHOOK_SECRET)."""
    settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.vps.GatewayBackend"
    settings.WHATSAPP_GATEWAY_URL = vps.url
    settings.WHATSAPP_GATEWAY_API_KEY = vps.api_key
    settings.WHATSAPP_GATEWAY_TIMEOUT = 2.0
    settings.WHATSAPP_VPS_WEBHOOK_SECRET = vps.webhook_secret


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


def resync_a_group(scene, session):
    """A second group of the old session, with a pending reminder, that the gateway already
    synced under `session` while it was pairing: a reconnect merges it instead of moving it.
    Returns the reminder, which the merge re-points to the group of `session`."""
    old_group = factories.WhatsAppGroupFactory(session=scene.old, name="Parents · Class 3B")
    factories.WhatsAppGroupFactory(
        session=session, group_jid=old_group.group_jid, name=old_group.name
    )
    message = factories.ScheduledWhatsAppMessageFactory(
        workshop=scene.workshops[1], group=old_group, body="Class 3B meets at 7"
    )
    scene.groups.append(old_group)
    scene.pending_messages.append(message)
    return message


# What pairing the phone of `dropped_phone` again moves, once `resync_a_group` ran.
MOVED_WITH_A_RESYNCED_GROUP = {
    "workshops": 2,
    "webinars": 1,
    "campaigns": 1,
    "organizations": 1,
    "groups_moved": 1,
    "groups_merged": 1,
    "scheduled_messages": 1,
    # The reminder of the group that moves, with its group.
    "messages_with_groups": 1,
}

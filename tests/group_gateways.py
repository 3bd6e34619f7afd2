"""Each gateway the group sync reads from, set up the same way for the tests: the backend in
settings, and its fake (or the in-memory backend) listing groups in that gateway's own shape."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sessions_app.gateway import GatewayGroup, RetryableGatewayError, locmem
from sessions_app.gateway.base import SESSION_NAME_KEY, VPS_SESSION_KEY
from tests.fake_vps import FakeVps
from tests.fake_waha import FakeWaha

API_KEY = "group-sync-key"
GATEWAYS = ("locmem", "waha", "vps")


@dataclass
class Listed:
    """One group as a test wants the gateway to list it."""

    jid: str
    name: str = ""
    community: bool = False
    announcement: bool = False


class GatewayUnderTest:
    kind: str
    key: str = SESSION_NAME_KEY

    def session_data(self, name: str) -> dict:
        return {self.key: name}

    def list(self, name: str, groups: list[Listed]) -> None:
        raise NotImplementedError

    def fail(self, name: str) -> None:
        """The gateway's next answer for `name` is a failure (down, 5xx)."""
        raise NotImplementedError


class Locmem(GatewayUnderTest):
    kind = "locmem"

    def list(self, name, groups):
        locmem.groups[name] = [
            GatewayGroup(g.jid, g.name, is_community=g.community, is_announcement=g.announcement)
            for g in groups
        ]

    def fail(self, name):
        locmem.groups[name] = RetryableGatewayError("The in-memory gateway is down.")


class Waha(GatewayUnderTest):
    kind = "waha"

    def __init__(self, server: FakeWaha) -> None:
        self.server = server

    def list(self, name, groups):
        # NOWEB's shape: an object keyed by group id.
        self.server.groups[name] = {
            g.jid: {
                "id": g.jid,
                "subject": g.name,
                "isCommunity": g.community,
                "isCommunityAnnounce": g.announcement,
                "announce": g.announcement,
            }
            for g in groups
        }

    def fail(self, name):
        self.server.script.append((502, {"message": "Bad gateway"}))


class Vps(GatewayUnderTest):
    kind = "vps"
    key = VPS_SESSION_KEY

    def __init__(self, server: FakeVps) -> None:
        self.server = server

    def list(self, name, groups):
        self.server.sessions.setdefault(name, {"status": "connected"})
        self.server.groups[name] = [
            {
                "jid": g.jid,
                "subject": g.name,
                "participants": 3,
                "isCommunity": g.community,
                "isCommunityAnnounce": g.announcement,
            }
            for g in groups
        ]

    def fail(self, name):
        self.server.script.append((503, {"error": "Service unavailable"}))


@contextlib.contextmanager
def gateway_under_test(kind: str, settings) -> Iterator[GatewayUnderTest]:
    """The `kind` gateway, configured in `settings` as the product's backend."""
    settings.WHATSAPP_GATEWAY_API_KEY = API_KEY
    settings.WHATSAPP_GATEWAY_TIMEOUT = 5.0
    if kind == "locmem":
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.locmem.GatewayBackend"
        locmem.groups.clear()
        try:
            yield Locmem()
        finally:
            locmem.groups.clear()
        return
    fake, backend = {"waha": (FakeWaha, Waha), "vps": (FakeVps, Vps)}[kind]
    with fake(api_key=API_KEY) as server:
        settings.WHATSAPP_GATEWAY_BACKEND = f"sessions_app.gateway.{kind}.GatewayBackend"
        settings.WHATSAPP_GATEWAY_URL = server.url
        yield backend(server)

"""Development backend: logs what it would do and reports every session as connected.

Pairing works without a gateway: the QR code is a placeholder, and the pairing page offers a
button that "scans" it with a phone number (`simulate_scan`).

It has no phone behind it, so it lists the groups the database already holds for a session as
that session's groups: a sync keeps them as they are.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid

import segno

from sessions_app.gateway.base import BaseGatewayBackend, GatewayGroup, SessionStatus

logger = logging.getLogger(__name__)


def placeholder_qr_png(text: str) -> bytes:
    """A real QR code of `text`, as PNG: something to show where a gateway's code would be."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


class GatewayBackend(BaseGatewayBackend):
    can_simulate_scan = True

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info("WhatsApp via %s to %s (%s): %s", session_name, chat_id, message_id, text)
        return message_id

    def get_status(self, *, session_name: str) -> SessionStatus:
        logger.info("WhatsApp status of %s: reported as connected (console backend)", session_name)
        return SessionStatus(status="connected", raw_status="WORKING")

    def start_session(
        self, name: str, *, webhook_url: str, webhook_secret: str, metadata: dict[str, str]
    ) -> None:
        logger.info(
            "WhatsApp session %s started (console backend), webhook %s, metadata %s",
            name,
            webhook_url,
            metadata,
        )

    def get_qr(self, name: str) -> bytes:
        return placeholder_qr_png(f"Console backend: nothing to scan for {name}.")

    def request_pairing_code(self, name: str, phone_number: str) -> str:
        digest = hashlib.sha256(f"{name}:{phone_number}".encode()).hexdigest()[:8].upper()
        code = f"{digest[:4]}-{digest[4:]}"
        logger.info("WhatsApp pairing code for %s on %s: %s", name, phone_number, code)
        return code

    def logout(self, name: str) -> None:
        logger.info("WhatsApp session %s logged out (console backend)", name)

    def simulate_scan(self, name: str, phone_number: str) -> SessionStatus:
        logger.info("WhatsApp session %s paired with %s (console backend)", name, phone_number)
        return SessionStatus(status="connected", phone_number=phone_number, raw_status="WORKING")

    def list_groups(self, name: str) -> list[GatewayGroup]:
        from sessions_app.models import WhatsAppGroup

        known = WhatsAppGroup.objects.filter(
            **{f"session__session_data__{self.session_key}": name},
            session__superseded_by__isnull=True,
            is_active=True,
        ).values_list("group_jid", "name")
        listed = [GatewayGroup(group_jid=jid, name=group_name) for jid, group_name in known]
        logger.info("WhatsApp groups of %s: %d known (console backend)", name, len(listed))
        return listed

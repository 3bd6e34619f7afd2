"""Development backend: logs what would be sent and reports every session as connected."""

from __future__ import annotations

import logging
import uuid

from sessions_app.gateway.base import BaseGatewayBackend, SessionStatus

logger = logging.getLogger(__name__)


class GatewayBackend(BaseGatewayBackend):
    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info("WhatsApp via %s to %s (%s): %s", session_name, chat_id, message_id, text)
        return message_id

    def get_status(self, *, session_name: str) -> SessionStatus:
        logger.info("WhatsApp status of %s: reported as connected (console backend)", session_name)
        return SessionStatus(status="connected", raw_status="WORKING")

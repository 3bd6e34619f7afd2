"""Test backend: every send is appended to the module-level `outbox`.

`statuses` maps a session name to the `SessionStatus` that `get_status` reports (connected when
absent); `failures` maps a session name to an exception `send_text` raises instead of sending.
Tests clear all three between runs.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from sessions_app.gateway.base import BaseGatewayBackend, GatewayError, SessionStatus


@dataclass(frozen=True)
class SentMessage:
    session_name: str
    chat_id: str
    text: str
    message_id: str


outbox: list[SentMessage] = []
statuses: dict[str, SessionStatus] = {}
failures: dict[str, GatewayError] = {}
_lock = threading.Lock()


class GatewayBackend(BaseGatewayBackend):
    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        failure = failures.get(session_name)
        if failure is not None:
            raise failure
        message = SentMessage(session_name, chat_id, text, f"locmem-{uuid.uuid4().hex}")
        with _lock:
            outbox.append(message)
        return message.message_id

    def get_status(self, *, session_name: str) -> SessionStatus:
        return statuses.get(session_name, SessionStatus(status="connected", raw_status="WORKING"))

"""Test backend: every send is appended to the module-level `outbox`.

`statuses` maps a session name to the `SessionStatus` that `get_status` reports (connected when
absent); `failures` maps a session name to an exception `send_text` raises instead of sending;
`groups` maps a session name to the groups `list_groups` answers, or to an exception it raises
(a name without an entry is unknown to the gateway).

Pairing: `start_session` records the session in `started` (its webhook, secret and metadata)
and reports it connecting; `logout` reports it disconnected. A test "scans" the QR code with
`scan(name, phone_number)`, which makes `get_status` report the session connected with that
phone; polling (`refresh_session_status`) then records it as the gateway's webhook would.
`pairing_codes` lists every (name, phone) a code was asked for. Tests clear all of these
between runs (`reset()`).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from sessions_app.gateway.base import (
    BaseGatewayBackend,
    GatewayError,
    GatewayGroup,
    PermanentGatewayError,
    SessionStatus,
)
from sessions_app.gateway.console import placeholder_qr_png


@dataclass(frozen=True)
class SentMessage:
    session_name: str
    chat_id: str
    text: str
    message_id: str


@dataclass(frozen=True)
class StartedSession:
    name: str
    webhook_url: str
    webhook_secret: str
    metadata: dict[str, str]


outbox: list[SentMessage] = []
statuses: dict[str, SessionStatus] = {}
failures: dict[str, GatewayError] = {}
started: dict[str, StartedSession] = {}
pairing_codes: list[tuple[str, str]] = []
groups: dict[str, list[GatewayGroup] | GatewayError] = {}
_lock = threading.Lock()

_WAITING_FOR_SCAN = SessionStatus(status="connecting", raw_status="SCAN_QR_CODE")


def scan(name: str, phone_number: str) -> SessionStatus:
    """Pair `phone_number` with the started session `name`, as if its QR code were scanned."""
    if name not in started:
        raise KeyError(f"No session {name!r} was started on the in-memory gateway.")
    statuses[name] = SessionStatus(
        status="connected", phone_number=phone_number, raw_status="WORKING"
    )
    return statuses[name]


def reset() -> None:
    for state in (outbox, statuses, failures, started, pairing_codes, groups):
        state.clear()


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

    def start_session(
        self, name: str, *, webhook_url: str, webhook_secret: str, metadata: dict[str, str]
    ) -> None:
        started[name] = StartedSession(name, webhook_url, webhook_secret, dict(metadata))
        current = statuses.get(name)
        if current is None or current.status != "connected":
            statuses[name] = _WAITING_FOR_SCAN

    def get_qr(self, name: str) -> bytes:
        return placeholder_qr_png(f"In-memory gateway session {name}")

    def request_pairing_code(self, name: str, phone_number: str) -> str:
        pairing_codes.append((name, phone_number))
        return "LOCM-EM01"

    def logout(self, name: str) -> None:
        statuses[name] = SessionStatus(status="disconnected", raw_status="STOPPED")

    def list_groups(self, name: str) -> list[GatewayGroup]:
        listed = groups.get(name)
        if listed is None:
            raise PermanentGatewayError(f"The in-memory gateway has no session {name!r}.")
        if isinstance(listed, GatewayError):
            raise listed
        return list(listed)

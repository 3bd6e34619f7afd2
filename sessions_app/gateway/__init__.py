"""WhatsApp gateway backends, chosen by `WHATSAPP_GATEWAY_BACKEND` like Django's e-mail backends.

- `sessions_app.gateway.console.GatewayBackend`: logs what would be sent (development);
- `sessions_app.gateway.locmem.GatewayBackend`: keeps every send in `locmem.outbox` (tests);
- `sessions_app.gateway.waha.GatewayBackend`: a WAHA gateway over HTTP;
- `sessions_app.gateway.evolution.GatewayBackend`: an Evolution API server over HTTP;
- `sessions_app.gateway.vps.GatewayBackend`: the original system's own gateway service.

A backend names a session by the gateway's name for it, kept in the session's `session_data`
under the backend's `session_key` (`session_name`, or `vps_session_id` for the VPS service).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from sessions_app.gateway.base import (
    BaseGatewayBackend,
    GatewayError,
    GatewayGroup,
    PermanentGatewayError,
    RetryableGatewayError,
    SessionNotReadyError,
    SessionStatus,
)

__all__ = [
    "BaseGatewayBackend",
    "GatewayError",
    "GatewayGroup",
    "PermanentGatewayError",
    "RetryableGatewayError",
    "SessionNotReadyError",
    "SessionStatus",
    "get_gateway",
]


def get_gateway(backend: str | None = None, **kwargs) -> BaseGatewayBackend:
    """An instance of the configured backend (or of the dotted path `backend`)."""
    backend_class = import_string(backend or settings.WHATSAPP_GATEWAY_BACKEND)
    return backend_class(**kwargs)

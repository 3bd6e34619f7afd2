"""What every gateway backend offers, and the errors the dispatcher tells apart."""

from __future__ import annotations

from dataclasses import dataclass


class GatewayError(Exception):
    """A failed gateway call; `str(exc)` is a one-line reason kept on the message."""


class RetryableGatewayError(GatewayError):
    """Worth trying again later: a timeout, a refused connection, a 5xx."""


class PermanentGatewayError(GatewayError):
    """Trying again cannot help: the gateway refused the request (4xx) or answered nonsense."""


@dataclass(frozen=True)
class SessionStatus:
    """A gateway's view of one session, in the product's terms.

    `status` is one of `WhatsAppSession.Status` ("connecting", "connected", "disconnected");
    `phone_number` is as the gateway reports it (e.g. `5511999999999@c.us`), or None.
    """

    status: str
    phone_number: str | None = None
    raw_status: str = ""


# WAHA's session states in the product's terms; the webhook and polling share this table.
WAHA_STATUS_MAP = {
    "WORKING": "connected",
    "STARTING": "connecting",
    "SCAN_QR_CODE": "connecting",
    "STOPPED": "disconnected",
    "FAILED": "disconnected",
}


class BaseGatewayBackend:
    """Subclasses implement `send_text` and `get_status`."""

    def __init__(self, **kwargs) -> None:
        self.options = kwargs

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        """Post `text` to `chat_id` through `session_name`; return the gateway's message id.

        Raises RetryableGatewayError or PermanentGatewayError.
        """
        raise NotImplementedError

    def get_status(self, *, session_name: str) -> SessionStatus:
        """The gateway's current status of `session_name`. Raises GatewayError subclasses."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the backend may not be used afterwards."""

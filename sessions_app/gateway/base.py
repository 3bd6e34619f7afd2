"""What every gateway backend offers, and the errors the dispatcher tells apart."""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

# The session_data key holding a gateway's own name for a session. Each backend says which key
# it uses (`BaseGatewayBackend.session_key`); the database keeps each such name unique among
# live sessions.
SESSION_NAME_KEY = "session_name"
VPS_SESSION_KEY = "vps_session_id"
GATEWAY_NAME_KEYS = (SESSION_NAME_KEY, VPS_SESSION_KEY)


class GatewayError(Exception):
    """A failed gateway call; `str(exc)` is a one-line reason kept on the message."""


class RetryableGatewayError(GatewayError):
    """Worth trying again later: a timeout, a refused connection, a 5xx.

    `retry_after` is the wait the gateway asked for (a 429's or 408's `Retry-After`), if any.
    """

    def __init__(self, message: str, *, retry_after: dt.timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionNotReadyError(RetryableGatewayError):
    """The gateway says the session cannot send now (WAHA's 422 about the session's status):
    the message waits for the session as it does for a disconnected one."""


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> dt.timedelta | None:
    """A `Retry-After` header (seconds, or an HTTP date) as a wait; None when absent or bad."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return dt.timedelta(seconds=int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when - (now or dt.datetime.now(dt.UTC)), dt.timedelta(0))


class PermanentGatewayError(GatewayError):
    """Trying again cannot help: the gateway refused the request (4xx) or answered nonsense."""


@dataclass(frozen=True)
class SessionStatus:
    """A gateway's view of one session, in the product's terms.

    `status` is one of `WhatsAppSession.Status` ("connecting", "connected", "disconnected");
    `phone_number` is as the gateway reports it (e.g. `5511999999999@c.us`), or None;
    `identities` holds WhatsApp identities that are not phone numbers (`{"lid": "123@lid"}`),
    kept for reference and never matched on.
    """

    status: str
    phone_number: str | None = None
    raw_status: str = ""
    identities: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayGroup:
    """One group as the gateway lists it."""

    group_jid: str
    name: str = ""
    is_community: bool = False  # a community's parent group: WhatsApp refuses sends to it
    is_announcement: bool = False


# WAHA's session states in the product's terms; the webhook and polling share this table.
WAHA_STATUS_MAP = {
    "WORKING": "connected",
    "STARTING": "connecting",
    "SCAN_QR_CODE": "connecting",
    "PASSKEY_REQUIRED": "connecting",
    "PASSKEY_CONFIRMATION_REQUIRED": "connecting",
    "STOPPED": "disconnected",
    "FAILED": "disconnected",
}


class BaseGatewayBackend:
    """Subclasses implement sending, status, the pairing lifecycle and group listing.

    Every method names the session by the gateway's name for it, kept in the session's
    `session_data[session_key]`, and raises the GatewayError subclasses above.
    """

    session_key = SESSION_NAME_KEY
    # Seconds between two QR images on the pairing page: sooner than the gateway renews its code
    # (WAHA: every 20 s after the first minute).
    qr_refresh_seconds = 15
    # Development backends have no phone to scan with: the pairing page then offers a button
    # that calls `simulate_scan` instead.
    can_simulate_scan = False
    # Whether the gateway gives a code for WhatsApp's "link with phone number"; without it the
    # pairing page offers the QR code only.
    can_request_pairing_code = True
    # The product's webhook this gateway reports to (a URL name); `webhook_url()` and
    # `webhook_secret()` are what `start_session` tells the gateway.
    webhook_url_name = "sessions_app:whatsapp_webhook"

    def __init__(self, **kwargs) -> None:
        self.options = kwargs

    def webhook_url(self) -> str:
        """This backend's webhook on the site WHATSAPP_WEBHOOK_PUBLIC_URL names.

        That setting may name any of the product's webhooks (`…/webhooks/whatsapp/`): its path
        is swapped for this backend's, keeping the host and any prefix, so choosing another
        gateway stays one setting. A URL ending otherwise is used as it is.
        """
        from sessions_app import urls  # the URLconf imports the views, which import backends

        public = settings.WHATSAPP_WEBHOOK_PUBLIC_URL
        for pattern in urls.urlpatterns:
            path = reverse(f"{urls.app_name}:{pattern.name}")
            if public.endswith(path):
                return public.removesuffix(path) + reverse(self.webhook_url_name)
        return public

    def webhook_secret(self) -> str:
        return settings.WHATSAPP_WEBHOOK_SECRET

    def pairing_refusal(self) -> str:
        """Why no phone can be paired through this backend as configured, in one line; ""
        when one can. The gateway is told where to report (`webhook_url()`) at every start."""
        if not settings.WHATSAPP_WEBHOOK_PUBLIC_URL:
            return _("No public webhook URL is configured (WHATSAPP_WEBHOOK_PUBLIC_URL).")
        return ""

    def send_text(self, *, session_name: str, chat_id: str, text: str) -> str:
        """Post `text` to `chat_id` through `session_name`; return the gateway's message id,
        or "" when the gateway accepted the message without giving one."""
        raise NotImplementedError

    def get_status(self, *, session_name: str) -> SessionStatus:
        """The gateway's current status of `session_name`."""
        raise NotImplementedError

    def start_session(
        self, name: str, *, webhook_url: str, webhook_secret: str, metadata: dict[str, str]
    ) -> None:
        """Create and start `name`, its status webhook posting to `webhook_url` and proving
        itself with `webhook_secret` (each backend in its gateway's way: an HMAC key, a JWT key
        header), with `metadata`; when `name` already exists, update its configuration and
        start it."""
        raise NotImplementedError

    def get_qr(self, name: str) -> bytes:
        """The QR code to scan for `name`, as PNG bytes."""
        raise NotImplementedError

    def request_pairing_code(self, name: str, phone_number: str) -> str:
        """The code for "link with phone number" on `phone_number` (E.164)."""
        raise NotImplementedError

    def logout(self, name: str) -> None:
        """Log `name` out of WhatsApp on the gateway."""
        raise NotImplementedError

    def simulate_scan(self, name: str, phone_number: str) -> SessionStatus:
        """Pretend `phone_number` scanned the QR code of `name`; the status to record.
        Only for backends with `can_simulate_scan`."""
        raise NotImplementedError

    def list_groups(self, name: str) -> list[GatewayGroup]:
        """Every group the phone of `name` belongs to."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the backend may not be used afterwards."""

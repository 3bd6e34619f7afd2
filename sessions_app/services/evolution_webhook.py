"""Evolution API's `connection.update` webhook: a bearer token, then the instance's new state.

Evolution signs nothing in the body and sends no event id or usable event time (its
`date_time` is the server's local time printed with a `Z`). What it offers instead: when the
instance's webhook headers carry `jwt_key`, each call carries `Authorization: Bearer <JWT>`,
HS256 with that key, claims `{"app": "evolution", "action": "webhook"}`, ten minutes to live.
Reports are therefore ordered by their time of receipt.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import jwt
from django.conf import settings

from sessions_app.gateway.evolution import (
    EVOLUTION_STATUS_MAP,
    METADATA_HEADER_PREFIX,
    read_owner,
)
from sessions_app.models import WhatsAppSession
from sessions_app.services.gateway_status import (
    GatewayReport,
    WebhookOutcome,
    WebhookRefused,
    gateway_webhook_receive,
)

logger = logging.getLogger(__name__)

TOKEN_CLAIMS = {"app": "evolution", "action": "webhook"}
TOKEN_ALGORITHMS = ["HS256"]  # never "none", never another algorithm a forger picks
# Evolution's clock and ours may disagree by a few seconds.
TOKEN_LEEWAY_SECONDS = 30


def evolution_token_verify(*, authorization: str | None) -> None:
    """Refuse (401) a call whose bearer token Evolution did not make with our JWT key."""
    key = settings.EVOLUTION_WEBHOOK_JWT_KEY
    if not key:
        raise WebhookRefused(401, "No JWT key is configured (EVOLUTION_WEBHOOK_JWT_KEY).")
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise WebhookRefused(401, "Missing Authorization: Bearer token.")
    try:
        claims = jwt.decode(
            token.strip(),
            key,
            algorithms=TOKEN_ALGORITHMS,
            options={"require": ["exp", "iat"]},
            leeway=TOKEN_LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise WebhookRefused(401, "The bearer token has expired.") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise WebhookRefused(401, "The bearer token is not signed with HS256.") from exc
    except jwt.InvalidSignatureError as exc:
        raise WebhookRefused(401, "Wrong bearer token signature.") from exc
    except jwt.InvalidTokenError as exc:
        raise WebhookRefused(401, f"Invalid bearer token: {exc}.") from exc
    if any(claims.get(name) != value for name, value in TOKEN_CLAIMS.items()):
        raise WebhookRefused(401, "The bearer token is not an Evolution webhook token.")


def evolution_webhook_receive(*, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
    """Check and apply one Evolution webhook call; raise WebhookRefused, changing nothing, if bad.

    Only `connection.update` is acted on; other events, and states this version does not know,
    are acknowledged and ignored. `headers` are the call's: its bearer token, and the metadata
    the instance's webhook was configured with (`X-Metadata-Organization`, ...).
    """
    metadata = {
        key[len(METADATA_HEADER_PREFIX) :].lower(): value
        for key, value in headers.items()
        if key.lower().startswith(METADATA_HEADER_PREFIX.lower())
    }
    return gateway_webhook_receive(
        body=body,
        authenticate=lambda: evolution_token_verify(authorization=headers.get("Authorization")),
        event="connection.update",
        read=lambda payload: read_evolution_connection_update(payload, metadata=metadata),
    )


def read_evolution_connection_update(
    payload: dict, *, metadata: dict[str, str] | None = None
) -> GatewayReport | None:
    """A `connection.update` body as a report; None for a state this version does not know.

    `wuid` (the phone's JID) is only read from an `open` report: Evolution repeats the last
    owner on other states, and a closed instance's owner says nothing about who is paired.
    """
    name, data = payload.get("instance"), payload.get("data")
    if not isinstance(name, str) or not name:
        raise WebhookRefused(400, 'A connection.update event needs an "instance" name.')
    if not isinstance(data, dict) or not isinstance(data.get("state"), str):
        raise WebhookRefused(400, 'A connection.update event needs "data": {"state": ...}.')
    if data.get("instance", name) != name:
        raise WebhookRefused(400, '"data.instance" names another instance than "instance".')
    wuid = data.get("wuid")
    if wuid is not None and not isinstance(wuid, str):
        raise WebhookRefused(400, '"data.wuid" must be a string.')
    status = EVOLUTION_STATUS_MAP.get(data["state"])
    if status is None:
        logger.warning("Ignored Evolution state %r of instance %r: not known.", data["state"], name)
        return None
    phone, identities = read_owner(wuid if status == WhatsAppSession.Status.CONNECTED else None)
    # No event time (`date_time` is local time marked UTC) and no event id: the time of receipt
    # orders the reports, so a close received after an open still disconnects.
    return GatewayReport(
        gateway_name=name,
        status=status,
        phone_number=phone,
        identities=identities or None,
        metadata=metadata or None,
    )

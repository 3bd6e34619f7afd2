"""Evolution API's `connection.update` webhook: a bearer token, then the instance's new state.

Evolution signs nothing in the body and sends no event id or usable event time (its
`date_time` is the server's local time printed with a `Z`). What it offers instead: when the
instance's webhook headers carry `jwt_key`, each call carries `Authorization: Bearer <JWT>`,
HS256 with that key, claims `{"app": "evolution", "action": "webhook"}`, ten minutes to live.
Reports are therefore ordered by their time of receipt.
"""

from __future__ import annotations

import jwt
from django.conf import settings

from sessions_app.services.gateway_status import WebhookRefused

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

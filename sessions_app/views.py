from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sessions_app.services.evolution_webhook import evolution_webhook_receive
from sessions_app.services.gateway_status import (
    WEBHOOK_MAX_BYTES,
    WebhookOutcome,
    WebhookRefused,
    webhook_receive,
)
from sessions_app.services.vps_webhook import vps_webhook_receive


def read_webhook_body(request: HttpRequest) -> bytes:
    """The raw body, never more than one byte past the limit, whatever the headers claim.

    Django reads nothing of a body without Content-Length, which is how a chunked request
    arrives through gunicorn; the server's own stream decodes the chunks, so read that.
    """
    if request.META.get("CONTENT_LENGTH"):
        try:
            declared = int(request.META["CONTENT_LENGTH"])
        except ValueError as exc:
            raise WebhookRefused(400, "Content-Length is not a number.") from exc
        if declared > WEBHOOK_MAX_BYTES:
            raise WebhookRefused(413, f"Body larger than {WEBHOOK_MAX_BYTES} bytes.")
        return request.read(WEBHOOK_MAX_BYTES + 1)
    stream = request.META.get("wsgi.input")
    if stream is None:
        return b""
    chunks, size = [], 0
    while size <= WEBHOOK_MAX_BYTES:
        chunk = stream.read(WEBHOOK_MAX_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def signed_webhook(receive: Callable[..., WebhookOutcome], doc: str):
    """A webhook view: the body read within its limit, checked and applied by `receive`, and
    answered 200 with the outcome or with the refusal's 4xx and one-line reason."""

    @csrf_exempt  # the gateway signs its calls (X-Webhook-Hmac) instead of a CSRF token
    @require_POST
    def webhook(request: HttpRequest) -> JsonResponse:
        try:
            body = read_webhook_body(request)
            outcome = receive(body=body, signature=request.headers.get("X-Webhook-Hmac"))
        except WebhookRefused as refused:
            return refusal(refused)
        return acknowledgement(outcome)

    webhook.__doc__ = doc
    return webhook


def refusal(refused: WebhookRefused) -> JsonResponse:
    return JsonResponse({"error": str(refused)}, status=refused.status)


def acknowledgement(outcome: WebhookOutcome) -> JsonResponse:
    # Stale, duplicate and ignored reports are acknowledged (200): no retry needed.
    answer = {
        "status": "ok" if outcome.result in ("applied", "unchanged") else outcome.result,
        "event": outcome.event,
    }
    if outcome.session is not None:
        answer.update(session=str(outcome.session.pk), state=outcome.session.status)
    return JsonResponse(answer, status=HTTPStatus.OK)


@csrf_exempt  # Evolution proves itself with a bearer token instead of a CSRF token
@require_POST
def evolution_webhook(request: HttpRequest) -> JsonResponse:
    """Evolution API's webhook: `connection.update` events update the instance they name."""
    try:
        body = read_webhook_body(request)
        outcome = evolution_webhook_receive(body=body, headers=request.headers)
    except WebhookRefused as refused:
        return refusal(refused)
    return acknowledgement(outcome)


whatsapp_webhook = signed_webhook(
    webhook_receive, "WAHA's webhook: `session.status` events update the session they name."
)
vps_webhook = signed_webhook(
    vps_webhook_receive,
    "The original system's gateway service: a status report updates the session it names.",
)

from http import HTTPStatus

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sessions_app.services.gateway_status import (
    WEBHOOK_MAX_BYTES,
    WebhookRefused,
    webhook_receive,
)


@csrf_exempt  # the gateway signs its calls (X-Webhook-Hmac) instead of carrying a CSRF token
@require_POST
def whatsapp_webhook(request: HttpRequest) -> JsonResponse:
    """WAHA's webhook: `session.status` events update the session they name."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > WEBHOOK_MAX_BYTES:
        return JsonResponse(
            {"error": f"Body larger than {WEBHOOK_MAX_BYTES} bytes."},
            status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )
    # Never read more than one byte past the limit, whatever the headers claim.
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    try:
        outcome = webhook_receive(body=body, signature=request.headers.get("X-Webhook-Hmac"))
    except WebhookRefused as refused:
        return JsonResponse({"error": str(refused)}, status=refused.status)
    if outcome.ignored:
        return JsonResponse({"status": "ignored", "event": outcome.event})
    return JsonResponse(
        {"status": "ok", "session": str(outcome.session.pk), "state": outcome.session.status}
    )

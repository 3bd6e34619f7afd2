"""What HTTP gateways share: one client per backend and one mapping of answers to errors.

- timeouts, refused connections and 5xx answers are retryable;
- 429 and 408 are retryable after the gateway's `Retry-After` (seconds or an HTTP date);
- other 4xx answers are permanent and keep the gateway's own message;
- a 2xx whose body is not JSON is permanent: the gateway answered nonsense.
"""

from __future__ import annotations

import httpx
from django.conf import settings

from sessions_app.gateway.base import (
    BaseGatewayBackend,
    PermanentGatewayError,
    RetryableGatewayError,
    parse_retry_after,
)

_MAX_REASON = 300
RETRY_LATER_STATUSES = (408, 429)


class HttpGatewayBackend(BaseGatewayBackend):
    """A backend for a JSON API at `WHATSAPP_GATEWAY_URL`, its key in `api_key_header`; `label`
    names the gateway in every error message."""

    label = "The gateway"
    api_key_header = "X-Api-Key"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        headers = {"Accept": "application/json"}
        api_key = settings.WHATSAPP_GATEWAY_API_KEY if api_key is None else api_key
        if api_key:
            headers[self.api_key_header] = api_key
        # One client per backend keeps the connection alive across a dispatcher's sends.
        self.client = httpx.Client(
            base_url=(base_url or settings.WHATSAPP_GATEWAY_URL).rstrip("/"),
            headers=headers,
            timeout=settings.WHATSAPP_GATEWAY_TIMEOUT if timeout is None else timeout,
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """The gateway's 2xx answer to `method path`; every other outcome raises."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableGatewayError(f"{self.label} timed out on {method} {path}.") from exc
        except httpx.TransportError as exc:
            raise RetryableGatewayError(
                f"{self.label} unreachable on {method} {path}: {exc}."
            ) from exc
        code = response.status_code
        if code >= 500 or code in RETRY_LATER_STATUSES:
            raise RetryableGatewayError(
                f"{self.label} answered {code} on {method} {path}: {response_reason(response)}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if code >= 400:
            raise PermanentGatewayError(
                f"{self.label} refused {method} {path} with {code}: {response_reason(response)}"
            )
        return response

    def call(self, method: str, path: str, **kwargs):
        """The JSON body of the gateway's 2xx answer to `method path`."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise PermanentGatewayError(
                f"{self.label} answered {method} {path} with malformed JSON."
            ) from exc


def response_reason(response: httpx.Response) -> str:
    """The gateway's own message, on one line and short enough to keep on a message row."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        # Evolution API nests its message: `{"error": "Not Found", "response": {"message"}}`.
        inner = body.get("response") if isinstance(body, dict) else None
        text = (
            body.get("message")
            or (inner.get("message") if isinstance(inner, dict) else None)
            or body.get("error")
            or str(body)
            if isinstance(body, dict)
            else str(body)
        )
        if isinstance(text, list):
            text = "; ".join(map(str, text))
    text = " ".join(str(text).split()) or response.reason_phrase
    return text[:_MAX_REASON]

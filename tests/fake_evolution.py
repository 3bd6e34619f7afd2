"""A fake Evolution API (v2.x) server: a real HTTP server on loopback, in a thread.

It answers the routes the Evolution backend uses, with Evolution's shapes and guards (an
unknown instance is a 404 before the `apikey` is checked, as Evolution's guards run):

- `POST /instance/create` (403 when the name is in use), `POST /webhook/set/{name}`,
  `GET /instance/connect/{name}[?number=]`, `GET /instance/connectionState/{name}`,
  `GET /instance/fetchInstances?instanceName=`, `DELETE /instance/logout/{name}`;
- `POST /message/sendText/{name}` (400 "Error: Connection Closed" unless the instance is open);
- `GET /group/fetchAllGroups/{name}?getParticipants=false`, listing `server.groups[name]`.

`server.instances[name]` holds each instance's state, owner and webhook configuration;
`server.script` is a list of answers handed out before the normal one, each a
`(status, body)` or `(status, body, headers)` tuple (`body` bytes are sent as is, anything else
as JSON) or a number of seconds to stall for. `scan(name, phone)` opens an instance and posts
its `connection.update` webhook the way Evolution does, with the HS256 bearer token it makes
from the instance's `jwt_key` header; `drop(name)` closes it the same way.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx
import jwt

from tests.fake_http import FakeGateway, RecordedRequest

# A 1x1 PNG: what matters to the product is that the QR code is a PNG it can show.
QR_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

# Baileys' pairing codes: eight characters, no dash.
PAIRING_CODE = "WZYEH1YY"


@dataclass
class FakeInstance:
    name: str
    state: str = "close"
    owner_jid: str | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex.upper())
    webhook: dict = field(default_factory=dict)
    pairing_number: str | None = None
    qr_count: int = 0


def error_body(status: int, error: str, message) -> dict:
    """Evolution's error shape (src/main.ts)."""
    return {"status": status, "error": error, "response": {"message": message}}


def webhook_token(key: str, *, lifetime: int = 600, now: float | None = None, **claims) -> str:
    """The bearer token Evolution puts on a webhook whose headers carry `jwt_key`."""
    issued = int(time.time() if now is None else now)
    payload = {"iat": issued, "exp": issued + lifetime, "app": "evolution", "action": "webhook"}
    return jwt.encode({**payload, **claims}, key, algorithm="HS256")


class FakeEvolution(FakeGateway):
    def __init__(self, *, api_key: str = "test-api-key") -> None:
        # Evolution checks the key itself, after the instance is known (see `_route`).
        super().__init__(api_key="")
        self.global_key = api_key  # AUTHENTICATION_API_KEY
        self.instances: dict[str, FakeInstance] = {}
        self.groups: dict[str, list[dict]] = {}
        self.sent: list[RecordedRequest] = []  # sendText calls answered with a message
        self.message_ids: list[str] = []  # the `key.id` of each, in order

    def sends(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.sent)

    # What happens on the phone's side, told through the instance's webhook.

    def scan(self, name: str, phone: str) -> httpx.Response:
        """The phone `phone` (digits, as WhatsApp knows it) scans `name`'s QR code."""
        instance = self.instances[name]
        with self._lock:
            instance.state = "open"
            instance.owner_jid = f"{phone.lstrip('+')}@s.whatsapp.net"
        return self.post_connection_update(
            name,
            {
                "instance": name,
                "wuid": instance.owner_jid,
                "profileName": "Aurora",
                "profilePictureUrl": None,
                "state": "open",
                "statusReason": 200,
            },
        )

    def drop(self, name: str, *, status_reason: int = 401) -> httpx.Response:
        """The instance closes: 401 logged out, 440 replaced, 515 restart required."""
        with self._lock:
            self.instances[name].state = "close"
        return self.post_connection_update(
            name, {"instance": name, "state": "close", "statusReason": status_reason}
        )

    def post_connection_update(self, name: str, data: dict) -> httpx.Response:
        instance = self.instances[name]
        headers = dict(instance.webhook.get("headers") or {})
        key = headers.pop("jwt_key", None)
        if key is not None:
            headers["Authorization"] = f"Bearer {webhook_token(key)}"
        body = {
            "event": "connection.update",
            "instance": name,
            "data": data,
            "destination": instance.webhook["url"],
            # Evolution prints its local time with a `Z`: not a time to order by.
            "date_time": dt.datetime.now().isoformat(timespec="milliseconds") + "Z",
            "sender": instance.owner_jid,
            "server_url": self.url,
            "apikey": instance.token,
        }
        return httpx.post(instance.webhook["url"], json=body, headers=headers, timeout=10)

    def route(self, method: str, path: str, query: dict, body, request: RecordedRequest):
        with self._lock:
            status, answer = self._route(method, path, query, body, request.headers.get("apikey"))
            if status == 201 and path.startswith("/message/sendText/"):
                self.sent.append(request)
                self.message_ids.append(answer["key"]["id"])
        return status, answer

    def _route(self, method: str, path: str, query: dict, body, apikey: str | None):
        parts = [unquote(p) for p in path.strip("/").split("/")]
        name = parts[2] if len(parts) == 3 else None
        if method == "POST" and parts == ["instance", "create"]:
            name = body.get("instanceName") if isinstance(body, dict) else None
            if not name:
                return 400, error_body(400, "Bad Request", ['"instanceName" is required'])
            if name in self.instances:
                message = [f'This name "{name}" is already in use.']
                return 403, error_body(403, "Forbidden", message)
        elif name is None and parts != ["instance", "fetchInstances"]:
            return 404, error_body(404, "Not Found", [f"Cannot {method} {path}"])
        elif name is not None and name not in self.instances:
            return 404, error_body(404, "Not Found", [f'The "{name}" instance does not exist'])
        if self.global_key and apikey != self.global_key:
            instance = self.instances.get(name or "")
            if instance is None or apikey != instance.token:
                return 401, error_body(401, "Unauthorized", "Unauthorized")
        route = (method, *parts[:2])
        if route == ("POST", "instance", "create"):
            return self._create(body)
        instance = self.instances.get(name or "")
        if route == ("POST", "webhook", "set"):
            instance.webhook = {**body["webhook"], "events": body["webhook"].get("events", [])}
            return 201, {"id": uuid.uuid4().hex, **instance.webhook}
        if route == ("GET", "instance", "connect"):
            return 200, self._connect(instance, query.get("number"))
        if route == ("GET", "instance", "connectionState"):
            return 200, {"instance": {"instanceName": name, "state": instance.state}}
        if route == ("GET", "instance", "fetchInstances"):
            return self._fetch(query.get("instanceName"))
        if route == ("DELETE", "instance", "logout"):
            if instance.state == "close":
                message = [f'The "{name}" instance is not connected']
                return 400, error_body(400, "Bad Request", message)
            instance.state = "close"
            return 200, {"status": "SUCCESS", "error": False, "response": {"message": "ok"}}
        if route == ("POST", "message", "sendText"):
            return self._send_text(instance, body)
        if route == ("GET", "group", "fetchAllGroups"):
            if "getParticipants" not in query:
                message = ["The getParticipants needs to be informed in the query"]
                return 400, error_body(400, "Bad Request", message)
            return 200, self.groups.get(name, [])
        return 404, error_body(404, "Not Found", [f"Cannot {method} {path}"])

    def _create(self, body: dict):
        instance = FakeInstance(name=body["instanceName"], webhook=dict(body.get("webhook") or {}))
        self.instances[instance.name] = instance
        qrcode = self._connect(instance, body.get("number")) if body.get("qrcode") else None
        return 201, {
            "instance": {
                "instanceName": instance.name,
                "instanceId": str(uuid.uuid4()),
                "integration": body.get("integration"),
                "status": instance.state,
            },
            "hash": instance.token,
            "webhook": {
                "webhookUrl": instance.webhook.get("url"),
                "webhookHeaders": instance.webhook.get("headers"),
            },
            "qrcode": qrcode,
        }

    def _connect(self, instance: FakeInstance, number: str | None) -> dict:
        if instance.state == "open":
            return {"instance": {"instanceName": instance.name, "state": "open"}}
        instance.state = "connecting"
        instance.qr_count += 1
        if number:
            instance.pairing_number = number
        return {
            "pairingCode": PAIRING_CODE if instance.pairing_number else None,
            "code": f"2@fake-qr-{instance.name}-{instance.qr_count}",
            "base64": "data:image/png;base64," + base64.b64encode(QR_PNG).decode(),
            "count": instance.qr_count,
        }

    def _fetch(self, name: str | None):
        if name and name not in self.instances:
            return 404, error_body(404, "Not Found", [f'Instance "{name}" not found'])
        chosen = [self.instances[name]] if name else list(self.instances.values())
        return 200, [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, i.name)),
                "name": i.name,
                "connectionStatus": i.state,
                "ownerJid": i.owner_jid,
                "profileName": "Aurora" if i.owner_jid else None,
                "integration": "WHATSAPP-BAILEYS",
                "token": i.token,
            }
            for i in chosen
        ]

    def _send_text(self, instance: FakeInstance, body):
        if not isinstance(body, dict) or not body.get("text"):
            return 400, error_body(400, "Bad Request", ["Text is required"])
        if instance.state != "open":
            return 400, error_body(400, "Bad Request", ["Error: Connection Closed"])
        number = str(body.get("number", ""))
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        return 201, {
            "key": {"remoteJid": jid, "fromMe": True, "id": uuid.uuid4().hex[:20].upper()},
            "pushName": "",
            "status": "PENDING",
            "message": {"conversation": body["text"]},
            "messageType": "conversation",
            "messageTimestamp": int(time.time()),
            "source": "unknown",
        }

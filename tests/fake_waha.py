"""A fake WAHA gateway: a real HTTP server on loopback, in a thread, recording every request
(`tests.fake_http.FakeGateway`).

`server.statuses[name]` is what `GET /api/sessions/{name}` answers (404 when absent);
`server.sessions[name]` is the configuration a session was created with (`POST /api/sessions`,
`PUT /api/sessions/{name}`); `server.scan(name, phone)` pairs a phone with it and posts the
signed `session.status` webhook to the URL of its configuration, as WAHA does;
`server.script` is a list of responses handed out in order before the normal answer, each a
`(status_code, body)` pair or `(status_code, body, headers)` triple (`body` bytes are sent as
is, anything else as JSON) or a number of seconds to stall for (longer than the client's timeout
to make it time out).
`server.groups[name]` is the body `GET /api/{name}/groups` answers (404 when absent): a list as
the WEBJS and GOWS engines answer, or an object keyed by group id as NOWEB does.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
import uuid
from urllib.parse import unquote

import httpx
import segno

from tests.fake_http import FakeGateway, RecordedRequest

__all__ = ["FakeWaha", "RecordedRequest"]


class FakeWaha(FakeGateway):
    api_key_header = "X-Api-Key"

    def __init__(self, *, api_key: str = "test-api-key", delay: float = 0.0) -> None:
        super().__init__(api_key=api_key, delay=delay)
        self.accepted: list[RecordedRequest] = []  # the sendText calls answered with an id
        self.statuses: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.groups: dict[str, list | dict] = {}

    def sends(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.accepted)

    # Pairing ---------------------------------------------------------------------------------

    def scan(self, name: str, phone_number: str) -> httpx.Response:
        """Pair `phone_number` (E.164) with session `name`: it is WORKING from now on, and its
        webhook receives the signed `session.status` report. The webhook's answer."""
        me = {"id": f"{phone_number.lstrip('+')}@c.us", "pushName": "Fake phone"}
        with self._lock:
            self.statuses[name] = {"status": "WORKING", "me": me}
        return self.post_status(name)

    def post_status(self, name: str) -> httpx.Response:
        """Post `name`'s current status to its webhook, signed with its HMAC key."""
        with self._lock:
            config = self.sessions[name]
            state = self.statuses[name]
        (webhook,) = config["webhooks"]
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "timestamp": int(time.time() * 1000),
                "event": "session.status",
                "session": name,
                "metadata": config.get("metadata") or {},
                "me": state.get("me"),
                "payload": {"status": state["status"]},
                "engine": "WEBJS",
            }
        ).encode()
        signature = hmac.new(webhook["hmac"]["key"].encode(), body, hashlib.sha512).hexdigest()
        return httpx.post(
            webhook["url"],
            content=body,
            headers={"Content-Type": "application/json", "X-Webhook-Hmac": signature},
            timeout=10,
        )

    def _lifecycle(self, method: str, path: str, body) -> tuple | None:
        """The answer to a session lifecycle call, or None when `path` is not one."""
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if method == "POST" and parts == ["api", "sessions"]:
            name = body.get("name") if isinstance(body, dict) else None
            if not name:
                return 400, {"message": "name is required"}
            with self._lock:
                if name in self.sessions:
                    return 422, {"message": f"Session '{name}' already exists. Use PUT to update."}
                self.sessions[name] = body.get("config") or {}
                started = body.get("start", True)
                self.statuses[name] = {"status": "SCAN_QR_CODE" if started else "STOPPED"}
            return 201, {"name": name, **self.statuses[name], "config": self.sessions[name]}
        if len(parts) < 3 or parts[0] != "api":
            return None
        name = parts[2] if parts[1] == "sessions" else parts[1]
        action = tuple(parts[3:]) if parts[1] == "sessions" else tuple(parts[2:])
        if parts[1] == "sessions" and not action and method == "GET":
            return None  # GET /api/sessions/{name}: answered from `statuses`
        known = {
            ("PUT", ()),
            ("POST", ("start",)),
            ("POST", ("stop",)),
            ("POST", ("logout",)),
            ("GET", ("auth", "qr")),
            ("POST", ("auth", "request-code")),
        }
        if (method, action) not in known:
            return None
        with self._lock:
            if name not in self.sessions:
                return 404, {"message": f"Session '{name}' not found"}
            state = self.statuses[name]
            if method == "PUT":
                self.sessions[name] = body.get("config") or {}
            elif action == ("start",) and state["status"] in ("STOPPED", "FAILED"):
                self.statuses[name] = {"status": "SCAN_QR_CODE"}
            elif action == ("stop",):
                self.statuses[name] = {"status": "STOPPED"}
            elif action == ("logout",):
                self.statuses[name] = {"status": "SCAN_QR_CODE"}  # WAHA starts it afresh
            elif action[0] == "auth" and state["status"] != "SCAN_QR_CODE":
                return 422, {"message": f"Session status is {state['status']}, not SCAN_QR_CODE"}
            elif action == ("auth", "qr"):
                buffer = io.BytesIO()
                segno.make(f"fake-waha:{name}:{time.time()}").save(buffer, kind="png", scale=4)
                return 200, buffer.getvalue(), {"Content-Type": "image/png"}
            elif action == ("auth", "request-code"):
                return 201, {"code": "ABCD-EFGH"}
            return 201, {"name": name, **self.statuses[name]}

    # -----------------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict, body, request: RecordedRequest):
        if method == "POST" and path == "/api/sendText":
            if not isinstance(body, dict) or not body.get("chatId"):
                # e.g. a client killed between the headers and the body
                return 400, {"message": "chatId is required"}
            chat = body["chatId"]
            request.at = time.time()
            with self._lock:
                self.accepted.append(request)
            return 201, {"id": f"true_{chat}_{uuid.uuid4().hex[:16].upper()}"}
        lifecycle = self._lifecycle(method, path, body)
        if lifecycle is not None:
            return lifecycle
        if method == "GET" and path.startswith("/api/sessions/"):
            name = path.removeprefix("/api/sessions/")
            if name in self.statuses:
                return 200, {"name": name, **self.statuses[name]}
            return 404, {"message": f"Session '{name}' not found"}
        if method == "GET" and path.startswith("/api/") and path.endswith("/groups"):
            name = path.removeprefix("/api/").removesuffix("/groups")
            if name in self.groups:
                return 200, self.groups[name]
            return 404, {"message": f"Session '{name}' not found"}
        return 404, {"message": "Not found"}

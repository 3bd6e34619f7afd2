"""A fake of the original system's gateway service (its "VPS" API) over HTTP on loopback.

`server.sessions[id]` is the state `GET /status/{id}` answers (`status`, `qr`, `phoneNumber`);
`POST /connect` creates it showing a QR string, `scan()` connects it with a phone as a phone
scanning the QR would, `POST /disconnect/{id}` disconnects it. `server.groups[id]` is the
`groups` list `GET /groups/{id}` answers. Sends to a connected session are accepted and kept in
`sends()`. `status_report()` builds the signed webhook call the service makes on a change.

Like the real service, its status webhook is part of its own configuration (`webhook_url`,
`webhook_secret`), not of a session: when it has one, `scan()` posts the signed report of the
new status there, and `post_status()` posts a session's current status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import uuid

import httpx

from tests.fake_http import FakeGateway, RecordedRequest


class FakeVps(FakeGateway):
    api_key_header = "X-API-Key"

    def __init__(
        self,
        *,
        api_key: str = "test-api-key",
        delay: float = 0.0,
        webhook_url: str | None = None,
        webhook_secret: str = "",
    ) -> None:
        super().__init__(api_key=api_key, delay=delay)
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.sessions: dict[str, dict] = {}
        self.groups: dict[str, list[dict]] = {}
        self.accepted: list[RecordedRequest] = []  # the sends answered with an id
        self._state_lock = threading.Lock()

    def sends(self) -> list[RecordedRequest]:
        with self._state_lock:
            return list(self.accepted)

    def scan(self, session_id: str, phone_number: str) -> httpx.Response | None:
        """The phone scans the QR: the session is connected with `phone_number`, and the
        service's webhook, if it has one, is told so. The webhook's answer, or None."""
        with self._state_lock:
            self.sessions[session_id] = {"status": "connected", "phoneNumber": phone_number}
        return self.post_status(session_id) if self.webhook_url else None

    def post_status(self, session_id: str) -> httpx.Response:
        """Post `session_id`'s current status to the service's webhook, signed with its secret."""
        with self._state_lock:
            body, signature = self.status_report(session_id, secret=self.webhook_secret)
        return httpx.post(
            self.webhook_url,
            content=body,
            headers={"Content-Type": "application/json", "X-Webhook-Hmac": signature},
            timeout=10,
        )

    def status_report(
        self, session_id: str, *, secret: str, timestamp: dt.datetime | None = None
    ) -> tuple[bytes, str]:
        """The body the service posts to its status webhook for `session_id` now, and its
        `X-Webhook-Hmac` (HMAC-SHA512 of the body, in hex, with `secret`)."""
        state = self.sessions[session_id]
        when = timestamp or dt.datetime.now(dt.UTC)
        body = json.dumps(
            {
                "sessionId": session_id,
                "status": state["status"],
                "phoneNumber": state.get("phoneNumber"),
                "timestamp": when.isoformat().replace("+00:00", "Z"),
            }
        ).encode()
        return body, hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()

    def route(self, method: str, path: str, query: dict, body, request: RecordedRequest):
        parts = path.strip("/").split("/")
        with self._state_lock:
            if method == "GET" and parts == ["health"]:
                return 200, {"status": "ok", "sessions": len(self.sessions)}
            if method == "POST" and parts == ["connect"]:
                return self._connect(body)
            if method == "POST" and parts == ["send"]:
                return self._send(body, request)
            if len(parts) != 2:
                return 404, {"error": "Not found"}
            action, session_id = parts
            if session_id not in self.sessions:
                return 404, {"error": f"Session {session_id} not found"}
            if method == "GET" and action == "status":
                return 200, {"sessionId": session_id, **self.sessions[session_id]}
            if method == "POST" and action == "disconnect":
                self.sessions[session_id] = {
                    "status": "disconnected",
                    "phoneNumber": self.sessions[session_id].get("phoneNumber"),
                }
                return 200, {"success": True, "message": "Disconnected"}
            if method == "GET" and action == "groups":
                return 200, {"groups": self.groups.get(session_id, [])}
        return 404, {"error": "Not found"}

    def _connect(self, body):
        session_id = body.get("sessionId") if isinstance(body, dict) else None
        if not isinstance(session_id, str) or not session_id:
            return 400, {"error": "sessionId is required"}
        if self.sessions.get(session_id, {}).get("status") != "connected":
            self.sessions[session_id] = {
                "status": "qr",
                "qr": f"2@{uuid.uuid4().hex},{session_id},{int(time.time())}",
            }
        return 200, {"success": True, "sessionId": session_id}

    def _send(self, body, request: RecordedRequest):
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key), str) for key in ("sessionId", "phone", "message")
        ):
            return 400, {"error": "sessionId, phone and message are required"}
        state = self.sessions.get(body["sessionId"])
        if state is None:
            return 404, {"error": f"Session {body['sessionId']} not found"}
        if state["status"] != "connected":
            return 400, {"error": "Session not connected"}
        request.at = time.time()
        self.accepted.append(request)
        return 200, {"success": True, "messageId": f"3EB0{uuid.uuid4().hex[:16].upper()}"}

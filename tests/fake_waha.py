"""A fake WAHA gateway: a real HTTP server on loopback, in a thread, recording every request.

`server.statuses[name]` is what `GET /api/sessions/{name}` answers (404 when absent);
`server.script` is a list of responses handed out in order before the normal answer, each a
`(status_code, body)` pair or `(status_code, body, headers)` triple (`body` bytes are sent as
is, anything else as JSON) or a number of seconds to stall for (longer than the client's timeout
to make it time out).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: object
    at: float = field(default_factory=time.time)


class FakeWaha:
    def __init__(self, *, api_key: str = "test-api-key", delay: float = 0.0) -> None:
        self.api_key = api_key
        self.delay = delay
        self.requests: list[RecordedRequest] = []  # every request, answered or not
        self.accepted: list[RecordedRequest] = []  # the sendText calls answered with an id
        self.statuses: dict[str, dict] = {}
        self.script: list = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeWaha:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sends(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.accepted)

    def _next_scripted(self):
        with self._lock:
            return self.script.pop(0) if self.script else None

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One buffered write per answer, without Nagle: keep-alive calls take no 40 ms pause.
            wbufsize = -1
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                request = RecordedRequest(method, self.path, dict(self.headers), body)
                with fake._lock:
                    fake.requests.append(request)
                scripted = fake._next_scripted()
                if isinstance(scripted, int | float):
                    time.sleep(scripted)
                    scripted = None
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.api_key and self.headers.get("X-Api-Key") != fake.api_key:
                    return self._answer(401, {"message": "Unauthorized", "statusCode": 401})
                if scripted is not None:
                    return self._answer(*scripted)
                if method == "POST" and self.path == "/api/sendText":
                    if not isinstance(body, dict) or not body.get("chatId"):
                        # e.g. a client killed between the headers and the body
                        return self._answer(400, {"message": "chatId is required"})
                    chat = body["chatId"]
                    request.at = time.time()
                    with fake._lock:
                        fake.accepted.append(request)
                    return self._answer(201, {"id": f"true_{chat}_{uuid.uuid4().hex[:16].upper()}"})
                if method == "GET" and self.path.startswith("/api/sessions/"):
                    name = self.path.removeprefix("/api/sessions/")
                    if name in fake.statuses:
                        return self._answer(200, {"name": name, **fake.statuses[name]})
                    return self._answer(404, {"message": f"Session '{name}' not found"})
                return self._answer(404, {"message": "Not found"})

            def _answer(self, status: int, body, headers: dict | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The client may have given up already (a scripted stall past its timeout).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        return Handler

"""A fake gateway's HTTP side: a real server on loopback, in a thread, recording every request.

A subclass answers in `route(method, path, query, body, request)` with `(status, body)`.
`script` is a list of answers handed out in order before the normal one, each a
`(status_code, body)` or `(status_code, body, headers)` tuple (`body` bytes are sent as is,
anything else as JSON) or a number of seconds to stall for (past the client's timeout to make
it time out). Every request needs `api_key` in the `api_key_header` header, else 401.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: object
    at: float = field(default_factory=time.time)


class FakeGateway:
    api_key_header = "X-Api-Key"

    def __init__(self, *, api_key: str = "test-api-key", delay: float = 0.0) -> None:
        self.api_key = api_key
        self.delay = delay
        self.requests: list[RecordedRequest] = []  # every request, answered or not
        self.script: list = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def route(self, method: str, path: str, query: dict, body, request: RecordedRequest):
        return 404, {"message": "Not found"}

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

            def do_PUT(self):
                self._handle("PUT")

            def do_DELETE(self):
                self._handle("DELETE")

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
                if fake.api_key and self.headers.get(fake.api_key_header) != fake.api_key:
                    return self._answer(401, {"message": "Unauthorized", "statusCode": 401})
                if scripted is not None:
                    return self._answer(*scripted)
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                return self._answer(*fake.route(method, url.path, query, body, request))

            def _answer(self, status: int, body, headers: dict | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The client may have given up already (a scripted stall past its timeout).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        return Handler

"""A local stand-in for a Resend-compatible e-mail API: `POST /emails` with a bearer key and a
JSON body `{from, to: [..], subject, text, html}`, answering 200 `{"id": ...}`.

It records every request it gets (arrival time, headers, body), per recipient, so a test can see
what was sent, how often and how far apart. A test scripts failures per recipient: `fail(to,
[503, 502])` answers those statuses to the next attempts, then 200 again; `fail_always(to, 503)`
never stops failing. Recipients are unique per test, so tests sharing the fake do not meet.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from local_http import LocalHttpServer


@dataclass
class Received:
    at: float  # time.monotonic() on arrival
    headers: dict[str, str]
    body: dict
    status: int  # what the fake answered

    @property
    def text(self) -> str:
        return self.body.get("text", "")


class FakeResend(LocalHttpServer):
    thread_name = "fake-resend"

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self._lock = threading.Lock()
        self._received: dict[str, list[Received]] = {}
        self._scripted: dict[str, list[int]] = {}
        self._always: dict[str, int] = {}

    # ------------------------------------------------------------ what the test sets up

    def fail(self, to: str, statuses: list[int]) -> None:
        with self._lock:
            self._scripted[to] = list(statuses)

    def fail_always(self, to: str, status: int) -> None:
        with self._lock:
            self._always[to] = status

    def received(self, to: str) -> list[Received]:
        with self._lock:
            return list(self._received.get(to, []))

    def wait_for(self, to: str, count: int = 1, status: int | None = None, timeout: float = 30) -> list[Received]:
        """Every request for `to`, once at least `count` of them (answered `status`, when
        given) have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received(to)
            if len([r for r in got if status is None or r.status == status]) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} request(s) for {to} (status {status}) did not arrive within "
                                     f"{timeout}s; got {[(r.status, r.body.get('subject')) for r in got]}")
            time.sleep(0.1)

    # ------------------------------------------------------------ serving

    def _answer(self, headers: dict[str, str], body: dict) -> int:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401
        if not isinstance(body.get("to"), list) or not body["to"]:
            return 422
        to = body["to"][0]
        with self._lock:
            scripted = self._scripted.get(to)
            if scripted:
                status = scripted.pop(0)
            else:
                status = self._always.get(to, 200)
            self._received.setdefault(to, []).append(
                Received(time.monotonic(), headers, body, status))
        return status

    def _make_handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                status = fake._answer(headers, body) if self.path == "/emails" else 404
                if status == 200:
                    reply = {"id": str(uuid.uuid4())}
                else:
                    reply = {"statusCode": status, "name": "application_error", "message": "scripted failure"}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
                pass

        return Handler

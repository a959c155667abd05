"""A local stand-in for a k-anonymity breached-password range API (the Pwned Passwords shape).

`GET /range/<5 hex>` answers `SUFFIX:COUNT` lines (35 uppercase hex characters, a colon, a count)
for the hashes registered with `add`, plus a few padding lines; it records every path it is asked
for, so a test can check that only the 5-character prefix of a hash ever left the server. A test
can also make it fail (`status`) or hang past the caller's timeout (`delay_s`).
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler

from local_http import LocalHttpServer


def sha1_hex(password: str) -> str:
    """The uppercase SHA-1 hex of a password's UTF-8 bytes: its 5-character prefix is what may leave."""
    return hashlib.sha1(password.encode("utf-8")).hexdigest().upper()


class FakeRangeApi(LocalHttpServer):
    thread_name = "fake-range-api"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.reset()

    # ------------------------------------------------------------ what the test sets up

    def reset(self) -> None:
        with self._lock:
            self._entries: dict[str, dict[str, int]] = {}
            self._paths: list[str] = []
            self.status = 200
            self.delay_s = 0.0
            self.line_ending = "\r\n"

    def add(self, password: str, count: int) -> str:
        """Lists `password` with `count` breaches; returns its hash prefix."""
        digest = sha1_hex(password)
        with self._lock:
            self._entries.setdefault(digest[:5], {})[digest[5:]] = count
        return digest[:5]

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return list(self._paths)

    # ------------------------------------------------------------ serving

    def _body_for(self, prefix: str) -> str:
        with self._lock:
            listed = dict(self._entries.get(prefix.upper(), {}))
            ending = self.line_ending
        # Padding like the real service's: unrelated suffixes, some with count 0.
        for i in range(4):
            listed.setdefault(secrets.token_hex(18)[:35].upper(), i)
        lines = [f"{suffix}:{count}" for suffix, count in sorted(listed.items())]
        return ending.join(lines)

    def _make_handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                with fake._lock:
                    fake._paths.append(self.path)
                    status, delay = fake.status, fake.delay_s
                if delay:
                    time.sleep(delay)
                prefix = self.path.rsplit("/", 1)[-1]
                body = fake._body_for(prefix).encode() if status == 200 else b"upstream trouble"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up waiting, as it should

            def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
                pass

        return Handler

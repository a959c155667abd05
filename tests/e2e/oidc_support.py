"""External identity in the end-to-end tests: a real OpenID Provider (panva's `oidc-provider`,
pinned in package.json, run by tests/e2e/oidc_provider.mjs on a free loopback port) and a
browser's walk through the redirects of a sign-in.

The walk follows redirects by hand: the provider's own cookies live in a `requests.Session`;
Edgeward's `Secure` binding cookie is read from `Set-Cookie` and sent by hand (requests never
sends a Secure cookie over http://), as tests/e2e/test_browser_http.py does for the auth cookies.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import urllib.parse
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / ".bin" / "node"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
APP_CALLBACK = "http://127.0.0.1:9/app/callback"
TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OidcProvider:
    """The provider process; `next_login(...)` says who signs in next (and how to break it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen | None = None
        self._lines: list[str] = []

    def start(self, callbacks: list[str]) -> None:
        self._proc = subprocess.Popen(
            [str(NODE), str(SCRIPT), str(self.port), *callbacks], cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)
        ready = threading.Event()

        def drain() -> None:
            for line in self._proc.stdout:
                self._lines.append(line)
                if line.startswith("ready "):
                    ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(TIMEOUT_S):
            self.stop()
            raise RuntimeError("oidc-provider did not start:\n" + "".join(self._lines[-40:]))

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(timeout=10)
        self._proc = None

    def next_login(self, sub: str, email: str | None, email_verified: bool = True,
                   name: str | None = None, tamper: str | None = None) -> None:
        body = {"sub": sub, "email_verified": email_verified, "tamper": tamper}
        if email is not None:
            body["email"] = email
        if name is not None:
            body["name"] = name
        r = requests.post(f"{self.issuer}/__test/next", data=json.dumps(body), timeout=TIMEOUT_S)
        assert r.status_code == 204, r.text


def provider_config(provider: OidcProvider) -> dict[str, str]:
    """Edgeward's vars for the two clients of the provider (RS256 and ES256 ID tokens)."""
    entry = lambda client: {"type": "oidc", "issuer": provider.issuer, "client_id": client,  # noqa: E731
                            "redirect_uris": [APP_CALLBACK, APP_CALLBACK + "?next=%2Fhome"]}
    return {
        "AUTH_PROVIDERS": json.dumps({"corp": {**entry("edgeward"), "name": "Corp SSO"},
                                      "corp-es": entry("edgeward-es")}),
        "AUTH_PROVIDER_CORP_SECRET": "edgeward-secret",
        "AUTH_PROVIDER_CORP_ES_SECRET": "edgeward-es-secret",
    }


def set_cookies(resp: requests.Response) -> dict[str, str]:
    out = {}
    for line in resp.raw.headers.getlist("Set-Cookie"):
        name, _, rest = line.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


class Walk:
    """One browser's sign-in: `start()` at Edgeward, `authorize()` at the provider, then
    `callback()` back at Edgeward, whose answer is the 302 to the app."""

    def __init__(self, app, provider_id: str = "corp") -> None:
        self.app = app
        self.provider_id = provider_id
        self.browser = requests.Session()
        self.binding: str | None = None
        self.callback_url: str | None = None

    def start(self, redirect_uri: str = APP_CALLBACK, cookies: dict | None = None, headers=None,
              **params) -> requests.Response:
        query = urllib.parse.urlencode({"redirect_uri": redirect_uri, **params})
        merged = dict(headers or {})
        if cookies:
            merged["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        resp = self.app.get(f"/v1/auth/oauth/{self.provider_id}/start?{query}", headers=merged)
        self.binding = set_cookies(resp).get("ew_oauth")
        return resp

    def authorize(self, start: requests.Response) -> str:
        """Follows the provider's redirects (login and consent) up to Edgeward's callback."""
        assert start.status_code == 302, start.text
        url = start.headers["Location"]
        callback_prefix = f"{self.app.base_url}/v1/auth/oauth/{self.provider_id}/callback"
        for _ in range(12):
            if url.startswith(callback_prefix):
                self.callback_url = url
                return url
            r = self.browser.get(url, allow_redirects=False, timeout=TIMEOUT_S)
            assert r.status_code in (302, 303), f"{url}: {r.status_code} {r.text[:300]}"
            url = urllib.parse.urljoin(url, r.headers["Location"])
        raise AssertionError(f"no callback reached; last at {url}")

    def callback(self, url: str | None = None, binding: str | None = "same") -> requests.Response:
        url = url or self.callback_url
        cookie = self.binding if binding == "same" else binding
        headers = {"Cookie": f"ew_oauth={cookie}"} if cookie else {}
        path = url[len(self.app.base_url):]
        return self.app.get(path, headers=headers)

    def run(self, **start_params) -> requests.Response:
        return self.callback(self.authorize(self.start(**start_params)))

"""A local STAND-IN for GitHub's OAuth web flow and REST API (GitHub itself is not reachable
from the test machine). It serves what Edgeward uses, as GitHub documents it:

- `GET /login/oauth/authorize` (client_id, redirect_uri, state, scope, code_challenge,
  code_challenge_method=S256) → 302 to redirect_uri with `code` and `state`, for the user the
  test set with `next_user()` (no login page);
- `POST /login/oauth/access_token` (form: client_id, client_secret, code, redirect_uri,
  code_verifier; `Accept: application/json`) → `{access_token, token_type, scope}`, or GitHub's
  200 `{"error": "bad_verification_code"}` for a wrong code, secret, redirect URI or verifier;
- `GET /user` and `GET /user/emails` with `Authorization: Bearer <token>`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

from local_http import LocalHttpServer


class FakeGithub(LocalHttpServer):
    thread_name = "fake-github"

    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self._lock = threading.Lock()
        self._next: dict | None = None
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, dict] = {}
        self.token_requests: list[dict] = []

    def next_user(self, id: int, login: str, emails: list[dict], name: str | None = None,
                  public_email: str | None = None) -> None:
        """Who authorizes next; `emails` as `/user/emails` lists them ({email, primary, verified})."""
        with self._lock:
            self._next = {"user": {"id": id, "login": login, "name": name, "email": public_email},
                          "emails": emails}

    def _make_handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def _json(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _bearer(self) -> dict | None:
                auth = self.headers.get("Authorization", "")
                scheme, _, token = auth.partition(" ")
                if scheme.lower() not in ("bearer", "token") or not self.headers.get("User-Agent"):
                    return None
                with fake._lock:
                    return fake._tokens.get(token)

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/login/oauth/authorize":
                    with fake._lock:
                        who = fake._next
                    if q.get("client_id") != fake.client_id or who is None:
                        return self._json(400, {"error": "unknown client or no user"})
                    code = secrets.token_urlsafe(20)
                    with fake._lock:
                        fake._codes[code] = {**who, "redirect_uri": q["redirect_uri"],
                                             "challenge": q.get("code_challenge"),
                                             "method": q.get("code_challenge_method")}
                    target = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                grant = self._bearer()
                if grant is None:
                    return self._json(401, {"message": "Requires authentication"})
                if url.path == "/user":
                    return self._json(200, grant["user"])
                if url.path == "/user/emails":
                    return self._json(200, grant["emails"])
                self._json(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                if urllib.parse.urlsplit(self.path).path != "/login/oauth/access_token":
                    return self._json(404, {"message": "Not Found"})
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = dict(urllib.parse.parse_qsl(body))
                with fake._lock:
                    fake.token_requests.append(form)
                    grant = fake._codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                ok = (grant is not None and form.get("client_id") == fake.client_id
                      and form.get("client_secret") == fake.client_secret
                      and form.get("redirect_uri") == grant["redirect_uri"]
                      and grant["method"] == "S256" and grant["challenge"] == challenge)
                if not ok:
                    return self._json(200, {"error": "bad_verification_code",
                                            "error_description": "The code passed is incorrect or expired."})
                token = "gho_" + secrets.token_urlsafe(24)
                with fake._lock:
                    fake._tokens[token] = grant
                self._json(200, {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})

        return Handler

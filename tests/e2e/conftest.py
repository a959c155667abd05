"""The suite owns its servers: `spawn_app(**vars)` starts `wrangler dev` on free loopback ports with a
fresh state directory, the real migrations and a fresh Ed25519 signing key, and returns an `App`
with one method per endpoint.

Servers cost about 5 s each to start (their D1 state is a copy of one migrated once per run:
`_migrated_state_template`), so ordinary tests share the session-scoped `app` (unique
e-mails keep them independent) and only tests that need other settings get a dedicated one:
`short_reuse_window_app`, `lockout_app`, `reauth_app`, `rate_limited_app`, `capped_app`, `purge_app` and
`breach_app` (eight in all, each started only when a selected test asks for it; the contract
fuzz in test_contract_fuzz.py starts one more of its own). Every server gets generous rate limits
(`GENEROUS_RATE_LIMITS`) unless a fixture sets its own, so ordinary tests never meet them.
Every response a test receives through `App.request` is validated against openapi/openapi.json
(contract.py): an answer the document does not describe fails the test.
Set EDGEWARD_E2E_KEEP_LOGS=1 to keep each server's wrangler log after the run, and
EDGEWARD_E2E_LOG_LEVEL=log (default warn) to have the Worker's own log lines in it.
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import Contract
from e2e_support import b64url, new_password, unique_email
from fake_range_api import FakeRangeApi

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = ROOT / "node_modules" / ".bin"
WRANGLER = BIN_DIR / "wrangler"

WRANGLER_ENV = {
    "CI": "true",
    "WRANGLER_SEND_METRICS": "false",
    "WRANGLER_SEND_ERROR_REPORTS": "false",
    "CLOUDFLARE_CF_FETCH_ENABLED": "false",
    "EDGEWARD_SKIP_BUILD": "1",
}
DEVELOPMENT_VARS_FILE = ROOT / "config" / "development.vars"


def read_vars_file(path: Path) -> dict[str, str]:
    """NAME=value lines (optionally quoted), as in .dev.vars; `#` lines are comments."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name.strip()] = value
    return out


# wrangler.toml's [vars] are production's; every local server lays the development values over
# them (the same file scripts/dev uses), then the suite's own.
DEFAULT_VARS = {
    **read_vars_file(DEVELOPMENT_VARS_FILE),
    "JWT_AUDIENCE": "edgeward-api",
    "ACCESS_TOKEN_TTL_SECONDS": "900",
    "REFRESH_TOKEN_TTL_SECONDS": "2592000",
    "REFRESH_REUSE_WINDOW_SECONDS": "10",
}
# Every per-IP, per-e-mail and per-user limit, high enough that tests which do not test them never
# meet them.
RATE_LIMIT_VARS = (
    "RATE_LIMIT_LOGIN_IP", "RATE_LIMIT_LOGIN_EMAIL", "RATE_LIMIT_REGISTER_IP", "RATE_LIMIT_VERIFY_IP",
    "RATE_LIMIT_RESEND_IP", "RATE_LIMIT_RESEND_EMAIL", "RATE_LIMIT_FORGOT_IP",
    "RATE_LIMIT_FORGOT_EMAIL", "RATE_LIMIT_RESET_IP", "RATE_LIMIT_REFRESH_IP",
    "RATE_LIMIT_REGISTER_EMAIL", "RATE_LIMIT_REFERRAL_CHECK_IP",
)
PER_USER_RATE_LIMIT_VARS = (
    "RATE_LIMIT_TICKET_USER", "RATE_LIMIT_STREAM_USER", "RATE_LIMIT_TIP_USER", "RATE_LIMIT_JOB_USER",
    "RATE_LIMIT_PROFILE_USER", "RATE_LIMIT_PASSWORD_CHANGE_USER", "RATE_LIMIT_DEACTIVATE_USER",
    "RATE_LIMIT_DELETE_USER", "RATE_LIMIT_WORKSPACE_USER", "RATE_LIMIT_API_KEY",
)
# Per-user caps, and the password-hashing gate, likewise out of reach of ordinary tests.
GENEROUS_CAPS = {"MAX_TICKETS_PER_USER": "1000", "MAX_QUEUED_JOBS_PER_USER": "1000",
                 "MAX_LIVE_STREAMS_PER_USER": "1000", "MAX_SOCKETS_PER_USER": "1000",
                 "PASSWORD_HASH_CONCURRENCY": "64", "PASSWORD_HASH_QUEUE": "1000"}
GENEROUS_RATE_LIMITS = {**{name: "1000/60" for name in RATE_LIMIT_VARS + PER_USER_RATE_LIMIT_VARS},
                        **GENEROUS_CAPS,
                        # Pooled users' sessions may be older than the production step-up window
                        # by the time a test takes one; `reauth_app` tests the window.
                        "REAUTH_WINDOW_SECONDS": "86400"}
SCHEDULED_CRON = "*/15 * * * *"  # the trigger in wrangler.toml
USER_BATCH = 4  # verified users made at once by `App.verified_user`
_USER_POOL_LOCK = threading.Lock()
STARTUP_TIMEOUT_S = 120
MIGRATIONS_TIMEOUT_S = 180
STOP_GRACE_S = 10
REQUEST_TIMEOUT_S = 30
LOG_TAIL_LINES = 80
# Every response a test receives through `App.request` is validated against the document.
CONTRACT = Contract.load()

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The link in verification and reset mails: `<APP_BASE_URL>/verify-email?token=<url-safe base64>`.
TOKEN_IN_LINK = re.compile(r"[?&]token=((?:[A-Za-z0-9_\-]|%3D|=)+)")


class AppStartError(RuntimeError):
    pass


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# 198.18.0.0/15 (benchmarking addresses) has 131072 of them: walk it from a random start.
_CLIENT_IPS = itertools.count(random.randrange(1 << 17))


def _random_client_ip() -> str:
    # Every request comes from another address (never the same one twice in a run), so a per-IP
    # rate limit on the server never couples unrelated tests.
    n = next(_CLIENT_IPS) % (1 << 17)
    return f"198.{18 + (n >> 16)}.{(n >> 8) & 0xFF}.{n & 0xFF}"


def _wrangler_env(file_vars: dict[str, str], work_dir: Path) -> dict[str, str]:
    # wrangler lets the process environment win over the env file: drop anything we set there.
    env = {k: v for k, v in os.environ.items() if k not in file_vars}
    env.update(WRANGLER_ENV)
    # Keep wrangler's debug logs and dev registry per server, not shared in ~/.config.
    env["WRANGLER_LOG_PATH"] = str(work_dir / "wrangler-debug-logs")
    env["WRANGLER_REGISTRY_PATH"] = str(work_dir / "wrangler-registry")
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    return env


def _drain(stream, log_path: Path, tail: collections.deque) -> None:
    with open(log_path, "wb") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
            tail.append(ANSI_ESCAPE.sub("", line.decode("utf-8", errors="replace")).rstrip("\n"))
    stream.close()


class App:
    """A running Edgeward under `wrangler dev`, with one method per endpoint."""

    def __init__(self, *, base_url: str, vars: dict[str, str], signing_key: Ed25519PrivateKey,
                 kid: str, proc: subprocess.Popen, work_dir: Path, state_dir: Path, env_file: Path,
                 log_path: Path, log_tail: collections.deque, drain_thread: threading.Thread):
        self.base_url = base_url
        self.vars = vars
        self.issuer = vars["JWT_ISSUER"]
        self.audience = vars["JWT_AUDIENCE"]
        self.app_base_url = vars["APP_BASE_URL"]
        self.access_ttl = int(vars["ACCESS_TOKEN_TTL_SECONDS"])
        self.reuse_window = int(vars["REFRESH_REUSE_WINDOW_SECONDS"])
        self.signing_key = signing_key
        self.kid = kid
        self.public_key_raw = signing_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_key_pem = signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.jwk_x = b64url(self.public_key_raw)
        self.proc = proc
        self.work_dir = work_dir
        self.state_dir = state_dir
        self.env_file = env_file
        self.log_path = log_path
        self.log_tail = log_tail
        self._drain_thread = drain_thread
        self._local = threading.local()
        self._stopped = False

    # ------------------------------------------------------------ plumbing

    def _http(self) -> requests.Session:
        # One connection pool per thread: requests.Session is not guaranteed thread-safe.
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        return http

    def request(self, method: str, path: str, *, json_body=None, data=None, headers=None,
                access: str | None = None, params=None) -> requests.Response:
        merged = {"CF-Connecting-IP": _random_client_ip()}
        if access is not None:
            merged["Authorization"] = f"Bearer {access}"
        merged.update(headers or {})
        resp = self._http().request(
            method, self.base_url + path, json=json_body, data=data, headers=merged,
            params=params, timeout=REQUEST_TIMEOUT_S, allow_redirects=False)
        # The contract is checked, not trusted: a response the document does not describe fails
        # the test here, naming the operation and what differs.
        CONTRACT.check(method, resp.url, resp)
        return resp

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> requests.Response:
        return self.request("POST", path, json_body=body, **kw)

    def log_text(self) -> str:
        return "\n".join(self.log_tail)

    # ------------------------------------------------------------ health and keys

    def health(self) -> requests.Response:
        return self.get("/health")

    def ready(self) -> requests.Response:
        return self.get("/ready")

    def jwks(self) -> requests.Response:
        return self.get("/.well-known/jwks.json")

    def openapi(self) -> requests.Response:
        return self.get("/openapi.json")

    # ------------------------------------------------------------ accounts and tokens

    def register(self, email: str, password: str, name: str | None = None, headers=None) -> requests.Response:
        body = {"email": email, "password": password}
        if name is not None:
            body["name"] = name
        return self.post("/v1/auth/register", body, headers=headers)

    def verify_email(self, token: str, headers=None) -> requests.Response:
        return self.post("/v1/auth/verify-email", {"token": token}, headers=headers)

    def resend_verification(self, email: str, headers=None) -> requests.Response:
        return self.post("/v1/auth/resend-verification", {"email": email}, headers=headers)

    def login(self, email: str, password: str, device_name: str | None = None, headers=None) -> requests.Response:
        body = {"email": email, "password": password}
        if device_name is not None:
            body["device_name"] = device_name
        return self.post("/v1/auth/login", body, headers=headers)

    def refresh(self, refresh_token: str, headers=None) -> requests.Response:
        return self.post("/v1/auth/refresh", {"refresh_token": refresh_token}, headers=headers)

    def logout(self, access: str) -> requests.Response:
        return self.request("POST", "/v1/auth/logout", access=access)

    def sessions(self, access: str, headers=None) -> requests.Response:
        return self.get("/v1/auth/sessions", access=access, headers=headers)

    def revoke_session(self, access: str, id: str) -> requests.Response:
        return self.request("DELETE", f"/v1/auth/sessions/{urllib.parse.quote(id, safe='')}", access=access)

    def me(self, access: str | None, headers=None) -> requests.Response:
        return self.get("/v1/me", access=access, headers=headers)

    def forgot(self, email: str, headers=None) -> requests.Response:
        return self.post("/v1/auth/password/forgot", {"email": email}, headers=headers)

    def reset(self, token: str, password: str, headers=None) -> requests.Response:
        return self.post("/v1/auth/password/reset", {"token": token, "password": password},
                         headers=headers)

    def change_password(self, access: str, current: str, new: str) -> requests.Response:
        return self.post("/v1/auth/password/change",
                         {"current_password": current, "new_password": new}, access=access)

    # ------------------------------------------------------------ profile

    def patch_me(self, access: str | None, body, if_match=None, headers=None) -> requests.Response:
        """PATCH /v1/me; `if_match` (an int, or a string sent as it is) becomes the If-Match header."""
        merged = dict(headers or {})
        if if_match is not None:
            merged["If-Match"] = str(if_match)
        return self.request("PATCH", "/v1/me", json_body=body, access=access, headers=merged)

    def notification_preferences(self, access: str | None) -> requests.Response:
        return self.get("/v1/me/notification-preferences", access=access)

    def patch_notification_preferences(self, access: str | None, body) -> requests.Response:
        return self.request("PATCH", "/v1/me/notification-preferences", json_body=body, access=access)

    def reset_notification_preferences(self, access: str | None) -> requests.Response:
        return self.request("DELETE", "/v1/me/notification-preferences", access=access)

    # ------------------------------------------------------------ audit log

    def audit(self, access: str | None, limit: int | None = None, cursor: str | None = None,
              headers=None) -> requests.Response:
        params = {}
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        return self.get("/v1/me/audit", access=access, params=params or None, headers=headers)

    def audit_pages(self, access: str, limit: int | None = None, max_pages: int = 100) -> list[list[dict]]:
        """Every page of the caller's audit log, following `next_cursor` to the end."""
        pages, cursor = [], None
        for _ in range(max_pages):
            resp = self.audit(access, limit=limit, cursor=cursor)
            assert resp.status_code == 200, f"audit: {resp.status_code} {resp.text[:300]}"
            body = resp.json()
            pages.append(body["events"])
            cursor = body["next_cursor"]
            if cursor is None:
                return pages
        raise AssertionError(f"audit log still had a next_cursor after {max_pages} pages")

    def audit_events(self, access: str) -> list[dict]:
        """The caller's whole audit log, newest first."""
        return [event for page in self.audit_pages(access, limit=100) for event in page]

    # ------------------------------------------------------------ account status

    def deactivate(self, access: str | None, password: str, headers=None) -> requests.Response:
        return self.post("/v1/me/deactivate", {"password": password}, access=access, headers=headers)

    def reactivate(self, email: str, password: str, headers=None) -> requests.Response:
        return self.post("/v1/auth/reactivate", {"email": email, "password": password}, headers=headers)

    def delete_me(self, access: str | None, password: str, headers=None) -> requests.Response:
        return self.request("DELETE", "/v1/me", json_body={"password": password}, access=access,
                            headers=headers)

    def restore(self, email: str, password: str, headers=None) -> requests.Response:
        return self.post("/v1/auth/restore", {"email": email, "password": password}, headers=headers)

    # ------------------------------------------------------------ scheduled work

    def run_cron(self, cron: str = SCHEDULED_CRON, at: float | None = None) -> requests.Response:
        """Run the scheduled handler once, as the cron trigger would (workerd waits for it).
        `at` (unix seconds) is the event's scheduled time, which the maintenance runs as of: a
        run 'as of' a later day shows what it removes once rows are old enough."""
        query = urllib.parse.quote_plus(cron, safe="*/")
        if at is not None:
            query += f"&time={int(at * 1000)}"
        resp = self.get(f"/cdn-cgi/handler/scheduled?cron={query}")
        assert resp.status_code == 200, f"scheduled handler: {resp.status_code} {resp.text[:300]}"
        return resp

    # ------------------------------------------------------------ storage, read-only

    def _sqlite_files(self, subdir: str) -> list[Path]:
        return sorted(p for p in (self.state_dir / "v3" / subdir).glob("*/*.sqlite")
                      if p.name != "metadata.sqlite")

    @staticmethod
    def _read_only(path: Path) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def d1_rows(self, sql: str, params=()) -> list[tuple]:
        """The rows of a read-only query against the server's local D1 database, for tests that
        must see what the API does not show (what is kept, what is gone)."""
        (path,) = self._sqlite_files("d1")
        with contextlib.closing(self._read_only(path)) as db:
            return db.execute(sql, params).fetchall()

    def wait_for_d1_rows(self, sql: str, params=(), count: int = 1, timeout: float = 20) -> list[tuple]:
        """Poll `d1_rows` until it returns at least `count` rows (a queue consumer's effect)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.d1_rows(sql, params)
            if len(rows) >= count:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} row(s) of {sql!r} {params} not there within {timeout}s: {rows}")
            time.sleep(0.2)

    def stored_rows_containing(self, *needles: str) -> list[str]:
        """Every stored row, in D1 and in every Durable Object's SQLite storage, with a value
        that contains one of `needles` (any case): `<storage>/<table>: <row>`."""
        wanted = [n.lower() for n in needles]
        found = []
        for path in self._sqlite_files("d1") + self._sqlite_files("do"):
            with contextlib.closing(self._read_only(path)) as db:
                # Not the local simulator's bookkeeping (`__miniflare_do_name` keeps each object's
                # name, e.g. a user id); only what the Worker stores.
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                          if not r[0].startswith(("__miniflare", "_cf_METADATA"))]
                for table in tables:
                    for row in db.execute(f'SELECT * FROM "{table}"'):
                        text = " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                                        for v in row).lower()
                        if any(n in text for n in wanted):
                            found.append(f"{path.parent.name}/{table}: {row!r:.300}")
        return found

    # ------------------------------------------------------------ development mailbox

    def mailbox(self, email: str) -> requests.Response:
        return self.get("/v1/dev/mailbox", params={"to": email})

    def messages(self, email: str) -> list[dict]:
        resp = self.mailbox(email)
        assert resp.status_code == 200, f"mailbox: {resp.status_code} {resp.text[:300]}"
        return resp.json()["messages"]

    def count_mail(self, email: str, subject_contains: str) -> int:
        return sum(subject_contains.lower() in m["subject"].lower() for m in self.messages(email))

    def wait_for_mail(self, email: str, subject_contains: str | None = None, timeout: float = 20,
                      count: int = 1) -> dict:
        """The newest message to `email` whose subject contains `subject_contains` (any case),
        once at least `count` such messages are there. Mail goes through a queue: poll."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [m for m in self.messages(email)
                        if subject_contains is None or subject_contains.lower() in m["subject"].lower()]
            if len(matching) >= count:
                return matching[0]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{count} mail(s) to {email} with subject containing {subject_contains!r} did not "
                    f"arrive within {timeout}s; mailbox has {[m['subject'] for m in self.messages(email)]}")
            time.sleep(0.2)

    def mail_barrier(self, timeout: float = 20) -> None:
        """Returns once every mail queued before the call has been delivered: the e-mail queue
        delivers in order, one batch at a time, and this waits for a mail queued now (the
        verification of a fresh registration, queued before register answers). Use it to show
        that something was *not* sent, instead of sleeping."""
        email = unique_email("barrier")
        resp = self.register(email, new_password())
        assert resp.status_code == 201, f"register: {resp.status_code} {resp.text[:300]}"
        self.wait_for_mail(email, "Verify", timeout=timeout)

    @staticmethod
    def token_from_mail(msg: dict) -> str:
        match = TOKEN_IN_LINK.search(msg["text"])
        assert match, f"no ?token= link in mail text: {msg['text']!r}"
        return urllib.parse.unquote(match.group(1))

    # ------------------------------------------------------------ credits, streams, tips, realtime

    @staticmethod
    def _page_params(limit: int | None, cursor: str | None, **extra) -> dict | None:
        params = {k: v for k, v in extra.items() if v is not None}
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        return params or None

    def grant_credits(self, access: str | None, amount, idempotency_key: str | None = None) -> requests.Response:
        """POST /v1/dev/credits (development only)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        return self.post("/v1/dev/credits", {"amount": amount}, access=access, headers=headers)

    def credits(self, access: str | None, limit: int | None = None, cursor: str | None = None) -> requests.Response:
        return self.get("/v1/credits", access=access, params=self._page_params(limit, cursor))

    def credit_ledger(self, access: str, limit: int | None = None, max_pages: int = 100) -> tuple[int, list[dict]]:
        """(balance, every ledger entry newest first), following `next_cursor` to the end."""
        entries, cursor, balance = [], None, None
        for _ in range(max_pages):
            resp = self.credits(access, limit=limit, cursor=cursor)
            assert resp.status_code == 200, f"credits: {resp.status_code} {resp.text[:300]}"
            body = resp.json()
            balance = body["balance"] if balance is None else balance
            entries.extend(body["entries"])
            cursor = body["next_cursor"]
            if cursor is None:
                return balance, entries
        raise AssertionError(f"credits still had a next_cursor after {max_pages} pages")

    def balance(self, access: str) -> int:
        resp = self.credits(access)
        assert resp.status_code == 200, f"credits: {resp.status_code} {resp.text[:300]}"
        return resp.json()["balance"]

    def create_stream(self, access: str | None, body) -> requests.Response:
        return self.post("/v1/streams", body, access=access)

    def streams(self, access: str | None, limit: int | None = None, cursor: str | None = None) -> requests.Response:
        return self.get("/v1/streams", access=access, params=self._page_params(limit, cursor))

    def stream(self, access: str | None, id: str) -> requests.Response:
        return self.get(f"/v1/streams/{urllib.parse.quote(id, safe='')}", access=access)

    def patch_stream(self, access: str | None, id: str, body) -> requests.Response:
        return self.request("PATCH", f"/v1/streams/{urllib.parse.quote(id, safe='')}", json_body=body,
                            access=access)

    def end_stream(self, access: str | None, id: str) -> requests.Response:
        return self.post(f"/v1/streams/{urllib.parse.quote(id, safe='')}/end", access=access)

    def tip(self, access: str | None, stream_id: str, body, idempotency_key: str | None) -> requests.Response:
        """POST /v1/streams/{id}/tips; no Idempotency-Key header when `idempotency_key` is None."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        return self.post(f"/v1/streams/{urllib.parse.quote(stream_id, safe='')}/tips", body,
                         access=access, headers=headers)

    def tips(self, access: str | None, direction: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> requests.Response:
        return self.get("/v1/tips", access=access,
                        params=self._page_params(limit, cursor, direction=direction))

    def realtime_ticket(self, access: str | None) -> requests.Response:
        return self.post("/v1/realtime/tickets", access=access)

    def new_ticket(self, access: str) -> str:
        resp = self.realtime_ticket(access)
        assert resp.status_code == 201, f"realtime ticket: {resp.status_code} {resp.text[:300]}"
        return resp.json()["ticket"]

    def ws_url(self, path: str, ticket: str | None = None) -> str:
        """The ws:// URL of `path`, with `?ticket=` (URL-encoded) when a ticket is given."""
        url = "ws" + self.base_url[len("http"):] + path
        if ticket is not None:
            url += "?ticket=" + urllib.parse.quote(ticket, safe="")
        return url

    # ------------------------------------------------------------ conveniences

    def register_unverified(self, name: str | None = None) -> tuple[str, str, dict]:
        email, password = unique_email(), new_password()
        resp = self.register(email, password, name=name)
        assert resp.status_code == 201, f"register: {resp.status_code} {resp.text[:300]}"
        return email, password, resp.json()["user"]

    def create_verified_user(self, name: str | None = None, device_name: str | None = None,
                             headers=None) -> tuple[str, str, dict]:
        """(email, password, TokenResponse json of a fresh login)."""
        email, password, _user = self.register_unverified(name=name)
        token = self.token_from_mail(self.wait_for_mail(email, "Verify"))
        resp = self.verify_email(token)
        assert resp.status_code == 200, f"verify-email: {resp.status_code} {resp.text[:300]}"
        resp = self.login(email, password, device_name=device_name, headers=headers)
        assert resp.status_code == 200, f"login: {resp.status_code} {resp.text[:300]}"
        return email, password, resp.json()

    def create_verified_users(self, count: int) -> list[tuple[str, str, dict]]:
        """`count` users made side by side: each waits about a second for its verification mail."""
        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(lambda _i: self.create_verified_user(), range(count)))

    def verified_user(self) -> tuple[str, str, dict]:
        """What `create_verified_user()` returns, for a test of its own, taken from a batch of
        USER_BATCH made side by side: most tests then skip the second of waiting for the mail.
        The login is a few seconds old at most; use `create_verified_user` when that matters."""
        with _USER_POOL_LOCK:
            pool = self.__dict__.setdefault("_user_pool", [])
            if not pool:
                pool.extend(self.create_verified_users(USER_BATCH))
            return pool.pop()

    def verified_users(self, count: int) -> list[tuple[str, str, dict]]:
        return [self.verified_user() for _ in range(count)]

    # ------------------------------------------------------------ jobs and admin

    def create_job(self, access: str | None, body, idempotency_key: str | None) -> requests.Response:
        """POST /v1/jobs; no Idempotency-Key header when `idempotency_key` is None."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        return self.post("/v1/jobs", body, access=access, headers=headers)

    def job(self, access: str | None, id: str) -> requests.Response:
        return self.get(f"/v1/jobs/{urllib.parse.quote(id, safe='')}", access=access)

    def jobs(self, access: str | None, status: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> requests.Response:
        return self.get("/v1/jobs", access=access, params=self._page_params(limit, cursor, status=status))

    def redeliver_job(self, access: str | None, id: str) -> requests.Response:
        """POST /v1/dev/jobs/{id}/redeliver (development only)."""
        return self.post(f"/v1/dev/jobs/{urllib.parse.quote(id, safe='')}/redeliver", access=access)

    def job_stats(self, access: str | None) -> requests.Response:
        return self.get("/v1/admin/jobs/stats", access=access)

    def submit_job(self, access: str, kind: str, input, idempotency_key: str | None = None) -> dict:
        """A new job (202), under a fresh Idempotency-Key unless one is given; the Job."""
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        resp = self.create_job(access, {"kind": kind, "input": input}, key)
        assert resp.status_code == 202, f"create job: {resp.status_code} {resp.text[:300]}"
        return resp.json()

    def wait_for_job(self, access: str, id: str, statuses=("succeeded", "failed"),
                     timeout: float = 20) -> dict:
        """Poll GET /v1/jobs/{id} until the job's status is one of `statuses`; the Job."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            resp = self.job(access, id)
            assert resp.status_code == 200, f"get job: {resp.status_code} {resp.text[:300]}"
            job = resp.json()
            if not seen or seen[-1] != job["status"]:
                seen.append(job["status"])
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {id} not {statuses} within {timeout}s; statuses seen {seen}; "
                                     f"last {job}")
            time.sleep(0.2)

    def job_stats_json(self, access: str) -> dict:
        resp = self.job_stats(access)
        assert resp.status_code == 200, f"job stats: {resp.status_code} {resp.text[:300]}"
        return resp.json()

    def create_verified_user_with_email(self, email: str, name: str | None = None) -> tuple[str, str, dict]:
        """Like `create_verified_user`, at a given address (e.g. one named in ADMIN_EMAILS)."""
        password = new_password()
        resp = self.register(email, password, name=name)
        assert resp.status_code == 201, f"register: {resp.status_code} {resp.text[:300]}"
        resp = self.verify_email(self.token_from_mail(self.wait_for_mail(email, "Verify")))
        assert resp.status_code == 200, f"verify-email: {resp.status_code} {resp.text[:300]}"
        resp = self.login(email, password)
        assert resp.status_code == 200, f"login: {resp.status_code} {resp.text[:300]}"
        return email, password, resp.json()

    # ------------------------------------------------------------ crash and restart

    def kill(self) -> None:
        """SIGKILL the whole wrangler process group at once (a crash: nothing shuts down cleanly)
        and wait until it is gone. The state directory stays, for `restart()`."""
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 5
        try:
            while time.monotonic() < deadline:
                os.killpg(pgid, signal.SIGKILL)
                time.sleep(0.05)
        except ProcessLookupError:
            pass
        self._drain_thread.join(timeout=5)

    def restart(self) -> None:
        """Start `wrangler dev` again with the same command (port, env file, state directory),
        killing the running one first if there is one, and wait until it is healthy."""
        if self.proc.poll() is None:
            self.kill()
        self._restarts = getattr(self, "_restarts", 0) + 1
        log_path = self.work_dir / f"wrangler.restart-{self._restarts}.log"
        proc = subprocess.Popen(
            self.proc.args, cwd=ROOT, env=_wrangler_env(self.vars, self.work_dir),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        drain = threading.Thread(target=_drain, args=(proc.stdout, log_path, self.log_tail), daemon=True)
        drain.start()
        self.proc, self._drain_thread, self.log_path = proc, drain, log_path
        _wait_until_healthy(self.base_url, proc, self.log_tail)

    # ------------------------------------------------------------ life cycle

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        # workerd may outlive wrangler: sweep whatever is left of the group, and wait until it is
        # gone so that its ports are free again.
        deadline = time.monotonic() + 5
        try:
            os.killpg(pgid, signal.SIGKILL)
            while time.monotonic() < deadline:
                os.killpg(pgid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._drain_thread.join(timeout=5)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.env_file.unlink(missing_ok=True)
        if os.environ.get("EDGEWARD_E2E_KEEP_LOGS"):
            print(f"wrangler log kept at {self.log_path}")
        else:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def _signing_keys(kid: str, key: Ed25519PrivateKey) -> str:
    d = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                          serialization.NoEncryption())
    x = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "kid": kid, "d": b64url(d), "x": b64url(x)}
    return json.dumps({"keys": [jwk]}, separators=(",", ":"))


def _write_env_file(path: Path, file_vars: dict[str, str]) -> None:
    lines = []
    for key, value in file_vars.items():
        assert "\n" not in value and "'" not in value, f"cannot put {key} in an env file"
        lines.append(f"{key}='{value}'")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")


def _apply_migrations(state_dir: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(WRANGLER), "d1", "migrations", "apply", "DB", "--local", "--persist-to", str(state_dir)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=MIGRATIONS_TIMEOUT_S)
    if result.returncode != 0:
        out = result.stdout.decode("utf-8", errors="replace")[-6000:]
        raise AppStartError(f"wrangler d1 migrations apply exited {result.returncode}:\n{out}")


# `wrangler d1 migrations apply` starts a local runtime of its own and takes 5-20 s on 2 cores:
# it runs once per run, into a template, and every server starts from a copy of it (the same
# files the command would have written, its d1_migrations table included). The run's main
# process names the template's directory in MIGRATED_DIR_ENV (`pytest_configure`), so that
# pytest-xdist's workers, which inherit it, share one template, made by whichever asks first
# (a file lock); the main process removes it at the end.
MIGRATED_DIR_ENV = "EDGEWARD_E2E_MIGRATED_DIR"
_MIGRATED_TEMPLATE: Path | None = None
_MIGRATED_TEMPLATE_LOCK = threading.Lock()


def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        work_dir = tempfile.mkdtemp(prefix="edgeward-e2e-migrated-")
        config.add_cleanup(lambda: shutil.rmtree(work_dir, ignore_errors=True))
        os.environ[MIGRATED_DIR_ENV] = work_dir


def _migrated_state_template(env: dict[str, str]) -> Path:
    global _MIGRATED_TEMPLATE
    with _MIGRATED_TEMPLATE_LOCK:
        if _MIGRATED_TEMPLATE is None:
            named = os.environ.get(MIGRATED_DIR_ENV)
            if named:
                work_dir = Path(named)
            else:  # spawn_app outside pytest
                work_dir = Path(tempfile.mkdtemp(prefix="edgeward-e2e-migrated-"))
                atexit.register(shutil.rmtree, work_dir, True)
            template = work_dir / "state"
            with open(work_dir / "lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (work_dir / "done").exists():
                    shutil.rmtree(template, ignore_errors=True)
                    template.mkdir()
                    _apply_migrations(template, env)
                    (work_dir / "done").touch()
            _MIGRATED_TEMPLATE = template
        return _MIGRATED_TEMPLATE


def _fresh_migrated_state(state_dir: Path, env: dict[str, str]) -> None:
    """`state_dir` as `wrangler d1 migrations apply` leaves a new one: a copy of the template
    (the database with its write-ahead log; nothing holds them open)."""
    shutil.copytree(_migrated_state_template(env), state_dir, dirs_exist_ok=True)


def _wait_until_healthy(base_url: str, proc: subprocess.Popen, tail: collections.deque) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AppStartError(f"wrangler dev exited with {proc.returncode} during startup:\n"
                                + "\n".join(list(tail)[-LOG_TAIL_LINES:]))
        try:
            resp = requests.get(base_url + "/health", timeout=2)
            if resp.status_code == 200:
                return
            last = f"GET /health -> {resp.status_code}"
        except requests.RequestException as exc:
            last = f"GET /health: {type(exc).__name__}"
        time.sleep(0.25)
    raise AppStartError(f"not healthy within {STARTUP_TIMEOUT_S}s ({last}):\n"
                        + "\n".join(list(tail)[-LOG_TAIL_LINES:]))


def spawn_app(**overrides) -> App:
    """Start a fresh Edgeward (own state, own signing key) with env-file overrides, e.g.
    `spawn_app(REFRESH_REUSE_WINDOW_SECONDS=2)`. The caller must `stop()` it.

    A free port is found by binding port 0 and releasing it, so another process can take it
    before wrangler binds it; such a start is retried on fresh ports."""
    for attempt in range(3):
        try:
            return _spawn_once(**overrides)
        except AppStartError as exc:
            if "Address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _spawn_once(**overrides) -> App:
    if not WRANGLER.exists():
        raise AppStartError(f"{WRANGLER} is missing: install the project's npm dependencies first")
    work_dir = Path(tempfile.mkdtemp(prefix="edgeward-e2e-"))
    state_dir = work_dir / "state"
    state_dir.mkdir()
    env_file = work_dir / "test.env"
    log_path = work_dir / "wrangler.log"

    port, inspector_port = _free_ports(2)
    base_url = f"http://127.0.0.1:{port}"
    kid = f"test-{uuid.uuid4().hex[:12]}"
    signing_key = Ed25519PrivateKey.generate()
    # Not a Worker var: the wrangler log level of this server ("log" to see the Worker's lines).
    log_level = overrides.pop("E2E_LOG_LEVEL", None) or os.environ.get("EDGEWARD_E2E_LOG_LEVEL", "warn")
    file_vars = {**DEFAULT_VARS, "APP_BASE_URL": base_url}
    file_vars.update({k: str(v) for k, v in overrides.items()})
    file_vars["JWT_SIGNING_KEYS"] = _signing_keys(kid, signing_key)

    proc = None
    try:
        _write_env_file(env_file, file_vars)
        env = _wrangler_env(file_vars, work_dir)
        _fresh_migrated_state(state_dir, env)
        proc = subprocess.Popen(
            [str(WRANGLER), "dev", "--ip", "127.0.0.1", "--port", str(port),
             "--inspector-port", str(inspector_port), "--persist-to", str(state_dir),
             "--env-file", str(env_file), "--show-interactive-dev-session=false",
             "--log-level", log_level],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        tail: collections.deque = collections.deque(maxlen=400)
        drain = threading.Thread(target=_drain, args=(proc.stdout, log_path, tail), daemon=True)
        drain.start()
        app = App(base_url=base_url, vars=file_vars, signing_key=signing_key, kid=kid, proc=proc,
                  work_dir=work_dir, state_dir=state_dir, env_file=env_file, log_path=log_path,
                  log_tail=tail, drain_thread=drain)
        atexit.register(app.stop)  # a safety net for interrupted runs; stop() is idempotent
        try:
            _wait_until_healthy(base_url, proc, tail)
        except BaseException:
            app.stop()
            raise
        return app
    except BaseException:
        if proc is None:
            shutil.rmtree(work_dir, ignore_errors=True)
        raise


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def app_factory():
    """`app_factory(**overrides)` spawns a dedicated server, stopped at the end of the session,
    with `GENEROUS_RATE_LIMITS` under the overrides. Each one costs seconds: keep the whole suite
    at about six servers."""
    apps: list[App] = []

    def factory(**overrides) -> App:
        try:
            app = spawn_app(**{**GENEROUS_RATE_LIMITS, **overrides})
        except AppStartError as exc:
            pytest.fail(str(exc), pytrace=False)
        apps.append(app)
        return app

    yield factory
    if apps:  # side by side: each takes a second or two to shut down
        with ThreadPoolExecutor(max_workers=len(apps)) as pool:
            list(pool.map(App.stop, apps))


@pytest.fixture(scope="session")
def app(app_factory) -> App:
    """The server the ordinary tests share; every test makes its own users."""
    return app_factory()


@pytest.fixture(scope="session")
def short_reuse_window_app(app_factory) -> App:
    """A server whose refresh-token reuse window is 2 s, so 'after the window' is quick to reach."""
    return app_factory(REFRESH_REUSE_WINDOW_SECONDS=2)


@pytest.fixture(scope="session")
def reauth_app(app_factory) -> App:
    """A server whose step-up window is 3 s: a sensitive action needs a sign-in or
    reauthentication at most that old."""
    return app_factory(REAUTH_WINDOW_SECONDS=3)


@pytest.fixture(scope="session")
def lockout_app(app_factory) -> App:
    """A server that locks an account after 5 failed logins for 3 s, doubling up to 6 s."""
    return app_factory(LOCKOUT_THRESHOLD=5, LOCKOUT_BASE_SECONDS=3, LOCKOUT_MAX_SECONDS=6)


PER_USER_LIMIT = "2/60"
HASH_QUEUE = 4  # capped_app's password-hashing queue


@pytest.fixture(scope="session")
def rate_limited_app(app_factory) -> App:
    """A server with a few low limits (the others generous): login 3 per 4 s per IP, register 2
    per minute per IP (/64 for IPv6, and so 8 per /48) and per e-mail, forgot and resend 2 per
    minute per e-mail, and every per-user write limit at 2 per minute. Lockout keeps its default
    of 5 failures."""
    per_user = {name: PER_USER_LIMIT for name in PER_USER_RATE_LIMIT_VARS}
    return app_factory(RATE_LIMIT_LOGIN_IP="3/4", RATE_LIMIT_REGISTER_IP="2/60",
                       RATE_LIMIT_REGISTER_EMAIL="2/60", RATE_LIMIT_FORGOT_EMAIL="2/60",
                       RATE_LIMIT_RESEND_EMAIL="2/60", **per_user)


@pytest.fixture(scope="session")
def capped_app(app_factory) -> App:
    """A server with per-user caps of 2 (open tickets, unfinished jobs, live streams, sockets) and
    a password-hashing gate of one operation at a time with 4 more waiting: a burst of password
    operations beyond that is shed. Make its users one at a time (`create_verified_user`)."""
    return app_factory(MAX_TICKETS_PER_USER=2, MAX_QUEUED_JOBS_PER_USER=2,
                       MAX_LIVE_STREAMS_PER_USER=2, MAX_SOCKETS_PER_USER=2,
                       PASSWORD_HASH_CONCURRENCY=1, PASSWORD_HASH_QUEUE=HASH_QUEUE)


@pytest.fixture(scope="session")
def purge_app(app_factory) -> App:
    """A server whose cron purges a deleted account and a deleted workspace at once (no grace
    period) and an unverified account once it is over 3 s old."""
    return app_factory(DELETION_GRACE_SECONDS=0, WORKSPACE_DELETION_GRACE_SECONDS=0,
                       UNVERIFIED_ACCOUNT_MAX_AGE_SECONDS=3)


@pytest.fixture(scope="session")
def fake_range_api_server():
    server = FakeRangeApi()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def breach_app(app_factory, fake_range_api_server) -> App:
    """A server that checks new passwords against the local fake range API, giving up after 500 ms."""
    return app_factory(BREACHED_PASSWORDS_API_URL=fake_range_api_server.url,
                       BREACHED_PASSWORDS_TIMEOUT_MS=500)


@pytest.fixture
def range_api(fake_range_api_server) -> FakeRangeApi:
    """The fake range API behind `breach_app`, emptied and answering normally again for this test."""
    fake_range_api_server.reset()
    return fake_range_api_server


# The files that take longest (schemathesis alone is a fifth of the suite), run first: under
# pytest-xdist's `--dist loadfile` (scripts/test) each worker takes the next whole file in this
# order, so no worker is left with a long file at the end while the others idle. The other
# files keep their order, as does every file's own tests.
SLOW_FILES_FIRST = (
    "test_contract_fuzz.py", "test_admin.py", "test_passkeys.py", "test_revocation_everywhere.py",
    "test_browser_chromium.py", "test_session_controls.py", "test_deploy_config.py",
    "test_workspaces.py", "test_lockout.py", "test_jobs_retries.py", "test_account_enumeration.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


_FIGURES: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    """Collect the figures a test recorded (`record_property("figures", text)`). Under
    pytest-xdist this runs in the controlling process too, which alone prints the summary."""
    if report.when == "call":
        _FIGURES.extend((report.nodeid, value) for name, value in report.user_properties
                        if name == "figures")


def pytest_terminal_summary(terminalreporter):
    for nodeid, text in _FIGURES:
        terminalreporter.write_sep("-", f"figures: {nodeid}")
        terminalreporter.write_line(text)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of the server log to a failing test's report."""
    report = yield
    if report.when == "call" and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, App):
                report.sections.append((f"wrangler log tail ({name})",
                                        "\n".join(list(value.log_tail)[-LOG_TAIL_LINES:])))
    return report

"""Pure helpers for the end-to-end suite: unique test data, response assertions, JWT forging.

Nothing here starts a server or talks to the network; `conftest.py` owns the running app.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PROBLEM_FIELDS = ("type", "title", "status", "detail", "code", "request_id")
USER_FIELDS = {"id", "email", "name", "status", "email_verified", "created_at", "version"}
TOKEN_RESPONSE_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token", "session_id", "user"}
SESSION_FIELDS = {"id", "device_name", "ip", "user_agent", "created_at", "last_used_at", "current"}
USER_STATUSES = {"pending_verification", "active", "deactivated", "pending_deletion"}
PROFILE_FIELDS = {"locale", "timezone", "avatar_url"}
AUDIT_EVENT_FIELDS = {"id", "type", "ip", "user_agent", "session_id", "request_id", "created_at"}


# ---------------------------------------------------------------- test data

def unique_email(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.test"


def client_ip() -> str:
    """A random client address in 100.64.0.0/10 (shared address space): never one of the
    per-request addresses the App picks by itself (198.18.0.0/15), so a test that names its client
    has a rate-limit bucket of its own."""
    return f"100.{64 + secrets.randbelow(64)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def from_ip(ip: str | None = None, **headers) -> dict:
    """Request headers of a client at `ip` (a fresh `client_ip()` when omitted)."""
    return {"CF-Connecting-IP": ip or client_ip(), **headers}


def new_password(length: int = 20) -> str:
    """A random password of exactly `length` characters (random, so no 'common password' rule trips)."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_!"
    return "".join(secrets.choice(alphabet) for _ in range(length))


# ---------------------------------------------------------------- encodings

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def decode_unverified(token: str) -> tuple[dict, dict]:
    """(header, claims) of a compact JWS, without checking anything."""
    header, payload, _sig = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


# ---------------------------------------------------------------- forging tokens

def sign_eddsa(key: Ed25519PrivateKey, header: dict, claims: dict) -> str:
    signing_input = _segment(header) + "." + _segment(claims)
    return signing_input + "." + b64url(key.sign(signing_input.encode()))


def sign_hs256(secret: bytes, header: dict, claims: dict) -> str:
    signing_input = _segment(header) + "." + _segment(claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def unsigned(header: dict, claims: dict) -> str:
    return _segment(header) + "." + _segment(claims) + "."


# ---------------------------------------------------------------- assertions

def media_type(resp: requests.Response) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def describe(resp: requests.Response) -> str:
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:800]!r}"


def assert_status(resp: requests.Response, status: int) -> None:
    assert resp.status_code == status, f"expected {status}: {describe(resp)}"


def assert_json(resp: requests.Response, status: int):
    assert_status(resp, status)
    assert media_type(resp) == "application/json", describe(resp)
    assert resp.headers.get("X-Request-Id"), f"no X-Request-Id: {describe(resp)}"
    return resp.json()


def assert_problem(resp: requests.Response, status: int, code: str | None = None) -> dict:
    """An RFC 9457 problem with Edgeward's fields; returns the body."""
    assert_status(resp, status)
    assert media_type(resp) == "application/problem+json", describe(resp)
    assert resp.headers.get("X-Request-Id"), f"no X-Request-Id: {describe(resp)}"
    body = resp.json()
    missing = [f for f in PROBLEM_FIELDS if f not in body]
    assert not missing, f"problem lacks {missing}: {describe(resp)}"
    assert body["status"] == status, describe(resp)
    assert body["type"] == f"urn:edgeward:problem:{body['code']}", describe(resp)
    if code is not None:
        assert body["code"] == code, f"expected code {code!r}: {describe(resp)}"
    if status == 401:
        assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), \
            f"401 without WWW-Authenticate: Bearer: {describe(resp)}"
    return body


def assert_uuid(value) -> None:
    assert isinstance(value, str), value
    uuid.UUID(value)


def parse_utc(value) -> datetime:
    """An RFC 3339 timestamp in UTC."""
    assert isinstance(value, str), value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0), f"not UTC: {value}"
    return parsed


def assert_user(user: dict, *, email: str | None = None, status: str | None = None,
                email_verified: bool | None = None) -> None:
    assert USER_FIELDS <= set(user), f"user lacks {USER_FIELDS - set(user)}: {user}"
    assert_uuid(user["id"])
    assert user["status"] in USER_STATUSES, user
    assert isinstance(user["email_verified"], bool), user
    assert isinstance(user["version"], int), user
    parse_utc(user["created_at"])
    if email is not None:
        assert user["email"] == email, user
    if status is not None:
        assert user["status"] == status, user
    if email_verified is not None:
        assert user["email_verified"] is email_verified, user


def assert_token_response(body: dict, *, access_ttl: int, email: str | None = None) -> None:
    assert TOKEN_RESPONSE_FIELDS <= set(body), f"token response lacks {TOKEN_RESPONSE_FIELDS - set(body)}"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == access_ttl
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str) and body["refresh_token"]
    assert_uuid(body["session_id"])
    assert_user(body["user"], email=email)


def shape(value):
    """The JSON type structure of a value (keys and types, not contents)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def without_request_id(problem: dict) -> dict:
    return {k: v for k, v in problem.items() if k != "request_id"}


def assert_rate_limited(resp: requests.Response) -> int:
    """A 429 `rate_limited` problem with `Retry-After: <integer seconds >= 1>`; returns the seconds."""
    assert_problem(resp, 429, "rate_limited")
    retry_after = resp.headers.get("Retry-After", "")
    assert re.fullmatch(r"[1-9][0-9]*", retry_after), f"Retry-After {retry_after!r}: {describe(resp)}"
    return int(retry_after)


def assert_not_rate_limited(resp: requests.Response) -> None:
    assert resp.status_code != 429, f"rate limited: {describe(resp)}"


# ---------------------------------------------------------------- concurrency

def run_in_parallel(action, count: int) -> list:
    """`action(i)` for i in range(count), all released at the same moment from their own threads;
    the results in order of i."""
    start = threading.Barrier(count)

    def run(i):
        start.wait(timeout=30)
        return action(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))

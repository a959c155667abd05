"""Schemathesis hooks for test_contract_fuzz.py (loaded by `st run` through SCHEMATHESIS_HOOKS):
every generated request is authenticated as a verified user the test made.

Two users, handed over in the environment by the test:
- the main one (EDGEWARD_FUZZ_ACCESS, an admin) for every operation but those that end sessions;
- a disposable one (EDGEWARD_FUZZ_SPARE_EMAIL / _PASSWORD) logged in afresh for each case of an
  operation that ends sessions (log out, sign out everywhere, revoke a session): such a case
  ends only that fresh session or the spare user's, never the main user's, so later cases stay
  authenticated.
Each request also comes from its own client address (CF-Connecting-IP), as in the e2e harness, so
per-IP limits never couple cases.
"""
from __future__ import annotations

import itertools
import os
import random

import requests
import schemathesis

# Operations whose success revokes the presenting session, all of the user's sessions, or one
# named by id (schemathesis reuses ids from earlier responses: the main session's among them).
SESSION_ENDING = {"POST /v1/auth/logout", "DELETE /v1/auth/sessions", "DELETE /v1/auth/sessions/{id}"}
_CLIENT_IPS = itertools.count(random.randrange(1 << 16))


def _client_ip() -> str:
    # 198.19.0.0/16: the other half of the benchmarking range the e2e harness walks.
    n = next(_CLIENT_IPS) % (1 << 16)
    return f"198.19.{(n >> 8) & 0xFF}.{n & 0xFF}"


def _fresh_spare_access() -> str:
    resp = requests.post(
        os.environ["EDGEWARD_FUZZ_BASE_URL"] + "/v1/auth/login",
        json={"email": os.environ["EDGEWARD_FUZZ_SPARE_EMAIL"],
              "password": os.environ["EDGEWARD_FUZZ_SPARE_PASSWORD"]},
        headers={"CF-Connecting-IP": _client_ip()}, timeout=30)
    resp.raise_for_status()
    return resp.json()["access_token"]


@schemathesis.auth()
class EdgewardBearer:
    def get(self, case, ctx):
        return os.environ["EDGEWARD_FUZZ_ACCESS"]

    def set(self, case, data, ctx):
        token = _fresh_spare_access() if case.operation.label in SESSION_ENDING else data
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"
        case.headers["CF-Connecting-IP"] = _client_ip()


# Schema-valid requests the server may still refuse for reasons no schema can state, each with
# the exact problem it must then be: (operation, status, code, detail: exact, a prefix ending in `*`, or None for any).
STATE_REJECTIONS = {
    # A well-formed token that was never issued, has expired or was used: only the server's
    # records tell it from a live one.
    ("POST /v1/auth/verify-email", 400, "invalid_request", "the token is invalid, expired or already used"),
    ("POST /v1/auth/password/reset", 400, "invalid_request", "the token is invalid, expired or already used"),
    ("POST /v1/invitations/accept", 400, "invalid_invitation",
     "the invitation is unknown, already used, revoked or expired; ask for a new one"),
    # The password policy (common passwords, the account's own address, breach corpus) is a
    # list and a lookup, described in the document but not expressible as a schema.
    ("POST /v1/auth/register", 400, "weak_password", None),
    ("POST /v1/auth/password/reset", 400, "weak_password", None),
    ("POST /v1/auth/password/change", 400, "weak_password", None),
    # The refresh token comes in the body or in the refresh cookie (cookie mode); OpenAPI cannot
    # require one of a body property and a cookie, so `{}` without the cookie is schema-valid.
    ("POST /v1/auth/refresh", 400, "invalid_request",
     "invalid body: missing field `refresh_token` (or the refresh cookie)"),
    # Whether the account has a second factor (or only a pending one) decides which proof counts.
    ("POST /v1/auth/reauthenticate", 400, "invalid_request",
     "this account has a second factor: reauthenticate with `code` or a passkey `credential`"),
    ("POST /v1/auth/reauthenticate", 400, "invalid_request",
     "this account has no second factor: reauthenticate with `password` or a passkey `credential`"),
    # A passkey credential's base64url members hold bytes (client data JSON, CBOR, DER) that
    # only the authenticator that made them can get right: generated ones are malformed.
    ("POST /v1/auth/reauthenticate", 400, "invalid_request", "invalid credential: *"),
    ("POST /v1/me/passkeys", 400, "invalid_request", "invalid credential: *"),
    ("POST /v1/auth/passkeys/verify", 400, "invalid_request", "invalid credential: *"),
    ("DELETE /v1/me/mfa/totp", 400, "invalid_request", "a pending enrolment is cancelled with the password"),
    # A one-time OAuth code exists only once the provider's callback has issued it.
    ("POST /v1/auth/oauth/token", 400, "invalid_grant", None),
    # An API key's expiry must lie in the future: a time rule no schema can state.
    ("POST /v1/admin/api-keys", 400, "invalid_request",
     "expires_at is an RFC 3339 time in the next ten years (omit it for a key that does not expire)"),
    # The admin lookup by external identity needs `provider` and `subject` together: a pairing of
    # query parameters that OpenAPI cannot state.
    ("GET /v1/admin/users", 400, "invalid_request",
     "provider and subject go together (a provider id and the identity's subject)"),
    # Who owns the stream is state: the generated tip may target the caller's own stream.
    ("POST /v1/streams/{id}/tips", 400, "invalid_request", "you cannot tip your own stream"),
}
# Generated requests reuse Idempotency-Key values (the document's example among them) with other
# bodies; the server must then refuse with 422 idempotency_key_mismatch, which is not a rejection
# of the body's shape.
IDEMPOTENT_OPERATIONS = ("POST /v1/streams/{id}/tips", "POST /v1/jobs", "POST /v1/dev/credits",
                         "POST /v1/admin/credits")
STATE_REJECTIONS |= {(label, 422, "idempotency_key_mismatch", None) for label in IDEMPOTENT_OPERATIONS}
REJECTING_STATUSES = {400, 413, 415, 422}


def _problem(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@schemathesis.check
def edgeward_positive_data_acceptance(ctx, response, case):
    """A request the document calls valid (schemathesis' positive mode) is not refused as bad
    input: no 400/413/415/422, except the listed state-dependent refusals."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status not in REJECTING_STATUSES:
        return None
    problem = _problem(response)
    for label, allowed_status, code, detail in STATE_REJECTIONS:
        if (label == case.operation.label and status == allowed_status and problem.get("code") == code
                and (detail is None or problem.get("detail") == detail
                     or (detail.endswith("*") and str(problem.get("detail", "")).startswith(detail[:-1])))):
            return None
    raise AssertionError(f"a schema-valid request was refused with {status} "
                         f"{problem.get('code')!r}: {problem.get('detail')!r}")


@schemathesis.check
def edgeward_status_census(ctx, response, case):
    """Not a check: appends `<operation>\t<mode>\t<status>\t<code>` per response to the file
    EDGEWARD_FUZZ_CENSUS names, for the test's figures."""
    path = os.environ.get("EDGEWARD_FUZZ_CENSUS")
    if path:
        mode = case.meta.generation.mode.value if case.meta is not None else "-"
        code = _problem(response).get("code", "") if response.status_code >= 400 else ""
        with open(path, "a") as f:
            f.write(f"{case.operation.label}\t{mode}\t{response.status_code}\t{code}\n")
    return None

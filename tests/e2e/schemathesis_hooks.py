"""Schemathesis hooks for test_contract_fuzz.py (loaded by `st run` through SCHEMATHESIS_HOOKS):
every generated request is authenticated as a verified user the test made.

Two users, handed over in the environment by the test:
- the main one (EDGEWARD_FUZZ_ACCESS, an admin) for every operation but those that end sessions;
- a disposable one (EDGEWARD_FUZZ_SPARE_EMAIL / _PASSWORD) logged in afresh for each case of an
  operation that ends sessions (log out, sign out everywhere): such a case ends only that fresh
  session or the spare user's, never the main user's, so later cases stay authenticated.
Each request also comes from its own client address (CF-Connecting-IP), as in the e2e harness, so
per-IP limits never couple cases.
"""
from __future__ import annotations

import itertools
import os
import random

import requests
import schemathesis

# Operations whose success revokes the presenting session or all of the user's sessions.
SESSION_ENDING = {"POST /v1/auth/logout", "DELETE /v1/auth/sessions"}
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

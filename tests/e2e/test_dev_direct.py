"""`EDGEWARD_DIRECT=1 ./scripts/dev`: the same Worker, config and state served directly in workerd
(bench/direct.mjs), without wrangler dev's proxy. Started as a developer would, with PORT and
EDGEWARD_STATE_DIR; a full account flow through the dev mailbox, then a scheduled run.

The script's build step is skipped (EDGEWARD_SKIP_BUILD=1, the suite's build is used), and it
writes .dev.vars from config/development.vars as it always does (keeping its signing key).
"""
import collections
import os
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import ROOT, SCHEDULED_CRON, TOKEN_IN_LINK, WRANGLER_ENV, _drain, _free_ports
from e2e_support import client_ip, new_password, unique_email

STARTUP_TIMEOUT_S = 180
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def direct_dev(tmp_path_factory):
    work = tmp_path_factory.mktemp("direct-dev")
    state = work / "state"
    (port,) = _free_ports(1)
    env = {**os.environ, **WRANGLER_ENV, "EDGEWARD_DIRECT": "1", "PORT": str(port),
           "EDGEWARD_STATE_DIR": str(state), "EDGEWARD_LOG_LEVEL": "info"}
    proc = subprocess.Popen([str(ROOT / "scripts" / "dev")], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    tail = collections.deque(maxlen=400)
    drain = threading.Thread(target=_drain, args=(proc.stdout, work / "dev.log", tail), daemon=True)
    drain.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while not any(line.startswith(f"ready {base}") for line in list(tail)):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("EDGEWARD_DIRECT=1 ./scripts/dev did not start:\n" + "\n".join(tail), pytrace=False)
            time.sleep(0.2)
        yield base, state, tail
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        drain.join(timeout=5)


def _get(base, path, **kw):
    return requests.get(base + path, timeout=TIMEOUT_S, headers={"CF-Connecting-IP": client_ip(), **kw.pop("headers", {})}, **kw)


def _post(base, path, body, **kw):
    return requests.post(base + path, json=body, timeout=TIMEOUT_S,
                         headers={"CF-Connecting-IP": client_ip(), **kw.pop("headers", {})}, **kw)


def test_direct_dev_serves_on_port_with_state_in_the_given_directory(direct_dev):
    base, state, tail = direct_dev
    resp = _get(base, "/health")
    assert resp.status_code == 200, resp.text
    assert resp.json().get("status") == "ok", resp.text
    # wrangler's --persist-to layout, so `./scripts/dev` without EDGEWARD_DIRECT serves this state too
    assert list((state / "v3" / "d1").glob("*/*.sqlite")), f"no D1 database under {state}/v3/d1"
    # served by workerd directly: no wrangler dev process in the script's output
    assert not any("Ready on http" in line for line in tail), "\n".join(tail)
    # the static pages of [assets] are served before the Worker, as under wrangler dev
    resp = _get(base, "/docs")
    assert resp.status_code == 200, resp.text[:300]
    assert "text/html" in resp.headers.get("content-type", ""), resp.headers
    # run_worker_first: the Worker answers /openapi.json from the assets, with its request id
    resp = _get(base, "/openapi.json")
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["openapi"].startswith("3.1")
    assert resp.headers.get("X-Request-Id"), resp.headers


def test_direct_dev_register_mailbox_verify_login_and_me(direct_dev):
    base, _, _ = direct_dev
    email, password = unique_email("direct"), new_password()
    resp = _post(base, "/v1/auth/register", {"email": email, "password": password, "name": "Direct"})
    assert resp.status_code == 201, resp.text

    deadline = time.monotonic() + TIMEOUT_S
    while True:  # mail goes through the queue to the dev mailbox
        resp = _get(base, "/v1/dev/mailbox", params={"to": email})
        assert resp.status_code == 200, resp.text
        verify = [m for m in resp.json()["messages"] if "verify" in m["subject"].lower()]
        if verify:
            break
        assert time.monotonic() < deadline, f"no verification mail within {TIMEOUT_S}s: {resp.text[:300]}"
        time.sleep(0.2)
    match = TOKEN_IN_LINK.search(verify[0]["text"])
    assert match, verify[0]["text"]
    resp = _post(base, "/v1/auth/verify-email", {"token": urllib.parse.unquote(match.group(1))})
    assert resp.status_code == 200, resp.text

    resp = _post(base, "/v1/auth/login", {"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    access = resp.json()["access_token"]
    resp = _get(base, "/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["email"] == email
    assert resp.json()["email_verified"] is True
    assert _get(base, "/v1/me").status_code == 401


def test_direct_dev_runs_the_scheduled_handler_on_request(direct_dev):
    base, _, tail = direct_dev
    before = len([line for line in list(tail) if '"msg":"cron"' in line.replace(" ", "")])
    cron = urllib.parse.quote_plus(SCHEDULED_CRON, safe="*/")
    resp = _get(base, f"/cdn-cgi/local/scheduled?cron={cron}")
    assert resp.status_code == 200, resp.text
    # the handler logged its steps (at info level), under the cron expression it was given
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in list(tail) if '"msg":"cron"' in line.replace(" ", "")]
        if len(lines) > before and any(SCHEDULED_CRON in line for line in lines[before:]):
            break
        assert time.monotonic() < deadline, "no cron log line after the scheduled run:\n" + "\n".join(list(tail)[-40:])
        time.sleep(0.1)

"""A plain `wrangler deploy` is safe: wrangler.toml's top-level vars are production's, the deploy
check (`scripts/check-deploy.mjs`, run by ./scripts/test) refuses anything development-only, and a
Worker running with production vars has no development doors."""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN_DIR, ROOT, read_vars_file
from e2e_support import assert_problem

CHECK = ROOT / "scripts" / "check-deploy.mjs"


def _check(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN_DIR / "node"), str(CHECK), "--config", str(config)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)


def _with_vars(tmp_name: str, replacements: dict[str, str]) -> Path:
    """A copy of wrangler.toml beside it (so `main` resolves alike) with some [vars] changed."""
    text = (ROOT / "wrangler.toml").read_text()
    for name, value in replacements.items():
        text, n = re.subn(rf'(?m)^{name} = ".*"$', f'{name} = "{value}"', text)
        assert n == 1, name
    path = ROOT / tmp_name
    path.write_text(text)
    return path


def test_the_committed_wrangler_toml_passes_the_deploy_check():
    result = _check(ROOT / "wrangler.toml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ENVIRONMENT=production" in result.stdout


@pytest.mark.parametrize("replacements, finding", [
    ({"ENVIRONMENT": "development"}, "ENVIRONMENT"),
    ({"EMAIL_PROVIDER": "log"}, "EMAIL_PROVIDER is log"),
    ({"BREACHED_PASSWORDS_API_URL": "off"}, "BREACHED_PASSWORDS_API_URL is off"),
    ({"APP_BASE_URL": "http://127.0.0.1:8787"}, "APP_BASE_URL"),
], ids=["development environment", "log mail provider", "breach check off", "local app url"])
def test_the_deploy_check_refuses_development_values(replacements, finding):
    config = _with_vars(f".wrangler-check-{os.getpid()}.toml", replacements)
    try:
        result = _check(config)
    finally:
        config.unlink()

    assert result.returncode == 1, result.stdout + result.stderr
    assert finding in result.stderr, result.stderr


def test_the_development_values_live_only_in_the_local_vars_file():
    toml = (ROOT / "wrangler.toml").read_text()
    dev = read_vars_file(ROOT / "config" / "development.vars")

    assert dev["ENVIRONMENT"] == "development" and dev["EMAIL_PROVIDER"] == "log"
    assert re.search(r'(?m)^ENVIRONMENT = "production"$', toml)
    assert not re.search(r'(?m)^EMAIL_PROVIDER = "log"$', toml)


# What production's wrangler.toml leaves empty, so that it follows APP_BASE_URL (the local vars
# file has development values there that production refuses, e.g. an http passkey origin).
PRODUCTION_DERIVED = {"WEBAUTHN_RP_ID": "", "WEBAUTHN_ORIGINS": ""}


@pytest.fixture(scope="module")
def production_app(app_factory):
    """A server with production's vars: https links, the HTTP mail provider (never reached here)."""
    return app_factory(**PRODUCTION_DERIVED, ENVIRONMENT="production", EMAIL_PROVIDER="resend",
                       EMAIL_API_KEY="re_test", EMAIL_API_URL="http://127.0.0.1:9", APP_BASE_URL="https://app.example.test",
                       ALLOWED_ORIGINS="https://app.example.test")


@pytest.mark.parametrize("method, path", [("GET", "/v1/dev/mailbox?to=a@example.test"),
                                          ("POST", "/v1/dev/credits")],
                         ids=["dev mailbox", "dev credits"])
def test_a_production_worker_has_no_development_doors(production_app, method, path):
    resp = production_app.request(method, path, json_body={"amount": 5} if method == "POST" else None)

    assert_problem(resp, 404, "not_found")


def test_a_production_worker_refuses_the_log_mail_provider(app_factory):
    app = app_factory(**PRODUCTION_DERIVED, ENVIRONMENT="production", EMAIL_PROVIDER="log",
                      APP_BASE_URL="https://app.example.test")

    resp = app.get("/.well-known/jwks.json")

    assert_problem(resp, 500, "internal_error")


def test_a_fault_is_logged_with_its_operations_and_cause_but_the_client_sees_only_a_request_id(app_factory):
    app = app_factory(**PRODUCTION_DERIVED, ENVIRONMENT="production", EMAIL_PROVIDER="log",
                      APP_BASE_URL="https://app.example.test", E2E_LOG_LEVEL="log")

    resp = app.get("/.well-known/jwks.json")

    body = assert_problem(resp, 500, "internal_error")
    request_id = body["request_id"]
    assert "EMAIL_PROVIDER" not in resp.text and "ctx.config" not in resp.text
    deadline = time.monotonic() + 10
    line = None
    while line is None and time.monotonic() < deadline:
        line = next((json.loads(m.group(0)) for m in re.finditer(r"\{.*\}", app.log_text())
                     if request_id in m.group(0)), None)
        time.sleep(0.1)
    assert line is not None, f"no log line for {request_id}:\n{app.log_text()[-2000:]}"
    assert line["status"] == 500 and line["level"] == "error"
    assert line["fault"]["ops"] == ["ctx.config"], line
    assert "EMAIL_PROVIDER" in line["fault"]["cause"], line

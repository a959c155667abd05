"""A browser app in real headless Chromium (Debian's `chromium`, driven by playwright-core from
tests/browser/cookie_flow.mjs): cookie-mode login, /v1/me, refresh and logout from a page on an
allowed origin, what a page on another site cannot do, and the /docs page.

The app page is served on http://127.0.0.1:<port> and Edgeward on http://127.0.0.1:<other port>:
the same site (ports do not count), different origins, so CORS applies and the SameSite cookies
travel. Chromium treats http://127.0.0.1 as potentially trustworthy, so it accepts and sends
`Secure` and `__Host-`/`__Secure-` cookies there without TLS. The other site is
http://foreign.test:<port>, mapped to 127.0.0.1 inside the browser.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from http.server import BaseHTTPRequestHandler

import pytest

from conftest import BIN_DIR, ROOT
from local_http import LocalHttpServer

DRIVER = ROOT / "tests" / "browser" / "cookie_flow.mjs"
TWO_TABS = ROOT / "tests" / "browser" / "two_tabs.mjs"
CLIENT = ROOT / "clients" / "typescript"
CLIENT_DIST = CLIENT / "dist"
SHORT_ACCESS_TTL_S = 5  # the configuration's minimum
FOREIGN_HOST = "foreign.test"
DRIVER_TIMEOUT_S = 180


def chromium_binary() -> str:
    found = os.environ.get("EDGEWARD_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("Chromium is missing: ./scripts/test installs Debian's chromium package "
                    "(or set EDGEWARD_CHROMIUM to a Chromium binary)", pytrace=False)
    return found


class PageServer(LocalHttpServer):
    """Serves an empty HTML page at any path (the app page and, under another host name, the
    other site's page), and the built TypeScript client under /client/."""

    thread_name = "browser-pages"

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = b"<!doctype html><html><head><title>app</title></head><body></body></html>"
                content_type = "text/html; charset=utf-8"
                if self.path.startswith("/client/"):
                    file = CLIENT_DIST / self.path.removeprefix("/client/")
                    if file.parent != CLIENT_DIST or not file.is_file():
                        self.send_error(404)
                        return
                    body, content_type = file.read_bytes(), "text/javascript; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        return Handler


@pytest.fixture(scope="module")
def pages():
    server = PageServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def flow(app_factory, pages) -> dict:
    """One run of the driver against a server whose only allowed origin is the app page's."""
    app = app_factory(ALLOWED_ORIGINS=pages.url)
    email, password, _login = app.create_verified_user()
    port = pages.url.rsplit(":", 1)[1]
    seen = run_driver(DRIVER, API=app.base_url, PAGE=pages.url, FOREIGN=f"http://{FOREIGN_HOST}:{port}",
                      EMAIL=email, PASSWORD=password)
    seen["email"] = email
    return seen


@pytest.fixture(scope="module")
def two_tabs(app_factory, pages) -> dict:
    """The client built (tsc --strict), then two tabs with expired access tokens, against a
    server whose access tokens live 5 s."""
    build_client()
    app = app_factory(ALLOWED_ORIGINS=pages.url, ACCESS_TOKEN_TTL_SECONDS=str(SHORT_ACCESS_TTL_S))
    email, password, _login = app.create_verified_user()
    seen = run_driver(TWO_TABS, API=app.base_url, PAGE=pages.url, EMAIL=email, PASSWORD=password,
                      TTL_S=str(SHORT_ACCESS_TTL_S))
    seen["email"] = email
    return seen


def build_client() -> None:
    """The TypeScript client compiled (tsc --strict) into clients/typescript/dist, which the page
    server serves under /client/."""
    build = subprocess.run(["npm", "run", "-s", "build"], cwd=CLIENT, capture_output=True, text=True,
                           env={**os.environ, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"},
                           timeout=120, stdin=subprocess.DEVNULL)
    assert build.returncode == 0, f"client build failed:\n{build.stdout[-3000:]}{build.stderr[-3000:]}"


def run_driver(driver, **env) -> dict:
    env = {**os.environ, "EDGEWARD_CHROMIUM": chromium_binary(),
           "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}", **env}
    run = subprocess.run([str(BIN_DIR / "node"), str(driver)], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=DRIVER_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, f"{driver.name} failed ({run.returncode}):\n{run.stderr[-4000:]}"
    return json.loads(run.stdout)


def by_name(cookies: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in cookies}


def test_a_cookie_login_from_an_allowed_origin_sets_http_only_cookies_scripts_cannot_read(flow):
    assert flow["login"]["status"] == 200, flow["login"]
    assert set(flow["login"]["body"]) == {"user", "session_id", "expires_in", "csrf_token"}
    cookies = by_name(flow["cookiesAfterLogin"])
    assert set(cookies) == {"__Host-ew_access", "__Secure-ew_refresh"}
    access, refresh = cookies["__Host-ew_access"], cookies["__Secure-ew_refresh"]
    assert (access["httpOnly"], access["secure"], access["sameSite"], access["path"]) == (True, True, "Lax", "/")
    assert (refresh["httpOnly"], refresh["secure"], refresh["sameSite"], refresh["path"]) == \
        (True, True, "Strict", "/v1/auth")
    assert access["expires"] > 0 and refresh["expires"] > access["expires"]
    # HttpOnly: the page shares the cookie jar of 127.0.0.1 and still sees nothing
    assert "ew_" not in flow["documentCookie"]


def test_the_cookie_session_reads_me_refreshes_and_writes_with_its_csrf_token(flow):
    assert flow["me"]["status"] == 200 and flow["me"]["body"]["email"] == flow["email"], flow["me"]
    assert flow["renameWithoutToken"]["status"] == 403, flow["renameWithoutToken"]
    assert flow["renameWithoutToken"]["body"]["code"] == "csrf_failed"
    assert flow["renameWithToken"]["status"] == 200, flow["renameWithToken"]
    assert flow["renameWithToken"]["body"]["device_name"] == "with token"

    assert flow["refresh"]["status"] == 200, flow["refresh"]
    assert flow["refresh"]["body"]["session_id"] == flow["login"]["body"]["session_id"]
    before, after = by_name(flow["cookiesAfterLogin"]), by_name(flow["cookiesAfterRefresh"])
    for name in ("__Host-ew_access", "__Secure-ew_refresh"):
        assert after[name]["value"] != before[name]["value"], name
    assert flow["meAfterRefresh"]["status"] == 200


def test_another_site_can_neither_post_a_form_nor_pass_the_preflight_nor_read(flow):
    # The form's POST reaches the server without the SameSite cookies: no session, nothing done.
    assert flow["crossSiteForm"]["status"] in (401, 403), flow["crossSiteForm"]
    # A credentialed PATCH with JSON needs a preflight, which the browser refuses (no
    # Access-Control-Allow-Origin for this origin), so the request is never sent.
    assert "error" in flow["foreignPatch"], flow["foreignPatch"]
    assert "error" in flow["foreignRead"], flow["foreignRead"]
    sessions = flow["sessionsAfterAttacks"]
    assert sessions["status"] == 200, sessions
    (mine,) = [s for s in sessions["body"]["sessions"] if s["id"] == flow["login"]["body"]["session_id"]]
    assert mine["device_name"] == "with token"


def test_logout_needs_the_token_then_clears_the_cookies_and_ends_the_session(flow):
    assert flow["logoutWithoutToken"]["status"] == 403, flow["logoutWithoutToken"]
    assert flow["logout"]["status"] == 204, flow["logout"]
    assert flow["cookiesAfterLogout"] == []
    assert flow["meAfterLogout"]["status"] == 401


def test_the_docs_page_renders_every_operation_of_the_openapi_document(flow):
    doc = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    documented = {f"{m} {p}" for p, item in doc["paths"].items() for m in item
                  if m in ("get", "post", "patch", "delete", "put")}

    assert flow["docs"]["status"] == 200
    # (an operation with two tags is listed under both)
    assert set(flow["docs"]["operations"]) == documented
    # nothing refused by the page's CSP, no script error, no failed load
    assert flow["docs"]["problems"] == []


@pytest.mark.parametrize("how", ["webLocks", "broadcastChannel", "webLocksBusyBrowser"])
def test_two_tabs_with_expired_tokens_make_one_refresh_request_and_both_calls_succeed(two_tabs, how):
    """Both tabs call at once; or, in a busy browser (each tab sees the other's storage writes and
    channel messages 500 ms late), the second calls the moment the first tab's refresh is
    answered: the lock then reaches it before the new session does."""
    seen = two_tabs[how]

    assert seen["usesLocks"] is how.startswith("webLocks")
    assert seen["login"] == two_tabs["email"]
    assert seen["results"] == [two_tabs["email"], two_tabs["email"]], seen
    assert seen["refreshes"] == 1, seen

"""Browsers at the HTTP level: CORS from ALLOWED_ORIGINS, security headers, cookie mode for login,
refresh and logout, and the CSRF checks of cookie-authenticated requests.

The Secure cookies are never sent by `requests` over http://, so these tests read `Set-Cookie`
themselves and send the `Cookie` header by hand, each request on a fresh connection without a
cookie jar (nothing leaks between tests sharing the server).
"""
from __future__ import annotations

import requests
from concurrent.futures import ThreadPoolExecutor

from e2e_support import assert_json, assert_problem, client_ip
from realtime_support import Sockets, run

# On the development ALLOWED_ORIGINS (config/development.vars); the servers listen elsewhere.
LISTED = "http://127.0.0.1:8787"
UNLISTED = "https://evil.example"
ACCESS = "__Host-ew_access"
REFRESH = "__Secure-ew_refresh"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def call(app, method: str, path: str, *, body=None, cookies: dict | None = None, headers=None,
         data=None) -> requests.Response:
    merged = {"CF-Connecting-IP": client_ip()}
    if cookies:
        merged["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    merged.update(headers or {})
    return requests.request(method, app.base_url + path, json=body, data=data, headers=merged,
                            timeout=30, allow_redirects=False)


def set_cookies(resp: requests.Response) -> dict[str, dict]:
    """Each `Set-Cookie` by name: {"value": ..., "attrs": {lower-case name: value or True}}."""
    out = {}
    for line in resp.raw.headers.getlist("Set-Cookie"):
        first, *attrs = [part.strip() for part in line.split(";")]
        name, value = first.split("=", 1)
        parsed = {}
        for attr in attrs:
            key, _, val = attr.partition("=")
            parsed[key.lower()] = val if val else True
        out[name] = {"value": value, "attrs": parsed}
    return out


def cookie_login(app, email: str, password: str, **headers) -> tuple[dict, dict]:
    """(body, {cookie name: value}) of a cookie-mode login."""
    resp = call(app, "POST", "/v1/auth/login", body={"email": email, "password": password, "mode": "cookie"},
                headers={"Origin": LISTED, **headers})
    body = assert_json(resp, 200)
    return body, {name: c["value"] for name, c in set_cookies(resp).items()}


def cookie_user(app) -> tuple[str, str, dict, dict]:
    email, password, _bearer = app.verified_user()
    body, jar = cookie_login(app, email, password)
    return email, password, body, jar


def device_name(app, jar: dict, session_id: str) -> str | None:
    sessions = assert_json(call(app, "GET", "/v1/auth/sessions", cookies={ACCESS: jar[ACCESS]}), 200)
    (mine,) = [s for s in sessions["sessions"] if s["id"] == session_id]
    return mine["device_name"]


# ---------------------------------------------------------------- CORS


def test_a_preflight_from_a_listed_origin_names_it_the_paths_methods_and_the_api_headers(app):
    resp = call(app, "OPTIONS", "/v1/me", headers={
        "Origin": LISTED, "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "content-type, if-match, x-csrf-token"})

    assert resp.status_code == 204, resp.text
    h = resp.headers
    assert h["Access-Control-Allow-Origin"] == LISTED
    assert h["Access-Control-Allow-Credentials"] == "true"
    assert [m.strip() for m in h["Access-Control-Allow-Methods"].split(",")] == ["GET", "HEAD", "PATCH", "DELETE"]
    allowed = {x.strip().lower() for x in h["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "if-match", "x-csrf-token"} <= allowed
    assert int(h["Access-Control-Max-Age"]) > 0
    assert "origin" in h["Vary"].lower()
    for name, value in SECURITY_HEADERS.items():
        assert h[name] == value


def test_a_preflight_from_an_unlisted_or_opaque_origin_gets_no_allow_origin(app):
    for origin in (UNLISTED, "null", "http://127.0.0.1:8788"):
        resp = call(app, "OPTIONS", "/v1/auth/login", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})

        assert resp.status_code == 204, resp.text
        assert not any(k.lower().startswith("access-control-") for k in resp.headers), (origin, resp.headers)


def test_a_preflight_of_an_unknown_path_is_not_found_and_plain_options_is_not_allowed(app):
    resp = call(app, "OPTIONS", "/v1/nope", headers={"Origin": LISTED, "Access-Control-Request-Method": "GET"})
    assert_problem(resp, 404, "not_found")

    resp = call(app, "OPTIONS", "/v1/auth/login")
    assert_problem(resp, 405, "method_not_allowed")


def test_actual_responses_to_a_listed_origin_carry_the_cors_headers_errors_included(app):
    for method, path in (("GET", "/health"), ("GET", "/v1/me"), ("GET", "/v1/nope")):
        resp = call(app, method, path, headers={"Origin": LISTED})

        h = resp.headers
        assert h["Access-Control-Allow-Origin"] == LISTED, (path, resp.status_code)
        assert h["Access-Control-Allow-Credentials"] == "true"
        exposed = {x.strip().lower() for x in h["Access-Control-Expose-Headers"].split(",")}
        assert {"x-request-id", "retry-after", "etag"} <= exposed
        assert "origin" in h["Vary"].lower()


def test_an_unlisted_origin_never_gets_an_allow_origin_header(app):
    for headers in ({"Origin": UNLISTED}, {"Origin": "null"}, {}):
        resp = call(app, "GET", "/health", headers=headers)

        assert resp.status_code == 200
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "Access-Control-Allow-Credentials" not in resp.headers


# ---------------------------------------------------------------- security headers


def test_every_response_carries_the_security_headers(app):
    _email, _password, login = app.verified_user()
    responses = [
        call(app, "GET", "/health"),
        call(app, "GET", "/openapi.json"),
        call(app, "GET", "/v1/me", headers={"Authorization": f"Bearer {login['access_token']}"}),
        call(app, "GET", "/v1/me"),
        call(app, "PUT", "/v1/me"),
        call(app, "GET", "/v1/nope"),
        call(app, "POST", "/v1/auth/login", data=b"x", headers={"Content-Type": "text/plain"}),
    ]
    for resp in responses:
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers.get(name) == value, (resp.request.method, resp.url, name)
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        # Development: no HSTS, or the browser would refuse plain HTTP on localhost for years.
        assert "Strict-Transport-Security" not in resp.headers


# ---------------------------------------------------------------- cookie mode


def test_a_cookie_login_sets_two_http_only_cookies_and_answers_without_tokens(app):
    email, password, _bearer = app.verified_user()
    resp = call(app, "POST", "/v1/auth/login", body={"email": email, "password": password, "mode": "cookie"},
                headers={"Origin": LISTED})

    body = assert_json(resp, 200)
    assert set(body) == {"user", "session_id", "expires_in", "csrf_token"}
    assert body["user"]["email"] == email
    assert body["expires_in"] == app.access_ttl
    cookies = set_cookies(resp)
    assert set(cookies) == {ACCESS, REFRESH}
    access, refresh = cookies[ACCESS]["attrs"], cookies[REFRESH]["attrs"]
    assert access["path"] == "/" and "domain" not in access
    assert access["secure"] is True and access["httponly"] is True and access["samesite"] == "Lax"
    assert int(access["max-age"]) == app.access_ttl
    assert refresh["path"] == "/v1/auth"
    assert refresh["secure"] is True and refresh["httponly"] is True and refresh["samesite"] == "Strict"
    assert app.access_ttl < int(refresh["max-age"]) <= int(app.vars["REFRESH_TOKEN_TTL_SECONDS"])
    # the cookies hold the very tokens bearer mode would have put in the body
    me = assert_json(call(app, "GET", "/v1/me", headers={"Authorization": f"Bearer {cookies[ACCESS]['value']}"}), 200)
    assert me["email"] == email


def test_bearer_mode_is_unchanged_and_an_unknown_mode_is_refused(app):
    email, password, _bearer = app.verified_user()
    resp = call(app, "POST", "/v1/auth/login", body={"email": email, "password": password, "mode": "bearer"})
    body = assert_json(resp, 200)
    assert {"access_token", "refresh_token"} <= set(body) and "csrf_token" not in body
    assert set_cookies(resp) == {}

    resp = call(app, "POST", "/v1/auth/login", body={"email": email, "password": password, "mode": "session"})
    assert_problem(resp, 400, "invalid_request")


def test_the_access_cookie_authenticates_safe_requests(app):
    email, _password, _body, jar = cookie_user(app)

    resp = call(app, "GET", "/v1/me", cookies={ACCESS: jar[ACCESS]}, headers={"Origin": LISTED})

    me = assert_json(resp, 200)
    assert me["email"] == email
    assert resp.headers["Access-Control-Allow-Origin"] == LISTED


def test_a_bearer_header_wins_over_the_cookie(app):
    _email_a, _password_a, bearer_a = app.verified_user()
    _email_b, _password_b, _body_b, jar_b = cookie_user(app)

    resp = call(app, "GET", "/v1/me", cookies={ACCESS: jar_b[ACCESS]},
                headers={"Authorization": f"Bearer {bearer_a['access_token']}"})
    me = assert_json(resp, 200)
    assert me["id"] == bearer_a["user"]["id"]

    # a bearer header that is not valid is not rescued by a valid cookie
    resp = call(app, "GET", "/v1/me", cookies={ACCESS: jar_b[ACCESS]}, headers={"Authorization": "Bearer nope"})
    assert_problem(resp, 401, "invalid_token")


def test_a_cookie_refresh_rotates_both_cookies_and_mints_a_new_csrf_token(app):
    _email, _password, body, jar = cookie_user(app)

    resp = call(app, "POST", "/v1/auth/refresh", body={}, cookies={REFRESH: jar[REFRESH]},
                headers={"Origin": LISTED, "Sec-Fetch-Site": "same-site"})

    fresh = assert_json(resp, 200)
    assert set(fresh) == {"user", "session_id", "expires_in", "csrf_token"}
    assert fresh["session_id"] == body["session_id"]
    assert fresh["csrf_token"] != body["csrf_token"]
    cookies = set_cookies(resp)
    assert set(cookies) == {ACCESS, REFRESH}
    assert cookies[REFRESH]["value"] != jar[REFRESH]
    assert cookies[REFRESH]["attrs"]["path"] == "/v1/auth"
    new_jar = {name: c["value"] for name, c in cookies.items()}
    # the new pair works: the new CSRF token with the new access cookie
    resp = call(app, "PATCH", f"/v1/auth/sessions/{body['session_id']}", body={"device_name": "after refresh"},
                cookies={ACCESS: new_jar[ACCESS]}, headers={"X-CSRF-Token": fresh["csrf_token"]})
    assert assert_json(resp, 200)["device_name"] == "after refresh"


def test_a_cross_site_cookie_refresh_is_refused_and_rotates_nothing(app):
    _email, _password, _body, jar = cookie_user(app)

    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": UNLISTED}):
        resp = call(app, "POST", "/v1/auth/refresh", body={}, cookies={REFRESH: jar[REFRESH]}, headers=headers)
        assert_problem(resp, 403, "csrf_failed")
        assert set_cookies(resp) == {}

    # the refresh token was never rotated: it still works once, as a first use
    resp = call(app, "POST", "/v1/auth/refresh", body={}, cookies={REFRESH: jar[REFRESH]})
    assert_json(resp, 200)


# ---------------------------------------------------------------- CSRF


def test_a_cookie_request_that_changes_something_needs_its_sessions_csrf_token(app):
    _email, _password, body, jar = cookie_user(app)
    _email_o, _password_o, other_body, _other_jar = cookie_user(app)
    path = f"/v1/auth/sessions/{body['session_id']}"
    cookies = {ACCESS: jar[ACCESS]}
    before = device_name(app, jar, body["session_id"])

    refusals = {
        "no token": {"Origin": LISTED},
        "another session's token": {"Origin": LISTED, "X-CSRF-Token": other_body["csrf_token"]},
        "a forged token": {"Origin": LISTED, "X-CSRF-Token": body["csrf_token"][:-2] + "AA"},
        "cross-site, good token": {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": body["csrf_token"]},
        "unlisted origin, good token": {"Origin": UNLISTED, "X-CSRF-Token": body["csrf_token"]},
        "opaque origin, good token": {"Origin": "null", "X-CSRF-Token": body["csrf_token"]},
    }
    for why, headers in refusals.items():
        resp = call(app, "PATCH", path, body={"device_name": why}, cookies=cookies, headers=headers)
        assert_problem(resp, 403, "csrf_failed")
        assert device_name(app, jar, body["session_id"]) == before, why

    resp = call(app, "PATCH", path, body={"device_name": "renamed"}, cookies=cookies,
                headers={"Origin": LISTED, "Sec-Fetch-Site": "same-site", "X-CSRF-Token": body["csrf_token"]})
    assert assert_json(resp, 200)["device_name"] == "renamed"


def test_form_and_text_bodies_stay_unsupported_even_with_a_good_token(app):
    _email, _password, body, jar = cookie_user(app)
    path = f"/v1/auth/sessions/{body['session_id']}"
    before = device_name(app, jar, body["session_id"])

    for content_type, data in (("application/x-www-form-urlencoded", b"device_name=form"),
                               ("text/plain", b'{"device_name":"text"}'),
                               ("multipart/form-data; boundary=x", b"--x--")):
        resp = call(app, "PATCH", path, data=data, cookies={ACCESS: jar[ACCESS]},
                    headers={"Content-Type": content_type, "X-CSRF-Token": body["csrf_token"]})
        assert_problem(resp, 415, "unsupported_media_type")
    assert device_name(app, jar, body["session_id"]) == before


def test_bearer_requests_need_no_csrf_token(app):
    _email, _password, login = app.verified_user()

    resp = call(app, "PATCH", f"/v1/auth/sessions/{login['session_id']}", body={"device_name": "bearer"},
                headers={"Authorization": f"Bearer {login['access_token']}", "Sec-Fetch-Site": "cross-site"})

    assert assert_json(resp, 200)["device_name"] == "bearer"


def test_a_cookie_logout_needs_the_token_then_clears_both_cookies_and_ends_the_session(app):
    _email, _password, body, jar = cookie_user(app)

    resp = call(app, "POST", "/v1/auth/logout", cookies=jar, headers={"Origin": LISTED})
    assert_problem(resp, 403, "csrf_failed")
    assert_json(call(app, "GET", "/v1/me", cookies={ACCESS: jar[ACCESS]}), 200)

    resp = call(app, "POST", "/v1/auth/logout", cookies=jar,
                headers={"Origin": LISTED, "X-CSRF-Token": body["csrf_token"]})
    assert resp.status_code == 204, resp.text
    cleared = set_cookies(resp)
    assert set(cleared) == {ACCESS, REFRESH}
    for name, cookie in cleared.items():
        assert cookie["value"] == "" and cookie["attrs"]["max-age"] == "0", name
    assert cleared[REFRESH]["attrs"]["path"] == "/v1/auth" and cleared[ACCESS]["attrs"]["path"] == "/"

    assert_problem(call(app, "GET", "/v1/me", cookies={ACCESS: jar[ACCESS]}), 401, "session_revoked")
    resp = call(app, "POST", "/v1/auth/refresh", body={}, cookies={REFRESH: jar[REFRESH]})
    assert resp.status_code == 401, resp.text


def test_a_cookie_session_mints_websocket_tickets_with_its_csrf_token(app):
    _email, _password, body, jar = cookie_user(app)

    resp = call(app, "POST", "/v1/realtime/tickets", cookies={ACCESS: jar[ACCESS]}, headers={"Origin": LISTED})
    assert_problem(resp, 403, "csrf_failed")

    resp = call(app, "POST", "/v1/realtime/tickets", cookies={ACCESS: jar[ACCESS]},
                headers={"Origin": LISTED, "X-CSRF-Token": body["csrf_token"]})
    ticket = assert_json(resp, 201)["ticket"]

    async def scenario():
        async with Sockets(app) as sockets:
            socket = await sockets.open(app.ws_url("/v1/realtime/me", ticket), "cookie session",
                                        origin=LISTED)
            await socket.ws.close()

    run(scenario())


# ---------------------------------------------------------------- idempotent login


def session_ids(app, access: str) -> set[str]:
    return {s["id"] for s in assert_json(app.sessions(access), 200)["sessions"]}


def keyed_login(app, email: str, password: str, key: str, **extra) -> requests.Response:
    return call(app, "POST", "/v1/auth/login", body={"email": email, "password": password, **extra},
                headers={"Idempotency-Key": key})


def test_a_login_retried_with_its_idempotency_key_gets_the_same_session_and_opens_no_other(app):
    email, password, first_login = app.verified_user()
    before = session_ids(app, first_login["access_token"])

    first = keyed_login(app, email, password, "login-retry-1", device_name="phone")
    retry = keyed_login(app, email, password, "login-retry-1", device_name="phone")

    a, b = assert_json(first, 200), assert_json(retry, 200)
    assert b["session_id"] == a["session_id"]
    assert (b["access_token"], b["refresh_token"]) == (a["access_token"], a["refresh_token"])
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert session_ids(app, first_login["access_token"]) == before | {a["session_id"]}
    # the replayed pair is the live one
    assert_json(app.me(b["access_token"]), 200)
    assert_json(app.refresh(b["refresh_token"]), 200)


def test_a_login_key_reused_with_another_body_is_refused_and_opens_nothing(app):
    email, password, first_login = app.verified_user()
    opened = assert_json(keyed_login(app, email, password, "login-retry-2", device_name="phone"), 200)
    before = session_ids(app, first_login["access_token"])

    for extra in ({"device_name": "tablet"}, {}, {"device_name": "phone", "mode": "cookie"}):
        resp = keyed_login(app, email, password, "login-retry-2", **extra)
        assert_problem(resp, 422, "idempotency_key_mismatch")
    assert session_ids(app, first_login["access_token"]) == before
    assert opened["session_id"] in before


def test_a_keyed_retry_still_needs_the_password_and_other_keys_open_other_sessions(app):
    email, password, _first_login = app.verified_user()
    a = assert_json(keyed_login(app, email, password, "login-retry-3"), 200)

    assert_problem(keyed_login(app, email, password + "x", "login-retry-3"), 401, "invalid_credentials")
    b = assert_json(keyed_login(app, email, password, "login-retry-4"), 200)
    assert b["session_id"] != a["session_id"]
    assert_problem(keyed_login(app, email, password, "k" * 256), 400, "invalid_request")


def test_a_login_key_whose_session_ended_opens_a_new_one(app):
    email, password, _first_login = app.verified_user()
    a = assert_json(keyed_login(app, email, password, "login-retry-5"), 200)
    assert app.logout(a["access_token"]).status_code == 204

    b = assert_json(keyed_login(app, email, password, "login-retry-5"), 200)

    assert b["session_id"] != a["session_id"]
    assert_json(app.me(b["access_token"]), 200)


def test_a_cookie_login_retried_with_its_key_sets_the_same_session_again(app):
    email, password, _first_login = app.verified_user()
    headers = {"Idempotency-Key": "login-retry-6"}
    first, jar_a = cookie_login(app, email, password, **headers)
    retry, jar_b = cookie_login(app, email, password, **headers)

    assert retry["session_id"] == first["session_id"]
    assert jar_b == jar_a
    # each answer's CSRF token belongs to that one session
    resp = call(app, "PATCH", f"/v1/auth/sessions/{first['session_id']}", body={"device_name": "kept"},
                cookies={ACCESS: jar_b[ACCESS]}, headers={"X-CSRF-Token": first["csrf_token"]})
    assert_json(resp, 200)


# ---------------------------------------------------------------- the /docs page


def test_the_docs_page_is_html_with_a_strict_csp_and_its_renderer_is_served_locally(app):
    resp = call(app, "GET", "/docs")

    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "/docs-assets/swagger-ui-bundle.js" in resp.text
    # everything it loads is its own: no other host is named
    assert "http:" not in resp.text and "https:" not in resp.text
    csp = resp.headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, name
    for asset, media in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css"),
                         ("docs.js", "javascript")):
        resp = call(app, "GET", f"/docs-assets/{asset}")
        assert resp.status_code == 200, asset
        assert media in resp.headers["Content-Type"], (asset, resp.headers["Content-Type"])
        assert resp.headers.get("X-Content-Type-Options") == "nosniff"


def test_reactivation_takes_the_cookie_mode_like_login(app):
    email, password, login = app.verified_user()
    assert_json(app.deactivate(login["access_token"], password), 200)

    resp = call(app, "POST", "/v1/auth/reactivate", body={"email": email, "password": password, "mode": "cookie"},
                headers={"Origin": LISTED})

    body = assert_json(resp, 200)
    assert set(body) == {"user", "session_id", "expires_in", "csrf_token"}
    cookies = set_cookies(resp)
    assert set(cookies) == {ACCESS, REFRESH}
    me = assert_json(call(app, "GET", "/v1/me", cookies={ACCESS: cookies[ACCESS]["value"]}), 200)
    assert me["email"] == email and me["status"] == "active"


def test_identical_keyed_logins_in_flight_together_open_one_session(app):
    email, password, first_login = app.verified_user()
    before = session_ids(app, first_login["access_token"])

    # Four at once: below the lockout threshold (attempts are counted before the password).
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: keyed_login(app, email, password, "login-race-1"), range(4)))

    opened = {assert_json(r, 200)["session_id"] for r in answers if r.status_code == 200}
    for r in answers:
        if r.status_code == 409:
            assert_problem(r, 409, "idempotency_key_in_use")
        elif r.status_code != 200:  # the password-hashing gate may shed a burst
            assert_problem(r, 503, "overloaded")
    # a retry after the race gets the one session the key opened
    again = assert_json(keyed_login(app, email, password, "login-race-1"), 200)["session_id"]
    assert opened <= {again}, [r.status_code for r in answers]
    assert session_ids(app, first_login["access_token"]) == before | {again}

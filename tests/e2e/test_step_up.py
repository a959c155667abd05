"""Step-up for sensitive actions (`reauth_app`: REAUTH_WINDOW_SECONDS=3).

Password and e-mail change, account deletion and adding or removing a second factor need the
session's last authentication to be recent and, when the account has a second factor, to have
included it; else 401 `reauthentication_required` (RFC 9470's `insufficient_user_authentication`
challenge). `POST /v1/auth/reauthenticate` with the password (or, with a second factor, a code)
makes it recent again, for that session only.
"""
import time

import pyotp

from e2e_support import assert_json, assert_problem, assert_status, decode_unverified, new_password

WINDOW_S = 3
MARGIN_S = 1.5  # whole-second timestamps on the server


def _reauthenticate(app, access: str, **proof):
    return app.post("/v1/auth/reauthenticate", proof, access=access)


def _assert_step_up(resp) -> None:
    assert_problem(resp, 401, "reauthentication_required")
    assert 'error="insufficient_user_authentication"' in resp.headers["WWW-Authenticate"]


def test_an_old_session_is_refused_sensitive_actions_until_it_reauthenticates(reauth_app):
    app = reauth_app
    email, password, login = app.create_verified_user()
    access = login["access_token"]
    other = assert_json(app.login(email, password), 200)["access_token"]
    time.sleep(WINDOW_S + MARGIN_S)

    new = new_password()
    _assert_step_up(app.change_password(access, password, new))
    _assert_step_up(app.post("/v1/me/email", {"new_email": f"x{email}", "password": password}, access=access))
    _assert_step_up(app.delete_me(access, password))
    _assert_step_up(app.post("/v1/me/mfa/totp", {}, access=access))
    assert assert_json(app.me(access), 200)["email"] == email, "ordinary requests are not affected"

    assert_problem(_reauthenticate(app, access, password=new_password()), 401, "invalid_credentials")
    assert_problem(_reauthenticate(app, access, code="123456"), 400, "invalid_request")
    assert_problem(_reauthenticate(app, access), 400, "invalid_request")
    assert_status(_reauthenticate(app, access, password=password), 204)
    # Only the session that reauthenticated.
    _assert_step_up(app.post("/v1/me/mfa/totp", {}, access=other))
    assert_status(app.change_password(access, password, new), 204)
    types = [e["type"] for e in app.audit_events(access)]
    assert "reauthenticated" in types


def test_an_account_with_a_second_factor_needs_it_for_step_up(reauth_app):
    app = reauth_app
    email, password, login = app.create_verified_user()
    access = login["access_token"]
    started = assert_json(app.post("/v1/me/mfa/totp", {}, access=access), 201)
    totp = pyotp.TOTP(started["secret"])
    codes = assert_json(app.post("/v1/me/mfa/totp/confirm", {"code": totp.now()}, access=access),
                        200)["recovery_codes"]

    # Fresh, but signed in with the password alone: not enough once the account has a factor.
    _assert_step_up(app.request("DELETE", "/v1/me/mfa/totp", json_body={"password": password}, access=access))
    assert_problem(_reauthenticate(app, access, password=password), 400, "invalid_request")
    assert_status(_reauthenticate(app, access, code=codes[0]), 204)
    refreshed = assert_json(app.refresh(login["refresh_token"]), 200)
    assert decode_unverified(refreshed["access_token"])[1]["amr"] == ["pwd", "mfa"]

    # A session signed in with the second factor is fresh for the window, then not.
    challenge = assert_json(app.login(email, password), 200)
    mfa_session = assert_json(app.post("/v1/auth/mfa/verify", {"mfa_token": challenge["mfa_token"],
                                                               "code": codes[1]}), 200)["access_token"]
    time.sleep(WINDOW_S + MARGIN_S)
    _assert_step_up(app.request("DELETE", "/v1/me/mfa/totp", json_body={"password": password},
                                access=mfa_session))
    assert_problem(_reauthenticate(app, mfa_session, code="000000" if totp.now() != "000000" else "111111"),
                   401, "invalid_mfa_code")
    assert_status(_reauthenticate(app, mfa_session, code=codes[2]), 204)
    assert_status(app.request("DELETE", "/v1/me/mfa/totp", json_body={"password": password}, access=mfa_session),
                  204)
